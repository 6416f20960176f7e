/*
 * forkbomb.c: hostile. Says "ready", then every process forks forever.
 * Only the session's pids limit and its timeout may stop it.
 */
#include <stdio.h>
#include <unistd.h>

int
main(void)
{
	if (write(1, "ready\n", 6) != 6)
		return 1;
	for (;;)
		if (fork() == -1)
			usleep(1000);
}
