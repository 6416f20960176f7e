/*
 * listen.c: opening a service's listening socket. The default address "::"
 * is made dual-stack explicitly, since the system default (bindv6only) may
 * differ between hosts and IPv4 players must get in everywhere. Sockets
 * a service manager opened for chald (socket activation) are taken
 * instead where their address and port are a service's.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

/* A listening socket on a literal address (the admin listener's too). */
int
listen_addr(const char *addr, int port, int backlog, int *outport,
    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, on = 1, off = 0, fam;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr)
	    == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		fam = sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		fam = sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		len = sizeof(*sin6);
	} else {
		snprintf(err, errlen, "not an address: %s", addr);
		errno = EINVAL;
		return -1;
	}
	fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (fam == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
	    &off, sizeof(off)) == -1)) {
		snprintf(err, errlen, "setsockopt: %s", strerror(errno));
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) == -1) {
		snprintf(err, errlen, "bind %s%s%s:%d: %s",
		    fam == AF_INET6 ? "[" : "", addr, fam == AF_INET6 ? "]" : "",
		    port, strerror(errno));
		goto fail;
	}
	if (listen(fd, backlog) == -1) {
		snprintf(err, errlen, "listen: %s", strerror(errno));
		goto fail;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		goto fail;
	}
	addr_format((struct sockaddr *)&ss, NULL, 0, outport);
	return fd;
fail:
	{
		int e = errno;

		close(fd);
		errno = e;
	}
	return -1;
}

/*
 * Returns the listening fd and the port actually bound (port 0 picks one).
 * A host without IPv6 still serves "::" services, on IPv4 only.
 */
int
listen_open(const struct service *s, int *port, char *err, size_t errlen)
{
	int fd;

	fd = listen_addr(s->addr, s->port, s->backlog, port, err, errlen);
	if (fd == -1 && strcmp(s->addr, "::") == 0 &&
	    (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
		fd = listen_addr("0.0.0.0", s->port, s->backlog, port, err,
		    errlen);
		if (fd != -1)
			log_warnx("service %s: no IPv6 on this host, "
			    "listening on 0.0.0.0 only", s->name);
	}
	return fd;
}

/*
 * Socket activation (sd_listen_fds(3)): LISTEN_FDS sockets from fd 3 up,
 * meant for the process LISTEN_PID. Each must be a listening TCP socket;
 * a service takes the one bound to its address and port (listen_open is
 * then not needed), and those no service takes are closed.
 */
#define LISTEN_FDS_START	3
#define LISTEN_FDS_MAX		1024

static int	*inherited;
static int	 ninherited;

static int
inherited_check(int fd, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type = 0, acc = 0;
	socklen_t tl = sizeof(type), al = sizeof(acc);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == -1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == -1) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d: %s", fd,
		    strerror(errno));
		return -1;
	}
	if ((ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
	    type != SOCK_STREAM || !acc) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d is not a listening "
		    "TCP socket", fd);
		return -1;
	}
	/* Ours now: not inherited by sessions, never blocking the loop. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d: %s", fd,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Reads and forgets the variables; returns how many sockets came, or -1
 * with err when they are not what the protocol promises.
 */
int
listen_inherit(char *err, size_t errlen)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	long p, n;
	int ret = 0;

	if (pid == NULL || fds == NULL)
		goto out;
	/* Meant for another process (a wrapper that exec'd us, say). */
	if (parse_int(pid, 1, INT32_MAX, &p) == -1 || p != (long)getpid())
		goto out;
	if (parse_int(fds, 0, LISTEN_FDS_MAX, &n) == -1) {
		snprintf(err, errlen, "LISTEN_FDS=%s: not a count", fds);
		ret = -1;
		goto out;
	}
	if (n > 0 && (inherited = calloc((size_t)n, sizeof(int))) == NULL) {
		snprintf(err, errlen, "out of memory");
		ret = -1;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		inherited[i] = LISTEN_FDS_START + i;
		if (inherited_check(inherited[i], err, errlen) == -1) {
			ret = -1;
			goto out;
		}
	}
	ninherited = (int)n;
	ret = (int)n;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return ret;
}

/* Whether the socket is bound to s's address and port. */
static int
inherited_matches(int fd, const struct service *s, int *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	unsigned char want[16];
	int p;

	if (s->port == 0 || getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	addr_format((struct sockaddr *)&ss, NULL, 0, &p);
	if (p != s->port)
		return 0;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		if (inet_pton(AF_INET, s->addr, want) != 1 ||
		    memcmp(want, &sin->sin_addr, 4) != 0)
			return 0;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		if (inet_pton(AF_INET6, s->addr, want) != 1 ||
		    memcmp(want, &sin6->sin6_addr, 16) != 0)
			return 0;
	}
	*port = p;
	return 1;
}

/* The inherited socket of service s, or -1. */
int
listen_take_inherited(const struct service *s, int *port)
{
	for (int i = 0; i < ninherited; i++)
		if (inherited[i] >= 0 && inherited_matches(inherited[i], s,
		    port)) {
			int fd = inherited[i];

			inherited[i] = -1;
			return fd;
		}
	return -1;
}

/* Closes what no service took; returns how many. */
int
listen_inherited_close(void)
{
	int n = 0;

	for (int i = 0; i < ninherited; i++)
		if (inherited[i] >= 0) {
			close(inherited[i]);
			n++;
		}
	free(inherited);
	inherited = NULL;
	ninherited = 0;
	return n;
}
