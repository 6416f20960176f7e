/*
 * peer: tells the player who chald says they are, then echoes one line:
 * "PEER <TCPREMOTEIP> <TCPREMOTEPORT>\n", then "GOT <line>" for the first
 * line read (up to 4095 bytes), and exits 0. Used to see that the gate
 * hands on the real client's address and every byte past its own.
 */
#include <stdio.h>
#include <stdlib.h>

int
main(void)
{
	char line[4096];
	const char *ip = getenv("TCPREMOTEIP"), *port = getenv("TCPREMOTEPORT");

	setvbuf(stdout, NULL, _IONBF, 0);
	printf("PEER %s %s\n", ip ? ip : "-", port ? port : "-");
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 1;
	printf("GOT %s", line);
	return 0;
}
