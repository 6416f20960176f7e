/*
 * echo: the simplest challenge. Greets the player with "hello\n", reads one
 * line (up to 4095 bytes) from stdin, writes it back unchanged and exits 0.
 * Exits 1 if the player leaves before sending a full line.
 */
#include <stdio.h>
#include <string.h>

int
main(void)
{
	char line[4096];

	setvbuf(stdout, NULL, _IONBF, 0);
	fputs("hello\n", stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 1;
	fputs(line, stdout);
	return 0;
}
