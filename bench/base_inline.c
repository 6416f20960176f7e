/* base_inline: the TCP floor for the chald benchmark.
 * Usage: base_inline PORT CHALLENGE
 * Listens on 127.0.0.1:PORT (0 = ephemeral), prints "listening port=N" on
 * stderr, and answers the echo_chal protocol itself in one epoll loop:
 * send "hello\n", read one line, send it back, close. No process is created,
 * so this measures what accept + a few syscalls cost on loopback. CHALLENGE
 * is accepted for a uniform command line and otherwise ignored.
 * Runs until killed (SIGTERM/SIGINT). */
#define _GNU_SOURCE
#include "baseline.h"
#include <fcntl.h>
#include <sys/epoll.h>

#define LINE_MAX_LEN 4096
#define MAX_EVENTS 256

struct conn {
	int fd;
	size_t in_len;      /* bytes of the line read so far */
	size_t out_len;     /* bytes queued in out[] */
	size_t out_off;     /* bytes of out[] already sent */
	int line_done;      /* the echo is queued; close once it is sent */
	char in[LINE_MAX_LEN];
	char out[LINE_MAX_LEN + 8];
};

static void conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Send what is queued. Returns -1 on a fatal error, 0 otherwise. */
static int conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) { /* bounded by out_len */
		ssize_t w = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->out_off += (size_t)w;
	}
	return 0;
}

/* Handle readiness on a client. Returns 1 when the connection is finished. */
static int conn_event(struct conn *c, unsigned ev)
{
	if (ev & (EPOLLERR))
		return 1;
	if (conn_flush(c) < 0)
		return 1;
	if (c->line_done)
		return c->out_off == c->out_len;
	/* Read what is there; at most sizeof in bytes in total. */
	while (c->in_len < sizeof c->in) {
		ssize_t r = recv(c->fd, c->in + c->in_len,
				 sizeof c->in - c->in_len, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return 1;
		}
		if (r == 0)
			return 1;
		size_t start = c->in_len;
		c->in_len += (size_t)r;
		char *nl = memchr(c->in + start, '\n', c->in_len - start);
		if (nl) {
			size_t n = (size_t)(nl - c->in) + 1;
			memcpy(c->out, c->in, n);
			c->out_len = n;
			c->out_off = 0;
			c->line_done = 1;
			if (conn_flush(c) < 0)
				return 1;
			return c->out_off == c->out_len;
		}
	}
	return 1; /* line too long */
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PORT CHALLENGE\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int lfd = listen_on(argv[1]);
	/* one loop serves every connection: the listener must not block */
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("epoll_create1");
		return 1;
	}
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

	struct epoll_event evs[MAX_EVENTS];
	for (;;) { /* runs until a signal ends the process */
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c != NULL) {
				if (conn_event(c, evs[i].events))
					conn_close(ep, c);
				continue;
			}
			/* Accept a bounded batch per wakeup. */
			for (int k = 0; k < 64; k++) {
				int cfd = accept4(lfd, NULL, NULL,
						  SOCK_CLOEXEC | SOCK_NONBLOCK);
				if (cfd < 0)
					break;
				c = calloc(1, sizeof *c);
				if (c == NULL) {
					close(cfd);
					break;
				}
				c->fd = cfd;
				memcpy(c->out, "hello\n", 6);
				c->out_len = 6;
				struct epoll_event cev = {
					.events = EPOLLIN | EPOLLOUT | EPOLLET,
					.data.ptr = c,
				};
				if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev) < 0) {
					close(cfd);
					free(c);
					continue;
				}
				if (conn_flush(c) < 0)
					conn_close(ep, c);
			}
		}
	}
}
