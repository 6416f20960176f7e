/*
 * orphans: a session that leaves orphans to whoever reaps for it. Makes
 * argv[1] (default 4) double-forked processes that leave the session's
 * process group (setsid) and exit argv[2] milliseconds later (default
 * 1000), so they are reparented: to the jail's init, or, unjailed, to
 * chald's nearest subreaper or pid 1. They let go of the player's socket,
 * as daemons do. Prints "orphans N\n" once all are made, then exits 0.
 */
#include <sys/wait.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4;
	long ms = argc > 2 ? atol(argv[2]) : 1000;

	for (int i = 0; i < n; i++) {
		int p[2];
		char c;
		pid_t pid;

		/* The orphan says when it has left the group: a session's end
		 * kills its group, and it must not die with it. */
		if (pipe(p) == -1 || (pid = fork()) == -1)
			return 1;
		if (pid == 0) {
			if (fork() == 0) {
				struct timespec ts = { ms / 1000,
				    (ms % 1000) * 1000000L };

				/* Like a daemon: its own session, and not
				 * the player's socket, so the player sees
				 * the end of the session at once. */
				int null = open("/dev/null", O_RDWR);

				setsid();
				for (int fd = 0; fd < 3; fd++)
					dup2(null, fd);
				if (write(p[1], "x", 1) != 1)
					_exit(1);
				close(p[0]);
				close(p[1]);
				while (nanosleep(&ts, &ts) == -1)
					;
				_exit(0);
			}
			_exit(0);
		}
		close(p[1]);
		waitpid(pid, NULL, 0);
		if (read(p[0], &c, 1) != 1)
			return 1;
		close(p[0]);
	}
	printf("orphans %d\n", n);
	return 0;
}
