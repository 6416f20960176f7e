/*
 * chal.c: "ret2win", a small pwnable in the shape pwn.red/jail challenges
 * have. It reads a name into a 32-byte buffer, up to 256 bytes: overwrite
 * the return address with win(), which prints the flag. Built without a
 * stack protector and without PIE (Makefile), so the exploit needs no leak.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void win(void);

/* Out of the compiler's sight, so that it does not warn about the bug. */
static volatile size_t name_max = 256;

void
win(void)
{
	char flag[128];
	ssize_t n;
	int fd;

	fd = open("flag.txt", O_RDONLY);
	if (fd == -1) {
		write(1, "no flag.txt\n", 12);
		_exit(1);
	}
	n = read(fd, flag, sizeof(flag));
	if (n > 0)
		write(1, flag, (size_t)n);
	_exit(0);
}

static void
vuln(void)
{
	char name[32];
	ssize_t n;

	write(1, "What is your name? ", 19);
	n = read(0, name, name_max);
	if (n <= 0)
		_exit(0);
	write(1, "Hello!\n", 7);
}

int
main(void)
{
	vuln();
	return 0;
}
