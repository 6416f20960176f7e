/*
 * pool.c: jails as the daemon sees them before and while they get a
 * player: started ahead for a service's pool, or at accept when none is
 * ready; their control sockets; and the end of a jail that never had a
 * player. sandbox.c builds and ends the jail itself.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define POOL_PAUSE_MS	1000	/* after a jail of the service failed */

/*
 * epoll watches the file, not the fd: the registration goes first, so
 * that no other reference to the file can keep it alive after close().
 */
void
jail_close_ctl(struct daemon *d, struct session *sess)
{
	if (sess->ctlfd < 0)
		return;
	watch_jail(d, sess, 0);
	close(sess->ctlfd);
	sess->ctlfd = -1;
}

struct session *
jail_new(struct daemon *d, struct svcstate *st, char *err, size_t errlen)
{
	struct session *sess = calloc(1, sizeof(*sess));

	if (sess == NULL) {
		snprintf(err, errlen, "step=memory error=%s",
		    log_quote(strerror(ENOMEM)));
		return NULL;
	}
	sess->kind = EV_JAIL;
	sess->svc = st;
	sess->pidfd = -1;
	sess->ctlfd = -1;
	sess->errfd = -1;
	if (sandbox_start(&d->sandbox, st->svc, sess, err, errlen) == -1) {
		free(sess);
		return NULL;
	}
	if (sesstable_add(&d->sessions, sess) == -1) {
		/* Untracked it cannot be reaped properly: don't run it. */
		session_kill(sess, SIGKILL);
		waitpid(sess->pid, NULL, 0);
		close(sess->ctlfd);
		sandbox_end(&d->sandbox, sess, &(struct cgstats){ 0 });
		free(sess);
		snprintf(err, errlen, "step=memory error=%s",
		    log_quote(strerror(ENOMEM)));
		return NULL;
	}
	st->unserved++;
	watch_jail(d, sess, 1);
	watch_exit(d, sess);
	return sess;
}

/* Takes a jail out of the pool's counts (served, failed or flushed). */
static void
pool_forget(struct session *sess)
{
	struct svcstate *st = sess->svc;

	if (!sess->pooled)
		return;
	sess->pooled = 0;
	if (sess->state == JAIL_STARTING) {
		st->pool_starting--;
		return;
	}
	st->pool_ready--;
	for (struct session **pp = &st->pool; *pp != NULL;
	    pp = &(*pp)->pnext)
		if (*pp == sess) {
			*pp = sess->pnext;
			break;
		}
}

struct session *
pool_take(struct svcstate *st)
{
	struct session *sess = st->pool;

	if (sess == NULL)
		return NULL;
	pool_forget(sess);
	return sess;
}

/* Pooled jails were built for settings that no longer hold. */
void
pool_flush_all(struct daemon *d)
{
	struct sesstable *t = &d->sessions;

	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct session *s = t->buckets[i]; s != NULL;
		    s = s->hnext)
			if (s->pooled) {
				pool_forget(s);
				session_kill(s, SIGKILL);
			}
}

/* Builds jails for the pool, a few per loop turn so accepts come first;
 * returns how many the pools still lack. */
int
pool_refill_all(struct daemon *d, int64_t now)
{
	char err[CHALD_ERRLEN];
	int deficit = 0;

	if (d->shutting_down)
		return 0;
	if (now < d->last_accept_ms + POOL_QUIET_MS)
		return 1;	/* come back when it is quiet */
	for (struct svcstate *st = d->states; st != NULL; st = st->next) {
		struct service *s = st->svc;
		int started = 0;

		if (st->removed || s == NULL || !s->sandbox ||
		    now < st->pool_pause_until_ms)
			continue;
		while (st->pool_ready + st->pool_starting < s->pool &&
		    started < 2) {
			struct session *sess = jail_new(d, st, err,
			    sizeof(err));

			if (sess == NULL) {
				log_event("pool-failed service=%s %s",
				    st->name, err);
				metrics_inc(&st->metrics, M_POOL_FAILED);
				st->pool_pause_until_ms = now + POOL_PAUSE_MS;
				break;
			}
			sess->pooled = 1;
			st->pool_starting++;
			started++;
		}
		if (now >= st->pool_pause_until_ms)
			deficit += s->pool - st->pool_ready - st->pool_starting;
	}
	return deficit;
}

/* The earlier of t and when the pools want the loop back. */
int64_t
pool_next_wake(const struct daemon *d, int64_t now, int64_t t)
{
	if (d->pool_deficit > 0)
		t = now < d->last_accept_ms + POOL_QUIET_MS ?
		    d->last_accept_ms + POOL_QUIET_MS : now;
	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		if (st->pool_pause_until_ms > now &&
		    st->pool_pause_until_ms < t)
			t = st->pool_pause_until_ms;
	return t;
}

/* What a jail's init said on its control socket. */
void
jail_event(struct daemon *d, struct session *sess)
{
	struct svcstate *st = sess->svc;
	char err[CHALD_ERRLEN];
	int r = sandbox_ctl_read(sess, err, sizeof(err));

	switch (r) {
	case STEP_NONE:
		break;
	case STEP_EXECD:
		if (sess->served)
			metrics_exec(&st->metrics, 1,
			    (double)(now_us() - sess->accept_us) / 1e6);
		jail_close_ctl(d, sess);
		break;
	case STEP_READY:
		if (sess->served || !sess->pooled)
			break;
		/* Nothing more to hear until it has a player. */
		watch_jail(d, sess, 0);
		st->pool_starting--;
		sess->pnext = st->pool;
		st->pool = sess;
		st->pool_ready++;
		break;
	default:
		if (sess->served) {
			log_event("spawn-failed service=%s ip=%s port=%d pid=%d "
			    "%s", st->name, sess->ip, sess->port,
			    (int)sess->pid, err);
			metrics_inc(&st->metrics, M_EXEC_FAILED);
		} else if (sess->pooled) {
			/* A flushed jail dies on purpose: nothing to report. */
			log_event("pool-failed service=%s pid=%d %s", st->name,
			    (int)sess->pid, err);
			metrics_inc(&st->metrics, M_POOL_FAILED);
			pool_forget(sess);
			st->pool_pause_until_ms = now_ms() + POOL_PAUSE_MS;
		}
		jail_close_ctl(d, sess);
		break;
	}
}

/* A jail that never had a player: nothing to log but its cleanup. */
void
jail_end(struct daemon *d, struct session *sess, int status)
{
	struct svcstate *st = sess->svc;
	struct cgstats cg;

	log_debug("jail-end service=%s pid=%d status=0x%x", st->name,
	    (int)sess->pid, status);
	pool_forget(sess);
	unwatch_exit(d, sess);
	jail_close_ctl(d, sess);
	sandbox_end(&d->sandbox, sess, &cg);
	sesstable_remove(&d->sessions, sess);
	st->unserved--;
	listener_free_unused(d, st);
	free(sess);
}
