/*
 * listener.c: the services at run time (struct svcstate): their listening
 * sockets, live-session counts and per-source tables. A svcstate outlives
 * a reload for as long as its service keeps its name, so that sessions
 * keep counting against the right caps, and is freed once a reload has
 * dropped it and nothing of it is alive.
 */
#include <sys/socket.h>

#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define PAUSE_MS	100	/* listener rest after EMFILE/ENFILE */

struct svcstate *
listener_state_new(struct daemon *d, const char *name)
{
	struct svcstate *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	if (srctable_init(&st->sources) == -1 ||
	    (st->name = strdup(name)) == NULL) {
		srctable_free(&st->sources);
		free(st);
		return NULL;
	}
	st->kind = EV_LISTENER;
	st->fd = -1;
	st->next = d->states;
	d->states = st;
	return st;
}

/*
 * At startup, before detaching: a failure is the launcher's to report. A
 * socket the service manager passed (socket activation) is taken for the
 * service of its address and port; the others are opened here.
 */
void
listener_open_all(struct daemon *d)
{
	char err[CHALD_ERRLEN];
	int n;

	if (listen_inherit(err, sizeof(err)) == -1)
		errx(1, "%s", err);
	for (struct service *s = d->conf->services; s != NULL; s = s->next) {
		struct svcstate *st = listener_state_new(d, s->name);

		if (st == NULL)
			errx(1, "out of memory");
		st->svc = s;
		st->rate = s->rate;
		st->burst = s->burst;
		st->fd = listen_take_inherited(s, &st->port);
		if (st->fd != -1) {
			log_event("socket-activation service=%s addr=%s "
			    "port=%d fd=%d", s->name, s->addr, st->port,
			    st->fd);
			continue;
		}
		st->fd = listen_open(s, &st->port, err, sizeof(err));
		if (st->fd == -1)
			errx(1, "service %s: %s", s->name, err);
	}
	if ((n = listen_inherited_close()) > 0)
		log_warnx("socket activation: %d socket%s matched no "
		    "service's listen and port, closed", n, n == 1 ? "" : "s");
}

static void
listener_free(struct daemon *d, struct svcstate *st)
{
	struct svcstate **pp;

	for (pp = &d->states; *pp != NULL; pp = &(*pp)->next)
		if (*pp == st) {
			*pp = st->next;
			break;
		}
	srctable_free(&st->sources);
	free(st->ident);
	free(st->name);
	free(st);
}

/* A service dropped by a reload goes once no session or jail needs it. */
void
listener_free_unused(struct daemon *d, struct svcstate *st)
{
	if (st->removed && st->conns == 0 && st->unserved == 0 &&
	    st->gating == 0 && st->health.pid == 0)
		listener_free(d, st);
}

void
listener_close(struct daemon *d, struct svcstate *st)
{
	if (st->fd == -1)
		return;
	if (!st->paused)
		watch_listener(d, st, 0);
	close(st->fd);
	st->fd = -1;
	st->paused = 0;
}

/*
 * When the process or the system is out of fds, accept fails until a
 * session ends; polling again at once would spin. Rest the listener.
 */
static void
listener_pause(struct daemon *d, struct svcstate *st, int error)
{
	watch_listener(d, st, 0);
	st->paused = 1;
	st->pause_until_ms = now_ms() + PAUSE_MS;
	log_event("accept-paused service=%s error=%s ms=%d", st->name,
	    log_quote(strerror(error)), PAUSE_MS);
}

/* The next connection, or -1 when there is none to take now. */
int
listener_accept(struct daemon *d, struct svcstate *st,
    struct sockaddr_storage *ss)
{
	while (st->fd != -1) {
		socklen_t sl = sizeof(*ss);
		int fd = accept4(st->fd, (struct sockaddr *)ss, &sl,
		    SOCK_CLOEXEC);

		if (fd != -1)
			return fd;
		switch (errno) {
		case EAGAIN:
			return -1;
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case EPERM:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			listener_pause(d, st, errno);
			return -1;
		default:
			log_warn("service %s: accept", st->name);
			return -1;
		}
	}
	return -1;
}

void
listener_resume_all(struct daemon *d, int64_t now)
{
	for (struct svcstate *st = d->states; st != NULL; st = st->next)
		if (st->paused && now >= st->pause_until_ms) {
			st->paused = 0;
			watch_listener(d, st, 1);
		}
}

/* The earlier of t and the next paused listener's resumption. */
int64_t
listener_next_resume(const struct daemon *d, int64_t t)
{
	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		if (st->paused && st->pause_until_ms < t)
			t = st->pause_until_ms;
	return t;
}

void
listener_announce(const struct daemon *d)
{
	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		if (!st->removed)
			log_event("listening service=%s addr=%s port=%d",
			    st->name, st->svc->addr, st->port);
	if (d->admin.fd != -1)
		log_event("admin addr=%s port=%d", d->conf->admin_addr,
		    d->admin.port);
}

void
listener_sweep_sources(struct daemon *d, int64_t now)
{
	for (struct svcstate *st = d->states; st != NULL; st = st->next)
		srctable_expire(&st->sources, st->rate, st->burst, now);
}
