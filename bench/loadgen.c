/* loadgen: loopback-only load generator for the chald benchmark.
 *
 * Keeps C connections in flight (epoll, non-blocking sockets) until N
 * connections are done or S seconds have passed, whichever comes first.
 * Each connection: connect, read the greeting line, send "ping <seq>\n",
 * read one line back and check it is the same, close. Latency is measured
 * from the start of connect() to the arrival of the echo.
 *
 * Usage: loadgen [-P] [-h HOST] -p PORT [-c C] [-n N] [-t S] [-T TIMEOUT]
 *   -P: open each connection with a PROXY protocol v2 header for an IPv4
 *   client 198.51.100.1 (the port varies), as a load balancer would.
 *   HOST must be a loopback address: 127.0.0.0/8 or ::1 (or "localhost",
 *   taken as 127.0.0.1). No name lookups are done.
 *
 * Prints exactly one summary line on stdout:
 *   conns=.. ok=.. secs=.. rate=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
 *   err_refused=.. err_reset=.. err_timeout=.. err_wrong=.. err_eof=..
 *   err_other=.. unfinished=.. cpu_ms=..
 * conns = connections that finished (ok or error); rate = ok / secs;
 * percentiles are over the ok connections; unfinished = connections still
 * in flight when the time cap hit (closed, not counted in conns); cpu_ms =
 * user+system CPU time loadgen itself used.
 * The first error of each kind is described on stderr.
 * Exit status: 0 when the run happened (errors are data), 2 on bad usage,
 * 1 when the run could not be set up at all. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_C 10000
#define MAX_N 10000000L
#define MAX_SECS 3600.0
#define MAX_TIMEOUT 600.0
#define BUF_LEN 256

enum state { ST_IDLE, ST_CONNECTING, ST_GREETING, ST_SENDING, ST_ECHO };
enum err { E_REFUSED, E_RESET, E_TIMEOUT, E_WRONG, E_EOF, E_OTHER, E_COUNT };
static const char *err_name[E_COUNT] = {
	"refused", "reset", "timeout", "wrong", "eof", "other"
};

struct slot {
	int fd;
	enum state st;
	double t0;        /* connect() start */
	double deadline;  /* t0 + per-connection timeout */
	size_t in_len;
	size_t out_len, out_off;
	char in[BUF_LEN];
	char out[64];
};

static struct sockaddr_storage g_addr;
static socklen_t g_addrlen;
static unsigned long g_errs[E_COUNT];
static double *g_lat;           /* latencies of ok connections, seconds */
static unsigned long g_ok, g_done, g_seq;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "loadgen: %s\n", msg);
	fprintf(stderr,
		"usage: loadgen [-h HOST] -p PORT [-c C] [-n N] [-t S] [-T TIMEOUT]\n"
		"  -h HOST    loopback address only: 127.0.0.0/8 or ::1 (default 127.0.0.1)\n"
		"  -p PORT    TCP port (1-65535)\n"
		"  -c C       connections in flight (1-%d, default 1)\n"
		"  -n N       stop after N connections (1-%ld, default 1000)\n"
		"  -t S       stop after S seconds (>0, at most %g, default 10)\n"
		"  -T TIMEOUT per-connection timeout in seconds (>0, at most %g, default 5)\n",
		MAX_C, MAX_N, MAX_SECS, MAX_TIMEOUT);
	exit(2);
}

static long parse_long(const char *s, long lo, long hi, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		fprintf(stderr, "loadgen: bad %s: %s (want %ld-%ld)\n",
			what, s, lo, hi);
		usage(NULL);
	}
	return v;
}

static double parse_secs(const char *s, double hi, const char *what)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !(v > 0.0) || v > hi) {
		fprintf(stderr, "loadgen: bad %s: %s (want >0 and <=%g)\n",
			what, s, hi);
		usage(NULL);
	}
	return v;
}

