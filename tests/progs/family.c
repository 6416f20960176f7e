/*
 * family: a challenge that leaves a child behind in its own process group.
 * Forks a child that sleeps forever (without changing its group), prints
 * "child PID\n" and "ready\n", then sleeps forever itself. Tests check that
 * when chald ends the session (timeout, shutdown) the child dies too.
 */
#include <stdio.h>
#include <unistd.h>

int
main(void)
{
	pid_t pid = fork();

	if (pid == -1)
		return 1;
	if (pid == 0) {
		for (;;)
			pause();
	}
	printf("child %d\nready\n", (int)pid);
	if (fflush(stdout) != 0)
		return 1;
	for (;;)
		pause();
}
