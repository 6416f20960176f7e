/*
 * listen.c: opening a service's listening socket. The default address "::"
 * is made dual-stack explicitly, since the system default (bindv6only) may
 * differ between hosts and IPv4 players must get in everywhere.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
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