/* Accept only loopback literals; fill g_addr. */
static void set_host(const char *host, int port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&g_addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&g_addr;
	memset(&g_addr, 0, sizeof g_addr);
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127) {
			fprintf(stderr, "loadgen: refusing non-loopback host %s "
				"(only 127.0.0.0/8 and ::1)\n", host);
			exit(2);
		}
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		g_addrlen = sizeof *s4;
		return;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr)) {
			fprintf(stderr, "loadgen: refusing non-loopback host %s "
				"(only 127.0.0.0/8 and ::1)\n", host);
			exit(2);
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		g_addrlen = sizeof *s6;
		return;
	}
	fprintf(stderr, "loadgen: host must be a numeric loopback address "
		"(127.0.0.0/8 or ::1), got %s\n", host);
	exit(2);
}

static enum err classify(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return E_REFUSED;
	case ECONNRESET:
	case EPIPE:
	case ECONNABORTED:
		return E_RESET;
	case ETIMEDOUT:
		return E_TIMEOUT;
	default:
		return E_OTHER;
	}
}

static void slot_close(int ep, struct slot *s)
{
	if (s->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
	}
	s->fd = -1;
	s->st = ST_IDLE;
}

static void slot_fail(int ep, struct slot *s, enum err e, const char *why)
{
	if (g_errs[e]++ == 0)
		fprintf(stderr, "loadgen: first %s error: %s\n", err_name[e], why);
	g_done++;
	slot_close(ep, s);
}

static void slot_fail_errno(int ep, struct slot *s, int e, const char *where)
{
	char why[128];
	snprintf(why, sizeof why, "%s: %s", where, strerror(e));
	slot_fail(ep, s, classify(e), why);
}

static int slot_watch(int ep, struct slot *s, int op, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };
	return epoll_ctl(ep, op, s->fd, &ev);
}

static int g_proxy;

/* The PROXY v2 header, when -P: a fresh socket takes its 28 bytes whole.
 * Returns -1 if the slot was closed. */
static int slot_connected(int ep, struct slot *s, int op)
{
	static const unsigned char sig[12] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a
	};
	unsigned char h[28] = { 0 };
	uint16_t sport = (uint16_t)(1024 + g_seq % 60000);

	s->st = ST_GREETING;
	if (g_proxy) {
		memcpy(h, sig, 12);
		h[12] = 0x21;			/* v2, PROXY */
		h[13] = 0x11;			/* TCP over IPv4 */
		h[15] = 12;			/* address block length */
		h[16] = 198; h[17] = 51; h[18] = 100; h[19] = 1;
		h[20] = 127; h[23] = 1;
		h[24] = (unsigned char)(sport >> 8);
		h[25] = (unsigned char)sport;
		h[27] = 1;
		if (send(s->fd, h, sizeof h, MSG_NOSIGNAL) != (ssize_t)sizeof h) {
			slot_fail_errno(ep, s, errno, "send PROXY header");
			return -1;
		}
	}
	if (slot_watch(ep, s, op, EPOLLIN) < 0) {
		slot_fail_errno(ep, s, errno, "epoll_ctl");
		return -1;
	}
	return 0;
}

static void slot_start(int ep, struct slot *s, double timeout)
{
	memset(s, 0, sizeof *s);
	s->fd = socket(g_addr.ss_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		s->st = ST_IDLE;
		slot_fail_errno(ep, s, errno, "socket");
		return;
	}
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	g_seq++;
	s->out_len = (size_t)snprintf(s->out, sizeof s->out, "ping %lu\n",
				      g_seq);
	s->t0 = now();
	s->deadline = s->t0 + timeout;
	if (connect(s->fd, (struct sockaddr *)&g_addr, g_addrlen) == 0) {
		slot_connected(ep, s, EPOLL_CTL_ADD);
		return;
	}
	if (errno != EINPROGRESS) {
		slot_fail_errno(ep, s, errno, "connect");
		return;
	}
	s->st = ST_CONNECTING;
	if (slot_watch(ep, s, EPOLL_CTL_ADD, EPOLLOUT) < 0)
		slot_fail_errno(ep, s, errno, "epoll_ctl");
}

