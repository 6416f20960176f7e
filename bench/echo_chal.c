/* echo_chal: the trivial challenge every benchmarked server runs.
 * Writes the greeting "hello\n" to stdout with write(2), reads one line
 * (up to '\n', at most 4095 bytes) from stdin, writes it back, exits 0.
 * No stdio, so there is no buffering to flush and nothing to lose. */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(void)
{
	static const char greet[] = "hello\n";
	char line[4096];
	size_t len = 0;

	/* A client that hangs up early must not kill us with SIGPIPE noise. */
	signal(SIGPIPE, SIG_IGN);
	if (write_all(1, greet, sizeof greet - 1) < 0)
		return 0;
	/* Bounded: at most sizeof line - 1 bytes are ever read. */
	while (len < sizeof line - 1) {
		ssize_t r = read(0, line + len, sizeof line - 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (r == 0)
			break;
		size_t start = len;
		len += (size_t)r;
		for (size_t i = start; i < len; i++) {
			if (line[i] == '\n') {
				len = i + 1;
				goto done;
			}
		}
	}
done:
	if (len > 0)
		write_all(1, line, len);
	return 0;
}
