/*
 * admin.c: the admin listener ("admin = ADDR:PORT"), served by the one
 * event loop next to the players: GET /metrics (metrics.c), /healthz
 * (health.c) and /status (metrics.c). It must never cost the players
 * anything, so everything about it is bounded:
 *   - a request may be HTTP_REQ_MAX bytes and a connection lives
 *     ADMIN_DEADLINE_MS from its accept, whatever it does (slowloris);
 *   - at most admin-max-conns are open; one more is answered 503 in a
 *     single non-blocking send and closed at once;
 *   - every read and write is non-blocking, and a wakeup reads at most
 *     HTTP_REQ_MAX bytes (the reader stops there) and accepts at most
 *     ADMIN_ACCEPT_BURST connections, so a flood waits for the next turn
 *     while the players' listeners get theirs;
 *   - the response is built whole in the connection's buffer and written
 *     as the socket takes it; then the connection lingers, reading and
 *     dropping what the client still sends, until its EOF or the deadline,
 *     so that closing with unread data does not reset the response away.
 * Connections are kept in accept order, which is deadline order (one
 * deadline for all), so the loop's timer is the oldest one's: O(1).
 *
 * Why not Debian's libmicrohttpd: it can run inside an external select or
 * epoll loop (MHD_USE_NO_LISTEN_SOCKET, MHD_run_from_select), but it wants
 * its own view of every socket (MHD_get_fdset, or its internal epoll fd
 * nested into ours) and its own timeouts (MHD_get_timeout), and it is
 * built for what the admin pages never need: keep-alive, pipelining,
 * chunked and POST bodies, TLS, digest authentication, threads. Three
 * GET pages with a Connection: close answer need a request-line and
 * header reader of about 200 lines (http.c), which is fuzzed, has no I/O,
 * and whose every bound is the daemon's own. A dependency of ~30,000 lines
 * on the daemon's address space would be more to trust than that.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define ADMIN_DEADLINE_MS	5000	/* a connection's whole life */
#define ADMIN_ACCEPT_BURST	16	/* per wakeup */
#define ADMIN_BACKLOG		256	/* connects come faster than a busy loop
					   accepts them */
#define ADMIN_PAUSE_MS		100	/* the listener rests after EMFILE */
#define ADMIN_LINGER_MAX	65536	/* dropped after the response */

static const char busy_response[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 27\r\n"
    "Connection: close\r\n"
    "\r\n"
    "too many admin connections\n";

static const char timeout_response[] =
    "HTTP/1.1 408 Request Timeout\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 23\r\n"
    "Connection: close\r\n"
    "\r\n"
    "request not sent in 5s\n";

int
admin_open(struct daemon *d, char *err, size_t errlen)
{
	struct config *c = d->conf;

	d->admin.kind = EV_ADMIN;
	d->admin.fd = -1;
	if (c->admin_addr == NULL)
		return 0;
	d->admin.fd = listen_addr(c->admin_addr, c->admin_port,
	    ADMIN_BACKLOG, &d->admin.port, err, errlen);
	return d->admin.fd == -1 ? -1 : 0;
}

static void
admin_drop(struct daemon *d, struct adminconn *c)
{
	struct admin *a = &d->admin;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		a->tail = c->prev;
	watch_fd(d, c->fd, c, 0);
	close(c->fd);
	http_buf_free(&c->out);
	free(c);
	a->nconns--;
}

/* At exit: nothing is left open. */
void
admin_close(struct daemon *d)
{
	while (d->admin.conns != NULL)
		admin_drop(d, d->admin.conns);
	if (d->admin.fd != -1) {
		if (!d->admin.paused)
			watch_fd(d, d->admin.fd, &d->admin, 0);
		close(d->admin.fd);
		d->admin.fd = -1;
	}
}

/*
 * A canned answer, sent once without waiting: it fits any socket's empty
 * send buffer, and if it does not go out nothing is lost. What the client
 * sent is read first (once, without waiting): a close with unread data
 * would reset the connection, and the answer with it.
 */
static void
admin_send_once(int fd, const char *msg, size_t len)
{
	char buf[HTTP_REQ_MAX];

	if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) == -1) {
		/* nothing there yet */
	}
	if (send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
		/* the client is gone, or not reading: it is closed anyway */
	}
	shutdown(fd, SHUT_WR);
}

static void
admin_pause(struct daemon *d, int error)
{
	watch_fd(d, d->admin.fd, &d->admin, 0);
	d->admin.paused = 1;
	d->admin.pause_until_ms = now_ms() + ADMIN_PAUSE_MS;
	log_event("accept-paused service=admin error=%s ms=%d",
	    log_quote(strerror(error)), ADMIN_PAUSE_MS);
}

void
admin_accept(struct daemon *d)
{
	struct admin *a = &d->admin;

	for (int i = 0; i < ADMIN_ACCEPT_BURST && a->fd != -1; i++) {
		struct adminconn *c;
		int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				admin_pause(d, errno);
			return;
		}
		if (a->nconns >= d->conf->admin_max_conns ||
		    (c = calloc(1, sizeof(*c))) == NULL) {
			d->counters[D_ADMIN_REFUSED]++;
			admin_send_once(fd, busy_response,
			    sizeof(busy_response) - 1);
			close(fd);
			continue;
		}
		c->kind = EV_ADMIN_CONN;
		c->fd = fd;
		c->phase = ADMIN_READ;
		c->deadline_ms = now_ms() + ADMIN_DEADLINE_MS;
		http_init(&c->req);
		c->prev = a->tail;
		if (a->tail != NULL)
			a->tail->next = c;
		else
			a->conns = c;
		a->tail = c;
		a->nconns++;
		watch_fd(d, fd, c, 1);
	}
}