/* Send the ping. Returns 0 while going on, -1 if the slot was closed. */
static int slot_send(int ep, struct slot *s)
{
	while (s->out_off < s->out_len) { /* bounded by out_len */
		ssize_t w = send(s->fd, s->out + s->out_off,
				 s->out_len - s->out_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (s->st != ST_SENDING) {
					s->st = ST_SENDING;
					slot_watch(ep, s, EPOLL_CTL_MOD, EPOLLOUT);
				}
				return 0;
			}
			slot_fail_errno(ep, s, errno, "send");
			return -1;
		}
		s->out_off += (size_t)w;
	}
	if (s->st != ST_ECHO) {
		int was_sending = s->st == ST_SENDING;
		s->st = ST_ECHO;
		if (was_sending)
			slot_watch(ep, s, EPOLL_CTL_MOD, EPOLLIN);
	}
	return 0;
}

/* Read what is there. Returns the length of the first complete line in
 * s->in (including '\n'), 0 if none yet, -1 if the slot was closed. */
static int slot_read_line(int ep, struct slot *s)
{
	for (;;) { /* bounded: each pass fills in[] or returns */
		char *nl = memchr(s->in, '\n', s->in_len);
		if (nl)
			return (int)(nl - s->in) + 1;
		if (s->in_len >= sizeof s->in) {
			slot_fail(ep, s, E_WRONG, "line longer than 255 bytes");
			return -1;
		}
		ssize_t r = recv(s->fd, s->in + s->in_len,
				 sizeof s->in - s->in_len, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			slot_fail_errno(ep, s, errno, "recv");
			return -1;
		}
		if (r == 0) {
			slot_fail(ep, s, E_EOF, s->st == ST_GREETING ?
				  "peer closed before the greeting line" :
				  "peer closed before the echo line");
			return -1;
		}
		s->in_len += (size_t)r;
	}
}

