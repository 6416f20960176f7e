/*
 * vmclient.c: the TCP client of the cgroup v2 VM test (tests/vm), built
 * static so the busybox guest needs no libraries for it. Connects to
 * 127.0.0.1:PORT, sends each -s LINE followed by "\n", then copies whatever
 * the server sends to stdout (flushed as it comes) until EOF or until -t
 * SECS have passed since the start, whichever comes first.
 *   vmclient [-t SECS] [-s LINE]... PORT
 * Exit: 0 on EOF, 3 when the deadline cut it short, 1 on any error.
 */
#define _GNU_SOURCE
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char *lines[16];
	int nlines = 0, c, fd;
	double secs = 5;
	long long deadline;
	char buf[4096];

	while ((c = getopt(argc, argv, "t:s:")) != -1) {
		if (c == 't')
			secs = atof(optarg);
		else if (c == 's' && nlines < 16)
			lines[nlines++] = optarg;
		else {
			fprintf(stderr, "usage: vmclient [-t SECS] [-s LINE]... "
			    "PORT\n");
			return 1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: vmclient [-t SECS] [-s LINE]... PORT\n");
		return 1;
	}
	deadline = now_ms() + (long long)(secs * 1000);
	sin.sin_port = htons((unsigned short)atoi(argv[optind]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		fprintf(stderr, "vmclient: connect %s: %s\n", argv[optind],
		    strerror(errno));
		return 1;
	}
	for (int i = 0; i < nlines; i++) {
		size_t n = strlen(lines[i]);

		if (write(fd, lines[i], n) != (ssize_t)n ||
		    write(fd, "\n", 1) != 1) {
			fprintf(stderr, "vmclient: write: %s\n", strerror(errno));
			return 1;
		}
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0)
			return 3;
		if (poll(&p, 1, (int)left) == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p.revents == 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0)
			return errno == ECONNRESET ? 0 : 1;
		fwrite(buf, 1, (size_t)n, stdout);
		fflush(stdout);
	}
}
