/*
 * cpuburn.c: hostile. Says "ready", then spins on the CPU forever in as
 * many processes as its first argument says (default 1).
 */
#include <stdlib.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	volatile unsigned long x = 0;

	for (int i = 1; i < n; i++)
		if (fork() == 0)
			break;
	if (write(1, "ready\n", 6) != 6)
		return 1;
	for (;;)
		x++;
}
