/* base_fork: baseline server for the chald benchmark.
 * Usage: base_fork PORT CHALLENGE
 * Listens on 127.0.0.1:PORT (0 = ephemeral), prints "listening port=N" on
 * stderr, then for every accepted connection fork()s a child that puts the
 * socket on stdin/stdout and execve()s CHALLENGE. Children are reaped from
 * a SIGCHLD handler (waitpid(-1, WNOHANG) loop), so no zombies pile up.
 * Runs until killed (SIGTERM/SIGINT). */
#define _GNU_SOURCE
#include "baseline.h"

extern char **environ;

int main(int argc, char **argv)
{
	int lfd = baseline_start(argc, argv);
	char *chal = argv[2];
	char *cargv[] = { chal, NULL };

	for (;;) { /* runs until a signal ends the process */
		int cfd = accept_next(lfd);
		if (cfd < 0)
			return 1;
		pid_t pid = fork();
		if (pid == 0) {
			signal(SIGPIPE, SIG_DFL);
			if (dup2(cfd, 0) < 0 || dup2(cfd, 1) < 0)
				_exit(127);
			execve(chal, cargv, environ);
			_exit(127);
		}
		if (pid < 0)
			perror("fork");
		close(cfd);
	}
}
