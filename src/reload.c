/*
 * reload.c: SIGHUP. The new configuration is loaded and checked whole
 * while the old one keeps serving; listeners whose address and port stay
 * are handed over as they are, so a reload never refuses a player; a
 * broken file changes nothing but a "reload-failed" line.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

/* A listener of the old configuration that a new service can take over. */
struct slot {
	int		 fd;
	int		 port;
	struct svcstate	*from;
};

static struct svcstate *
reload_donor(struct daemon *d, const struct service *s,
    const struct slot *slots, int n)
{
	for (struct svcstate *st = d->states; st != NULL; st = st->next) {
		int taken = 0;

		if (st->removed || st->fd == -1 ||
		    st->svc->port != s->port ||
		    strcmp(st->svc->addr, s->addr) != 0)
			continue;
		/* "port = 0" picks a port: the same service keeps its own. */
		if (s->port == 0 && strcmp(st->name, s->name) != 0)
			continue;
		for (int j = 0; j < n; j++)
			taken |= slots[j].from == st;
		if (!taken)
			return st;
	}
	return NULL;
}

static void
reload_close_new(const struct slot *slots, int n)
{
	for (int j = 0; j < n; j++)
		if (slots[j].from == NULL)
			close(slots[j].fd);
}

/*
 * Returns -1, with everything it opened closed again, if a new listener
 * cannot be opened.
 */
static int
reload_listeners(struct daemon *d, struct config *nc, struct slot *slots,
    char *err, size_t errlen)
{
	int i = 0;

	for (struct service *s = nc->services; s != NULL; s = s->next, i++) {
		slots[i].from = reload_donor(d, s, slots, i);
		if (slots[i].from != NULL) {
			slots[i].fd = slots[i].from->fd;
			slots[i].port = slots[i].from->port;
			continue;
		}
		slots[i].fd = listen_open(s, &slots[i].port, err, errlen);
		if (slots[i].fd == -1) {
			reload_close_new(slots, i);
			return -1;
		}
	}
	return 0;
}

/*
 * Sessions stay with the run-time state of the service name that accepted
 * them, so their counts and per-source entries carry over. Cannot fail.
 */
static void
reload_commit(struct daemon *d, struct config *nc, const struct slot *slots)
{
	struct svcstate *st, *next;
	int i = 0;

	for (st = d->states; st != NULL; st = st->next) {
		int kept = 0;

		for (int j = 0; j < nc->nservices; j++)
			kept |= slots[j].from == st;
		if (st->fd != -1 && !st->paused)
			watch_listener(d, st, 0);
		if (!kept && st->fd != -1)
			close(st->fd);
		st->fd = -1;
		st->paused = 0;
		st->removed = 1;	/* revived below if it stays */
	}
	for (struct service *s = nc->services; s != NULL; s = s->next, i++) {
		for (st = d->states; st != NULL; st = st->next)
			if (st->removed && st->svc != NULL &&
			    strcmp(st->name, s->name) == 0)
				break;
		if (st == NULL && (st = listener_state_new(d, s->name)) == NULL)
			fatalx("out of memory");
		st->removed = 0;
		st->svc = s;
		st->rate = s->rate;
		st->burst = s->burst;
		st->fd = slots[i].fd;
		st->port = slots[i].port;
		watch_listener(d, st, 1);
	}
	for (st = d->states; st != NULL; st = next) {
		next = st->next;
		if (st->removed) {
			st->svc = NULL;
			listener_free_unused(d, st);
		}
	}
}

static void
reload_failed(struct daemon *d, struct config *nc, struct slot *slots,
    const char *err)
{
	d->counters[D_RELOAD_FAILURES]++;
	log_event("reload-failed error=%s", log_quote(err));
	free(slots);
	config_free(nc);
}

/* The admin listener stays where it is (admin-max-conns applies at once):
 * moving it would be the one step of a reload that could fail after the
 * services' listeners were taken over. */
static void
reload_keep_admin(const struct daemon *d, struct config *nc)
{
	const struct config *oc = d->conf;

	if ((nc->admin_addr == NULL) != (oc->admin_addr == NULL) ||
	    (nc->admin_addr != NULL && (strcmp(nc->admin_addr,
	    oc->admin_addr) != 0 || nc->admin_port != oc->admin_port)))
		log_warnx("reload: admin changes need a restart; keeping %s",
		    oc->admin_addr ? oc->admin_addr : "off");
	free(nc->admin_addr);
	nc->admin_addr = oc->admin_addr ? strdup(oc->admin_addr) : NULL;
	nc->admin_port = oc->admin_port;
}

void
reload(struct daemon *d)
{
	struct config *nc;
	struct slot *slots;
	char err[CHALD_ERRLEN];

	/* SIGHUP also rotates the log, whatever becomes of the reload. */
	if (log_configure(d->conf, d->cmd->foreground, err, sizeof(err)) == -1)
		log_warnx("%s", err);
	if (d->cmd->config_path == NULL) {
		log_event("reload-skipped reason=%s",
		    log_quote("no config file (command-line service)"));
		return;
	}
	nc = config_load(d->cmd, err, sizeof(err));
	if (nc == NULL) {
		d->counters[D_RELOAD_FAILURES]++;
		log_event("reload-failed error=%s", log_quote(err));
		return;
	}
	nc->verbose = d->conf->verbose;
	/* The pidfile is locked and held: it cannot move while running. */
	if ((nc->pidfile == NULL) != (d->conf->pidfile == NULL) ||
	    (nc->pidfile != NULL &&
	    strcmp(nc->pidfile, d->conf->pidfile) != 0))
		log_warnx("reload: pidfile changes need a restart; keeping %s",
		    d->conf->pidfile ? d->conf->pidfile : "none");
	free(nc->pidfile);
	nc->pidfile = d->conf->pidfile ? strdup(d->conf->pidfile) : NULL;
	reload_keep_admin(d, nc);
	slots = calloc(nc->nservices, sizeof(*slots));
	if (slots == NULL) {
		reload_failed(d, nc, slots, "out of memory");
		return;
	}
	if (reload_listeners(d, nc, slots, err, sizeof(err)) == -1) {
		reload_failed(d, nc, slots, err);
		return;
	}
	/* Last, as it registers the uid ranges: nothing may fail after it. */
	if (sandbox_check(&d->sandbox, nc, err, sizeof(err)) == -1) {
		reload_close_new(slots, nc->nservices);
		reload_failed(d, nc, slots, err);
		return;
	}
	pool_flush_all(d);
	reload_commit(d, nc, slots);
	free(slots);
	config_free(d->conf);
	d->conf = nc;
	if (log_configure(d->conf, d->cmd->foreground, err, sizeof(err)) == -1)
		log_warnx("%s", err);
	d->counters[D_RELOADS]++;
	log_event("reload services=%d", d->conf->nservices);
	jailview_warnings(d->conf, NULL);
	listener_announce(d);
}
