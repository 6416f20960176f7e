/* base_vfork: baseline server for the chald benchmark.
 * Usage: base_vfork PORT CHALLENGE
 * Same as base_fork, but the child is created with vfork(): it shares the
 * parent's memory until execve(), so no page tables are copied. All signals
 * are blocked around vfork() so no handler runs in the borrowed memory; the
 * child restores the mask and dispositions only right before execve(). Children are reaped from
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
	sigset_t all, old;
	sigfillset(&all);

	for (;;) { /* runs until a signal ends the process */
		int cfd = accept_next(lfd);
		if (cfd < 0)
			return 1;
		sigprocmask(SIG_SETMASK, &all, &old);
		pid_t pid = vfork();
		if (pid == 0) {
			/* Only this process's dispositions change (no CLONE_SIGHAND). */
			signal(SIGPIPE, SIG_DFL);
			signal(SIGCHLD, SIG_DFL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			if (dup2(cfd, 0) < 0 || dup2(cfd, 1) < 0)
				_exit(127);
			execve(chal, cargv, environ);
			_exit(127);
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (pid < 0)
			perror("vfork");
		close(cfd);
	}
}
