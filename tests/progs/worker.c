/*
 * worker: a session with work to finish. Prints "ready\n", reads one line,
 * works for argv[1] milliseconds (default 1500), then prints "done LINE"
 * and exits 0. SIGTERM keeps its default action, so a session that prints
 * "done" was not disturbed while it worked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
main(int argc, char **argv)
{
	char line[256];
	long ms = argc > 1 ? atol(argv[1]) : 1500;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	setvbuf(stdout, NULL, _IONBF, 0);
	fputs("ready\n", stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 1;
	line[strcspn(line, "\n")] = '\0';
	while (nanosleep(&ts, &ts) == -1)
		;
	printf("done %s\n", line);
	return 0;
}
