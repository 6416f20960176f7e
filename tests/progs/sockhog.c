/*
 * sockhog.c: hostile. Parks memory in socket buffers of the session's own
 * loopback, which no process's memory counts: it connects to itself over
 * TCP (or sends itself UDP datagrams, or uses AF_UNIX socketpairs), fills
 * every connection without ever reading, and holds it. After each socket
 * it reports the bytes the kernel has queued for it so far (SIOCOUTQ on
 * the writing end plus SIOCINQ on the reading end) and the memory its
 * buffers hold (SO_MEMINFO), "IDX conns N queued BYTES mem BYTES", then
 * "IDX done conns N queued BYTES mem BYTES", and
 * it sleeps, holding everything, until it is killed.
 *   sockhog [tcp|udp|unix] [CONNS] [PROCS] [STOP_MIB]
 * With PROCS > 1 it forks, each process doing CONNS, and each reports its
 * own lines prefixed with its index. A process stops opening sockets once
 * its buffers hold STOP_MIB (default 64) MiB, so that a test of an
 * unprotected jail stays bounded too.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char block[65536];

static void
say(const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(1, line, (size_t)n) != n)
		_exit(2);
}

/* The payload queued on a stream: SIOCOUTQ at the writer, SIOCINQ at the
 * reader (for a datagram socket SIOCINQ tells only the next datagram). */
static long
queued(int wr, int rd)
{
	int out = 0, in = 0;

	if (ioctl(wr, SIOCOUTQ, &out) == -1)
		out = 0;
	if (ioctl(rd, SIOCINQ, &in) == -1)
		in = 0;
	return (long)out + in;
}

/* The memory the kernel holds for fd's buffers (skb truesize), as the
 * socket's own accounting has it: received, queued to send, in flight. */
static long
held(int fd)
{
	unsigned int mi[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mi);

	memset(mi, 0, sizeof(mi));
	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len) == -1)
		return 0;
	return (long)mi[SK_MEMINFO_RMEM_ALLOC] + mi[SK_MEMINFO_WMEM_QUEUED] +
	    mi[SK_MEMINFO_WMEM_ALLOC];
}

/* Writes a stream until the kernel takes no more. */
static void
fill_stream(int fd)
{
	for (int stalls = 0; stalls < 3;) {
		ssize_t n = send(fd, block, sizeof(block), MSG_DONTWAIT |
		    MSG_NOSIGNAL);

		if (n > 0) {
			stalls = 0;
			continue;
		}
		if (errno != EAGAIN && errno != ENOBUFS && errno != ENOMEM)
			return;
		/* Loopback hands data to the peer asynchronously (softirq):
		 * give it a moment to move the send queue into the peer's. */
		usleep(2000);
		stalls++;
	}
}

/* Datagrams are dropped by a full receiver rather than waited for: send
 * until the reader's memory stops growing. */
static void
fill_dgram(int fd, int rd)
{
	long last = -1;

	for (int rounds = 0, stalls = 0; rounds < 4096 && stalls < 3;
	    rounds++) {
		long now;

		for (int i = 0; i < 64; i++)
			send(fd, block, 1024, MSG_DONTWAIT | MSG_NOSIGNAL);
		now = held(rd);
		stalls = now > last ? 0 : stalls + 1;
		last = now;
	}
}

static int
tcp_pair(int lfd, const struct sockaddr_in *sin, int fds[2])
{
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (fds[0] == -1 ||
	    connect(fds[0], (const struct sockaddr *)sin, sizeof(*sin)) == -1)
		return -1;
	fds[1] = accept(lfd, NULL, NULL);
	return fds[1] == -1 ? -1 : 0;
}

static int
udp_pair(int fds[2])
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fds[0] = socket(AF_INET, SOCK_DGRAM, 0);
	fds[1] = socket(AF_INET, SOCK_DGRAM, 0);
	if (fds[0] == -1 || fds[1] == -1 ||
	    bind(fds[1], (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fds[1], (struct sockaddr *)&sin, &len) == -1 ||
	    connect(fds[0], (struct sockaddr *)&sin, sizeof(sin)) == -1)
		return -1;
	return 0;
}

static void
hog(long idx, const char *mode, long conns, long stop)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	long total = 0, mem = 0;
	int lfd = -1, wr[1024], rd[1024], n = 0;

	if (conns > 1024)
		conns = 1024;
	if (strcmp(mode, "tcp") == 0) {
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		lfd = socket(AF_INET, SOCK_STREAM, 0);
		if (lfd == -1 ||
		    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
		    listen(lfd, 64) == -1 ||
		    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1) {
			say("%ld error listen %d\n", idx, errno);
			return;
		}
	}
	for (; n < conns; n++) {
		int fds[2], r;

		if (strcmp(mode, "tcp") == 0)
			r = tcp_pair(lfd, &sin, fds);
		else if (strcmp(mode, "udp") == 0)
			r = udp_pair(fds);
		else
			r = socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
		if (r == -1) {
			say("%ld error socket %d at %d\n", idx, errno, n);
			break;
		}
		wr[n] = fds[0];
		rd[n] = fds[1];
		if (strcmp(mode, "udp") == 0)
			fill_dgram(wr[n], rd[n]);
		else {
			/* Both ways: the reader's send queue holds memory too. */
			fill_stream(wr[n]);
			fill_stream(rd[n]);
		}
		total = mem = 0;
		for (int i = 0; i <= n; i++) {
			if (strcmp(mode, "udp") != 0)
				total += queued(wr[i], rd[i]) +
				    queued(rd[i], wr[i]);
			mem += held(wr[i]) + held(rd[i]);
		}
		say("%ld conns %d queued %ld mem %ld\n", idx, n + 1, total,
		    mem);
		if (mem >= stop) {
			n++;
			break;
		}
	}
	say("%ld done conns %d queued %ld mem %ld\n", idx, n, total, mem);
}

int
main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "tcp";
	long conns = argc > 2 ? atol(argv[2]) : 64;
	long procs = argc > 3 ? atol(argv[3]) : 1;
	long stop = (argc > 4 ? atol(argv[4]) : 64) << 20;

	memset(block, 'x', sizeof(block));
	if (write(1, "ready\n", 6) != 6)
		return 1;
	for (long i = 1; i < procs; i++)
		if (fork() == 0) {
			hog(i, mode, conns, stop);
			pause();
			_exit(0);
		}
	hog(0, mode, conns, stop);
	pause();
	return 0;
}
