/*
 * vuln32.c: a 32-bit pwnable, the kind many CTFs serve: built with
 * gcc -m32, dynamically linked against the i386 libc, no PIE, no stack
 * protector. vuln() reads 512 bytes into a 64-byte buffer, so a player who
 * overwrites its return address with win() gets the flag from flag.txt in
 * the working directory. win() makes only plain system calls, since the
 * stack it runs on is the player's.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

void	win(void);

void
win(void)
{
	char flag[128];
	int fd = open("flag.txt", O_RDONLY);
	ssize_t n = fd == -1 ? -1 : read(fd, flag, sizeof(flag));

	if (n > 0 && write(1, flag, (size_t)n) != n)
		_exit(1);
	_exit(n > 0 ? 0 : 1);
}

static void __attribute__((noinline))
vuln(void)
{
	char buf[64];

	puts("name?");
	if (read(0, buf, 512) <= 0)
		return;
	puts("bye");
}

int
main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	vuln();
	return 0;
}
