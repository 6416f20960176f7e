/*
 * stderrflood: floods fd 2 with one-byte lines ("x\n"), the cheapest way to
 * make a daemon that logs a session's stderr ("stderr = log") do the most
 * work per byte. Stops when a write fails: exits 42 on EPIPE (the reader
 * closed the pipe) after printing "cut N" (bytes written) on stdout, 43 on
 * any other error. Bounded: gives up after LIMIT bytes or 20 s and exits 0,
 * which means nobody ever cut it. With -k it keeps writing for 20 s
 * whatever the writes return, as a hostile challenge would (bench/stderr.sh
 * measures what that costs the daemon).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LIMIT	(512L << 20)

int
main(int argc, char *argv[])
{
	char buf[4096];
	long total = 0, cut = -1;
	time_t end = time(NULL) + 20;
	int keep = argc > 1 && strcmp(argv[1], "-k") == 0;

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(buf); i += 2)
		memcpy(buf + i, "x\n", 2);
	while (total < LIMIT && time(NULL) < end) {
		ssize_t n = write(2, buf, sizeof(buf));

		if (n < 0 && keep) {
			if (cut < 0)
				cut = total;
			continue;
		}
		if (n < 0) {
			printf("cut %ld\n", total);
			fflush(stdout);
			return errno == EPIPE ? 42 : 43;
		}
		total += n;
	}
	if (cut >= 0) {
		printf("cut %ld\n", cut);
		return 42;
	}
	printf("uncut %ld\n", total);
	return 0;
}
