/*
 * logjunk: a challenge that writes hostile bytes to its stderr, for the
 * log injection tests (run with stderr = log). Each argument is one batch
 * of segments joined by '+': hex digits, or "HEX*N" for those bytes N
 * times (so "01*4000+0a" is 4000 bytes of 0x01 and a newline). Each batch goes to fd 2 in
 * a single write(), so that the daemon reads it whole (a write up to
 * PIPE_BUF is atomic); then "N\n" goes to stdout, and before the next batch
 * a line is read from stdin, so the test can wait until the daemon has
 * logged it. Exits 0 after the last batch, 2 on a bad argument.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Appends one segment, "HEX" or "HEX*N", to buf; -1 if it is bad. */
static int
segment(const char *p, size_t n, unsigned char *buf, size_t *len,
    size_t cap)
{
	const char *star = memchr(p, '*', n);
	size_t hn = star ? (size_t)(star - p) : n;
	long reps = star ? strtol(star + 1, NULL, 10) : 1;
	unsigned char one[256];

	if (hn == 0 || hn % 2 || hn / 2 > sizeof(one) || reps < 1)
		return -1;
	for (size_t k = 0; k < hn / 2; k++) {
		int hi = hex(p[2 * k]), lo = hex(p[2 * k + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		one[k] = (unsigned char)(hi << 4 | lo);
	}
	for (long r = 0; r < reps; r++) {
		if (*len + hn / 2 > cap)
			return -1;
		memcpy(buf + *len, one, hn / 2);
		*len += hn / 2;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	static unsigned char buf[65536];
	char line[64];

	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 1; i < argc; i++) {
		size_t len = 0;

		for (const char *p = argv[i]; *p != '\0'; ) {
			size_t n = strcspn(p, "+");

			if (segment(p, n, buf, &len, sizeof(buf)) == -1)
				return 2;
			p += n + (p[n] == '+');
		}
		if (write(2, buf, len) != (ssize_t)len)
			return 1;
		printf("%d\n", i);
		if (i + 1 < argc && fgets(line, sizeof(line), stdin) == NULL)
			return 1;
	}
	return 0;
}