/* What /metrics shows of the process itself. */
static void
admin_procstat(const struct daemon *d, struct procstat *ps)
{
	struct rusage ru;
	struct rlimit rl;
	unsigned long long size, rss;
	long page = sysconf(_SC_PAGESIZE);
	FILE *fp;
	DIR *dir;

	memset(ps, 0, sizeof(*ps));
	if ((fp = fopen("/proc/self/statm", "re")) != NULL) {
		if (fscanf(fp, "%llu %llu", &size, &rss) == 2) {
			ps->vsize_bytes = (double)size * page;
			ps->rss_bytes = (double)rss * page;
		}
		fclose(fp);
	}
	ps->open_fds = -1;
	if ((dir = opendir("/proc/self/fd")) != NULL) {
		struct dirent *e;
		int n = 0;

		while ((e = readdir(dir)) != NULL)
			n += e->d_name[0] != '.';
		closedir(dir);
		ps->open_fds = n - 1;	/* the directory's own */
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		ps->max_fds = (double)rl.rlim_cur;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		ps->cpu_secs = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
		    + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	ps->start_unix = d->start_unix;
	ps->uptime_secs = (double)(now_ms() - d->start_ms) / 1000;
}

/* The page for a whole request: into c->out. */
static void
admin_route(struct daemon *d, struct adminconn *c, enum http_result res)
{
	struct http_buf body = { 0 };
	const char *ctype = "text/plain; charset=utf-8", *extra = NULL;
	const char *path = c->req.path;
	struct procstat ps;
	int status;

	if (res == HTTP_BAD) {
		status = c->req.status;
		http_buf_printf(&body, "%s\n", c->req.why);
		path = "-";
	} else if (strcmp(c->req.method, "GET") != 0) {
		status = 405;
		extra = "Allow: GET\r\n";
		http_buf_printf(&body, "only GET is served\n");
	} else if (strcmp(path, "/metrics") == 0) {
		status = 200;
		ctype = "text/plain; version=0.0.4; charset=utf-8";
		admin_procstat(d, &ps);
		metrics_format(d, &ps, &body);
	} else if (strcmp(path, "/healthz") == 0) {
		status = health_page(d, &body) ? 200 : 503;
	} else if (strcmp(path, "/status") == 0) {
		status = 200;
		ctype = "application/json";
		metrics_status(d, now_ms(), &body);
	} else {
		status = 404;
		http_buf_printf(&body, "not found: try /metrics, /healthz or "
		    "/status\n");
	}
	http_respond(&c->out, status, ctype, &body, extra);
	http_buf_free(&body);
	d->counters[D_ADMIN_REQUESTS]++;
	log_debug("admin-request method=%s path=%s status=%d bytes=%zu",
	    res == HTTP_BAD ? "-" : log_quote(c->req.method),
	    log_quote(path), status, c->out.len);
}

static void
admin_linger(struct daemon *d, struct adminconn *c)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		c->lingered += n > 0 ? (size_t)n : 0;
		if (n <= 0 || c->lingered > ADMIN_LINGER_MAX) {
			admin_drop(d, c);
			return;
		}
	}
}

static void
admin_write(struct daemon *d, struct adminconn *c)
{
	while (c->sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->sent,
		    c->out.len - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			if (c->phase != ADMIN_WRITE) {
				c->phase = ADMIN_WRITE;
				watch_events(d, c->fd, c, EPOLLOUT);
			}
			return;
		}
		if (n <= 0) {
			admin_drop(d, c);
			return;
		}
		c->sent += (size_t)n;
	}
	http_buf_free(&c->out);
	shutdown(c->fd, SHUT_WR);
	if (c->phase == ADMIN_WRITE)
		watch_events(d, c->fd, c, EPOLLIN);
	c->phase = ADMIN_LINGER;
	admin_linger(d, c);
}

static void
admin_read(struct daemon *d, struct adminconn *c)
{
	char buf[1024];
	enum http_result res = HTTP_MORE;

	/* Bounded: the reader says HTTP_BAD past HTTP_REQ_MAX bytes. */
	while (res == HTTP_MORE) {
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {		/* gone before a whole request */
			admin_drop(d, c);
			return;
		}
		res = http_feed(&c->req, buf, (size_t)n, NULL);
	}
	admin_route(d, c, res);
	if (c->out.failed) {
		admin_drop(d, c);
		return;
	}
	admin_write(d, c);
}

void
admin_event(struct daemon *d, struct adminconn *c, uint32_t events)
{
	(void)events;	/* errors and hangups show in the read or write */
	switch (c->phase) {
	case ADMIN_READ:
		admin_read(d, c);
		break;
	case ADMIN_WRITE:
		admin_write(d, c);
		break;
	case ADMIN_LINGER:
		admin_linger(d, c);
		break;
	}
}

void
admin_tick(struct daemon *d, int64_t now)
{
	struct admin *a = &d->admin;

	if (a->paused && now >= a->pause_until_ms) {
		a->paused = 0;
		watch_fd(d, a->fd, a, 1);
	}
	while (a->conns != NULL && a->conns->deadline_ms <= now) {
		struct adminconn *c = a->conns;

		if (c->phase != ADMIN_LINGER) {
			d->counters[D_ADMIN_TIMEOUTS]++;
			if (c->phase == ADMIN_READ)
				admin_send_once(c->fd, timeout_response,
				    sizeof(timeout_response) - 1);
		}
		admin_drop(d, c);
	}
}

/* The earlier of t and the oldest connection's deadline. */
int64_t
admin_next_wake(const struct daemon *d, int64_t t)
{
	const struct admin *a = &d->admin;

	if (a->conns != NULL && a->conns->deadline_ms < t)
		t = a->conns->deadline_ms;
	if (a->paused && a->pause_until_ms < t)
		t = a->pause_until_ms;
	return t;
}
