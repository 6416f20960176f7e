/*
 * ttyprobe: reports what its stdio is, for the stdio = pty tests. Prints
 * one line:
 *   tty=I,O,E ctty=C echo=.. icanon=.. isig=.. ixon=.. opost=.. icrnl=..
 *   ownpty=ok|ERROR
 * where ctty=1 means fd 0 is the controlling terminal of its session and
 * ownpty says whether the program could open a pty of its own (/dev/ptmx)
 * and pass a line through it. With the argument "bytes" it then writes all
 * 256 byte values, reads 256 bytes back and writes them back as they came.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char *
own_pty(void)
{
	static char err[64];
	char buf[16];
	int m, s;
	ssize_t n;

	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m == -1 || grantpt(m) == -1 || unlockpt(m) == -1 ||
	    (s = open(ptsname(m), O_RDWR | O_NOCTTY)) == -1) {
		snprintf(err, sizeof(err), "%s", strerror(errno));
		return err;
	}
	if (write(m, "x\n", 2) != 2 || (n = read(s, buf, sizeof(buf))) != 2)
		return "no-data";
	close(s);
	close(m);
	return "ok";
}

static void
out(const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(1, c, n);

		if (w <= 0)
			exit(1);
		c += w;
		n -= (size_t)w;
	}
}

int
main(int argc, char **argv)
{
	struct termios t;
	char line[512], buf[256];
	size_t got = 0;
	int n, have = tcgetattr(0, &t) == 0;

	n = snprintf(line, sizeof(line), "tty=%d,%d,%d ctty=%d echo=%d "
	    "icanon=%d isig=%d ixon=%d opost=%d icrnl=%d ownpty=%s\n",
	    isatty(0), isatty(1), isatty(2),
	    have && tcgetsid(0) == getsid(0),
	    have && (t.c_lflag & ECHO) != 0, have && (t.c_lflag & ICANON) != 0,
	    have && (t.c_lflag & ISIG) != 0, have && (t.c_iflag & IXON) != 0,
	    have && (t.c_oflag & OPOST) != 0, have && (t.c_iflag & ICRNL) != 0,
	    own_pty());
	out(line, (size_t)n);
	if (argc < 2 || strcmp(argv[1], "bytes") != 0)
		return 0;
	for (int i = 0; i < 256; i++)
		buf[i] = (char)i;
	out(buf, sizeof(buf));
	while (got < sizeof(buf)) {
		ssize_t r = read(0, buf + got, sizeof(buf) - got);

		if (r <= 0)
			return 2;
		got += (size_t)r;
	}
	out(buf, sizeof(buf));
	return 0;
}
