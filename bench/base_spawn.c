/* base_spawn: baseline server for the chald benchmark.
 * Usage: base_spawn PORT CHALLENGE
 * Same as base_fork, but each child is started with posix_spawn(): file
 * actions dup2 the socket onto stdin/stdout (the accepted fd itself is
 * close-on-exec), attributes reset the signal mask and SIGPIPE/SIGCHLD.
 * glibc implements this with clone(CLONE_VM|CLONE_VFORK). Children are reaped from
 * a SIGCHLD handler (waitpid(-1, WNOHANG) loop), so no zombies pile up.
 * Runs until killed (SIGTERM/SIGINT). */
#define _GNU_SOURCE
#include "baseline.h"
#include <spawn.h>

extern char **environ;

int main(int argc, char **argv)
{
	int lfd = baseline_start(argc, argv);
	char *chal = argv[2];
	char *cargv[] = { chal, NULL };

	posix_spawnattr_t attr;
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGCHLD);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF);

	for (;;) { /* runs until a signal ends the process */
		int cfd = accept_next(lfd);
		if (cfd < 0)
			return 1;
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, cfd, 0);
		posix_spawn_file_actions_adddup2(&fa, cfd, 1);
		pid_t pid;
		int err = posix_spawn(&pid, chal, &fa, &attr, cargv, environ);
		posix_spawn_file_actions_destroy(&fa);
		if (err != 0)
			fprintf(stderr, "posix_spawn: %s\n", strerror(err));
		close(cfd);
	}
}
