/*
 * showid.c: prints "ruid euid". Installed setuid root by the tests, to show
 * that a setuid binary inside the jail gives no privilege.
 */
#include <stdio.h>
#include <unistd.h>

int
main(void)
{
	printf("%u %u\n", (unsigned)getuid(), (unsigned)geteuid());
	return 0;
}
