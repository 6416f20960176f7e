/*
 * escapee.c: hostile. Double-forks, the grandchild calls setsid(), ignores
 * every signal it can, closes the socket and sleeps forever; it reports its
 * pid first. The first process then idles until it is killed.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int
main(void)
{
	char line[64];
	int n;
	pid_t pid = fork();

	if (pid == 0) {
		if (fork() != 0)
			_exit(0);
		setsid();
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_IGN);
		n = snprintf(line, sizeof(line), "escaped %d\n", (int)getpid());
		if (write(1, line, n) < 0)
			_exit(1);
		close(0);
		close(1);
		close(2);
		for (;;)
			pause();
	}
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_IGN);
	for (;;)
		pause();
}
