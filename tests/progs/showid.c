/*
 * showid.c: prints "ruid euid". Installed setuid root by the tests, to show
 * that a setuid binary inside the jail gives no privilege.
 */
#include <stdio.h>
#include <unistd.h>

int
main(void)
{
	printf("%d %d\n", (int)getuid(), (int)geteuid());
	return 0;
}