static void slot_event(int ep, struct slot *s, unsigned ev)
{
	if (s->st == ST_CONNECTING) {
		int e = 0;
		socklen_t el = sizeof e;
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
			e = errno;
		if (e != 0) {
			slot_fail_errno(ep, s, e, "connect");
			return;
		}
		if (!(ev & EPOLLOUT)) {
			slot_fail(ep, s, E_OTHER, "hangup while connecting");
			return;
		}
		slot_connected(ep, s, EPOLL_CTL_MOD);
		return;
	}
	if (s->st == ST_SENDING) {
		slot_send(ep, s);
		return;
	}
	if (s->st == ST_GREETING) {
		int n = slot_read_line(ep, s);
		if (n <= 0)
			return;
		/* Keep any bytes after the greeting: they belong to the echo. */
		memmove(s->in, s->in + n, s->in_len - (size_t)n);
		s->in_len -= (size_t)n;
		if (slot_send(ep, s) < 0 || s->st != ST_ECHO)
			return;
		/* Fall through: the echo may already be in in[]. */
		if (s->in_len == 0)
			return;
	}
	if (s->st == ST_ECHO) {
		int n = slot_read_line(ep, s);
		if (n <= 0)
			return;
		if ((size_t)n != s->out_len || memcmp(s->in, s->out, s->out_len)) {
			char why[BUF_LEN + 64];
			snprintf(why, sizeof why, "sent %.*s got %.*s",
				 (int)s->out_len - 1, s->out, n - 1, s->in);
			slot_fail(ep, s, E_WRONG, why);
			return;
		}
		g_lat[g_ok++] = now() - s->t0;
		g_done++;
		slot_close(ep, s);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of the sorted latencies, in ms. */
static double pct_ms(double p)
{
	if (g_ok == 0)
		return 0.0;
	unsigned long rank = (unsigned long)(p / 100.0 * (double)g_ok + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > g_ok)
		rank = g_ok;
	return g_lat[rank - 1] * 1000.0;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	long port = -1, conc = 1, maxn = 1000;
	double secs = 10.0, timeout = 5.0;
	int opt;

	while ((opt = getopt(argc, argv, "Ph:p:c:n:t:T:")) != -1) {
		switch (opt) {
		case 'P': g_proxy = 1; break;
		case 'h': host = optarg; break;
		case 'p': port = parse_long(optarg, 1, 65535, "port"); break;
		case 'c': conc = parse_long(optarg, 1, MAX_C, "concurrency"); break;
		case 'n': maxn = parse_long(optarg, 1, MAX_N, "connection count"); break;
		case 't': secs = parse_secs(optarg, MAX_SECS, "seconds"); break;
		case 'T': timeout = parse_secs(optarg, MAX_TIMEOUT, "timeout"); break;
		default: usage(NULL);
		}
	}
	if (optind != argc)
		usage("unexpected argument");
	if (port < 0)
		usage("-p PORT is required");
	set_host(host, (int)port);
	if (conc > maxn)
		conc = maxn;

	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)conc + 16) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)conc + 16) {
			fprintf(stderr, "loadgen: fd limit too low for -c %ld\n",
				conc);
			return 1;
		}
	}

	struct slot *slots = calloc((size_t)conc, sizeof *slots);
	g_lat = calloc((size_t)maxn, sizeof *g_lat);
	struct epoll_event *evs = calloc((size_t)conc, sizeof *evs);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!slots || !g_lat || !evs || ep < 0) {
		fprintf(stderr, "loadgen: out of memory or epoll failed\n");
		return 1;
	}
	for (long i = 0; i < conc; i++) {
		slots[i].fd = -1;
		slots[i].st = ST_IDLE;
	}

	double start = now(), end = start + secs, last_scan = start;
	unsigned long launched = 0, unfinished = 0;
	double t = start;
	/* Bounded: ends at maxn finished connections or at the time cap. */
	for (;;) {
		t = now();
		if (t >= end)
			break;
		/* Fill idle slots. */
		for (long i = 0; i < conc && launched < (unsigned long)maxn; i++) {
			if (slots[i].st != ST_IDLE)
				continue;
			launched++;
			slot_start(ep, &slots[i], timeout);
		}
		if (g_done >= (unsigned long)maxn)
			break;
		int wait_ms = (int)((end - t) * 1000.0) + 1;
		if (wait_ms > 10)
			wait_ms = 10;
		int n = epoll_wait(ep, evs, (int)conc, wait_ms);
		if (n < 0 && errno != EINTR) {
			perror("loadgen: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct slot *s = evs[i].data.ptr;
			if (s->st != ST_IDLE)
				slot_event(ep, s, evs[i].events);
		}
		/* Per-connection timeouts, checked every few ms. */
		t = now();
		if (t - last_scan >= 0.005) {
			last_scan = t;
			for (long i = 0; i < conc; i++) {
				struct slot *s = &slots[i];
				if (s->st != ST_IDLE && t >= s->deadline)
					slot_fail(ep, s, E_TIMEOUT,
						  "no answer within -T");
			}
		}
	}
	double elapsed = now() - start;
	for (long i = 0; i < conc; i++) {
		if (slots[i].st != ST_IDLE) {
			unfinished++;
			slot_close(ep, &slots[i]);
		}
	}

	struct rusage ru;
	double cpu_ms = 0.0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
			 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	qsort(g_lat, g_ok, sizeof *g_lat, cmp_double);
	printf("conns=%lu ok=%lu secs=%.2f rate=%.1f p50_ms=%.3f p90_ms=%.3f "
	       "p99_ms=%.3f max_ms=%.3f err_refused=%lu err_reset=%lu "
	       "err_timeout=%lu err_wrong=%lu err_eof=%lu err_other=%lu "
	       "unfinished=%lu cpu_ms=%.0f\n",
	       g_done, g_ok, elapsed, elapsed > 0 ? (double)g_ok / elapsed : 0.0,
	       pct_ms(50), pct_ms(90), pct_ms(99), pct_ms(100),
	       g_errs[E_REFUSED], g_errs[E_RESET], g_errs[E_TIMEOUT],
	       g_errs[E_WRONG], g_errs[E_EOF], g_errs[E_OTHER], unfinished,
	       cpu_ms);
	fflush(stdout);
	close(ep);
	free(slots);
	free(evs);
	free(g_lat);
	return 0;
}
