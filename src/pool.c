/*
 * pool.c: jails as the daemon sees them before and while they get a
 * player: started ahead for a service's pool, or at accept when none is
 * ready; their control sockets; and the end of a jail that never had a
 * player. sandbox.c builds and ends the jail itself.
 *
 * A jail that can no longer run its challenge is never handed to a
 * player: the pool is rebuilt when a directory its jails bound has been
 * replaced (a redeploy, pool_check), and a player's jail that fails
 * before the challenge runs says so (JAIL_RETRY), so that the player can
 * be handed to a fresh one (session_rejail).
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
#define POOL_IDENT_MS	1000	/* the refill looks for a redeploy this often
				   (an accept from the pool looks each time) */

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
	sess->heldfd = -1;
	sess->helderr = -1;
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

/* The player's socket is the challenge's now, or the player is gone. */
void
jail_release_held(struct session *sess)
{
	if (sess->heldfd >= 0)
		close(sess->heldfd);
	if (sess->helderr >= 0)
		close(sess->helderr);
	sess->heldfd = sess->helderr = -1;
}

/* Pooled jails (of st, or of every service) were built for what no
 * longer holds; returns how many were killed. */
static int
pool_flush(struct daemon *d, const struct svcstate *st)
{
	struct sesstable *t = &d->sessions;
	int n = 0;

	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct session *s = t->buckets[i]; s != NULL;
		    s = s->hnext)
			if (s->pooled && (st == NULL || s->svc == st)) {
				pool_forget(s);
				session_kill(s, SIGKILL);
				n++;
			}
	return n;
}

void
pool_flush_all(struct daemon *d)
{
	pool_flush(d, NULL);
}

/* Records what the jails about to be built will bind. */
static void
pool_ident(struct svcstate *st)
{
	if (jailid_take(st->svc, &st->ident, &st->nident) == -1)
		st->nident = 0;		/* no memory: nothing to compare */
	st->ident_svc = st->svc;
}

/*
 * Before a jail of the pool is handed out, and at each refill: has a
 * directory the pool's jails bound been replaced since they were built?
 * Then they are killed, the pool is built anew, and 1 is returned.
 */
int
pool_check(struct daemon *d, struct svcstate *st)
{
	char path[PATH_MAX];
	int n;

	if (st->svc == NULL || !st->svc->sandbox || st->svc->pool == 0)
		return 0;
	if (st->ident_svc != st->svc) {
		pool_ident(st);
		return 0;
	}
	if (!jailid_changed(st->svc, st->ident, st->nident, path,
	    sizeof(path)))
		return 0;
	n = pool_flush(d, st);
	log_event("redeploy service=%s path=%s jails=%d", st->name,
	    log_quote(path), n);
	pool_ident(st);
	return 1;
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
		/* An empty pool records what its first jail will bind; a
		 * full one is checked against that record. */
		if (s->pool > 0 && st->pool_ready + st->pool_starting == 0)
			pool_ident(st);
		else if (s->pool > 0 && now >= st->ident_next_ms) {
			pool_check(d, st);
			st->ident_next_ms = now + POOL_IDENT_MS;
		}
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
	/* Jails first; then one network namespace checked or made. */
	if (deficit == 0)
		netpool_idle(&d->sandbox.net);
	return deficit;
}

/* The earlier of t and when the pools want the loop back. */
int64_t
pool_next_wake(const struct daemon *d, int64_t now, int64_t t)
{
	int64_t net = netpool_next_ms(&d->sandbox.net);

	if (net >= 0 && net < t)
		t = net < d->last_accept_ms + POOL_QUIET_MS ?
		    d->last_accept_ms + POOL_QUIET_MS : net;
	if (d->pool_deficit > 0)
		t = now < d->last_accept_ms + POOL_QUIET_MS ?
		    d->last_accept_ms + POOL_QUIET_MS : now;
	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		if (st->pool_pause_until_ms > now &&
		    st->pool_pause_until_ms < t)
			t = st->pool_pause_until_ms;
	return t;
}

/*
 * What a jail's init said on its control socket: JAIL_QUIET when nothing
 * was there, JAIL_RETRY when a jail with a player failed before its
 * challenge ran and still holds the player's socket (err says why), else
 * JAIL_DONE.
 */
int
jail_event(struct daemon *d, struct session *sess, char *err, size_t errlen)
{
	struct svcstate *st = sess->svc;
	int r = sandbox_ctl_read(sess, err, errlen);

	switch (r) {
	case STEP_NONE:
		return JAIL_QUIET;
	case STEP_EXECD:
		if (sess->served)
			metrics_exec(&sess->svc->metrics, 1,
			    (double)(now_us() - sess->accept_us) / 1e6);
		/* Kept, unpolled: init may say the player went (STEP_GONE),
		 * read when the session ends. */
		watch_jail(d, sess, 0);
		jail_release_held(sess);
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
		jail_close_ctl(d, sess);
		if (sess->served && sess->heldfd >= 0)
			return JAIL_RETRY;	/* nothing was sent to the
						   player yet */
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
		break;
	}
	return JAIL_DONE;
}

/*
 * A jail with a player has exited: what it said before, all of it in the
 * socket by now, tells whether its challenge ran (JAIL_DONE) or it failed
 * before (JAIL_RETRY). Once the challenge ran, what is left there is for
 * session_end (STEP_GONE, sandbox_player_gone).
 */
int
jail_settle(struct daemon *d, struct session *sess, char *err, size_t errlen)
{
	for (int i = 0; i < 4 && sess->ctlfd >= 0 && sess->state != JAIL_LIVE;
	    i++) {
		int r = jail_event(d, sess, err, errlen);

		if (r != JAIL_DONE)
			return r == JAIL_RETRY ? JAIL_RETRY : JAIL_DONE;
	}
	return JAIL_DONE;
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
	jail_release_held(sess);
	sandbox_end(&d->sandbox, sess, &cg);
	sesstable_remove(&d->sessions, sess);
	st->unserved--;
	listener_free_unused(d, st);
	free(sess);
}
