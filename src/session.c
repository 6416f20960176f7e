/*
 * session.c: a session's life in the parent. At accept: the caps and the
 * rate on its source, then a jail (from the pool or new) or an unjailed
 * spawn, its deadline and its "accept" line. While it runs: its stderr
 * pipe ("stderr = log"), its deadline, the signals of a shutdown. At its
 * end: the cgroup's verdict, the "end" line, and the counts given back.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

/*
 * One line for the player, the reason's own (reject_text), sent once
 * without waiting, then the close. Also for the gate's refusals.
 */
void
session_reject(struct svcstate *st, int fd, const char *ip, int port,
    enum reject_reason reason)
{
	struct service *s = st->svc;
	char line[MAX_REJECT_LINE];
	int n;

	n = snprintf(line, sizeof(line), "%s\n", reject_text(s, reason));
	if (n > 0 && send(fd, line, (size_t)n < sizeof(line) ? (size_t)n :
	    sizeof(line) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
		/* the player is gone already */
	}
	close(fd);
	metrics_refused(&st->metrics, reason);
	log_event("reject service=%s ip=%s port=%d reason=%s conns=%d/%d",
	    st->name, ip, port, reject_name(reason), st->conns, s->max_conns);
}

/*
 * "stderr = log": the challenge writes into a pipe and the daemon logs
 * what comes out, a line per event, up to STDERR_CAP bytes of events a
 * session. The challenge never holds the log itself (a terminal, or a file
 * it could truncate). The cap counts the bytes the events take in the log,
 * so one-byte lines cannot blow the log up, and it is passed by one event
 * at most (8 KiB); at the cap the pipe is closed, so the
 * challenge's next write fails (EPIPE) and the daemon spends nothing more
 * on it.
 */
#define STDERR_CAP	65536

static int
stderr_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1) {
		close(p[0]);
		close(p[1]);
		p[0] = p[1] = -1;
		return -1;
	}
	return 0;
}

/* Logs one line; returns -1 once the session's events reach the cap. */
static int
stderr_line(struct session *sess, const char *line)
{
	sess->errbytes += (size_t)log_event("stderr service=%s pid=%d line=%s",
	    sess->svc->name, (int)sess->pid, log_quote(line));
	return sess->errbytes >= STDERR_CAP ? -1 : 0;
}

/* Reads what is there (64 KiB a turn at most) and logs it line by line. */
void
session_stderr(struct daemon *d, struct session *sess)
{
	char buf[4096];
	ssize_t n;

	for (int i = 0; i < 16 && sess->errfd >= 0; i++) {
		n = read(sess->errfd, buf, sizeof(buf) - 1);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			unwatch_stderr(d, sess);
			return;
		}
		buf[n] = '\0';
		for (char *line = buf, *nl; line < buf + n; line = nl + 1) {
			nl = memchr(line, '\n', (size_t)(buf + n - line));
			if (nl == NULL)
				nl = buf + n;
			*nl = '\0';
			if (*line == '\0' || stderr_line(sess, line) == 0)
				continue;
			log_event("stderr-capped service=%s pid=%d bytes=%zu "
			    "cap=%d", sess->svc->name, (int)sess->pid,
			    sess->errbytes, STDERR_CAP);
			unwatch_stderr(d, sess);
			return;
		}
	}
}

/* A jail from the pool, or a new one, is handed the player's socket. */
static struct session *
session_jail(struct daemon *d, struct svcstate *st, int fd, int errfd,
    const char *ip, int port)
{
	struct session *sess = NULL;
	char err[CHALD_ERRLEN];

	/* Not one built before a redeploy (pool_check). A pooled jail may
	 * also have died unseen: then try a fresh one. */
	pool_check(d, st);
	for (int tries = 0; tries < 2; tries++) {
		sess = tries == 0 ? pool_take(st) : NULL;
		if (sess == NULL &&
		    (sess = jail_new(d, st, err, sizeof(err))) == NULL) {
			log_event("spawn-failed service=%s ip=%s port=%d %s",
			    st->name, ip, port, err);
			metrics_inc(&st->metrics, M_SPAWN_FAILED);
			close(fd);
			return NULL;
		}
		if (sandbox_handoff(sess, fd, errfd, ip, port) == 0) {
			/* Kept until the challenge runs: should the jail
			 * fail before, a fresh one gets the player. */
			sess->heldfd = fd;
			sess->helderr = errfd >= 0 ?
			    fcntl(errfd, F_DUPFD_CLOEXEC, 3) : -1;
			break;
		}
		log_event("spawn-failed service=%s ip=%s port=%d pid=%d "
		    "step=handoff error=%s", st->name, ip, port,
		    (int)sess->pid, log_quote(strerror(errno)));
		session_kill(sess, SIGKILL);	/* reaped as unserved */
		if (tries == 1) {
			metrics_inc(&st->metrics, M_SPAWN_FAILED);
			close(fd);
			return NULL;
		}
	}
	st->unserved--;
	watch_jail(d, sess, 1);
	return sess;
}

/*
 * The player's jail failed before its challenge ran (why): a jail of the
 * pool, which the redeploy check vouches for, or a fresh one, gets the
 * player's socket, which the failed jail never wrote to, and the session
 * goes on in it, up to RESPAWNS times a session (a redeploy by
 * rename-and-copy leaves the directory missing for a few milliseconds,
 * about as long as a jail takes to fail); the failed jail ends as one that
 * never had a player.
 */
#define RESPAWNS	3
void
session_rejail(struct daemon *d, struct session *old, const char *why)
{
	struct svcstate *st = old->svc;
	struct session *sess = NULL;
	char err[CHALD_ERRLEN];
	int sock = old->heldfd, errw = old->helderr;

	if (sock < 0)
		return;
	old->heldfd = old->helderr = -1;
	session_kill(old, SIGKILL);
	snprintf(err, sizeof(err), "%s", why);
	/* Not for a session that was being ended anyway (its timeout). */
	if (st->svc == NULL || !st->svc->sandbox || d->shutting_down ||
	    old->cause != CAUSE_NONE || old->respawns >= RESPAWNS)
		goto fail;
	pool_check(d, st);
	if ((sess = pool_take(st)) == NULL &&
	    (sess = jail_new(d, st, err, sizeof(err))) == NULL)
		goto fail;
	if (sandbox_handoff(sess, sock, errw, old->ip, old->port) == -1) {
		snprintf(err, sizeof(err), "step=handoff error=%s",
		    log_quote(strerror(errno)));
		session_kill(sess, SIGKILL);	/* reaped as unserved */
		goto fail;
	}
	/* Still held, for the next try should this jail fail too. */
	sess->heldfd = sock;
	sess->helderr = errw;
	sess->respawns = old->respawns + 1;
	st->unserved--;
	watch_jail(d, sess, 1);
	/* The player's accounting moves over; old is a jail without one. */
	sess->port = old->port;
	snprintf(sess->ip, sizeof(sess->ip), "%s", old->ip);
	sess->start_ms = old->start_ms;
	sess->src = old->src;
	sess->tracked = old->tracked;
	old->tracked = 0;
	if (old->deadline.idx != SIZE_MAX) {
		if (sesstable_set_deadline(&d->sessions, sess,
		    old->deadline.at) == -1)
			session_kill(sess, SIGKILL);
		sesstable_clear_deadline(&d->sessions, old);
	}
	watch_stderr_move(d, old, sess);
	old->served = 0;
	st->unserved++;
	log_event("respawn service=%s ip=%s port=%d pid=%d failed_pid=%d %s",
	    st->name, sess->ip, sess->port, (int)sess->pid, (int)old->pid,
	    why);
	return;
fail:
	log_event("spawn-failed service=%s ip=%s port=%d pid=%d %s", st->name,
	    old->ip, old->port, (int)old->pid, err);
	close(sock);
	if (errw >= 0)
		close(errw);
}

/* An unjailed session: fork+exec the vfork way (spawn.c). */
static struct session *
session_spawn(struct daemon *d, struct svcstate *st, int fd, int errfd,
    const struct sockaddr *sa, const char *ip, int port)
{
	struct spawn_req req = { .svc = st->svc, .sock = fd, .errfd = errfd,
	    .peer = sa, .peer_ip = ip, .peer_port = port };
	struct session *sess = calloc(1, sizeof(*sess));
	char err[CHALD_ERRLEN];
	pid_t pid, failed;
	int pfd;

	if (sess == NULL) {
		session_reject(st, fd, ip, port, REJ_NO_MEMORY);
		return NULL;
	}
	pid = spawn_session(&req, &pfd, &failed, err, sizeof(err));
	if (pid == -1 || !st->svc->kill_disc) {
		close(fd);
		fd = -1;	/* else the daemon watches it (peer.c) */
	}
	if (pid == -1) {
		log_event("spawn-failed service=%s ip=%s port=%d %s", st->name,
		    ip, port, err);
		metrics_inc(&st->metrics, M_SPAWN_FAILED);
		if (failed > 0)
			waitpid(failed, NULL, 0);
		free(sess);
		return NULL;
	}
	sess->pid = pid;
	sess->pidfd = pfd;
	sess->ctlfd = -1;
	sess->errfd = -1;
	sess->heldfd = -1;
	sess->helderr = -1;
	sess->svc = st;
	if (sesstable_add(&d->sessions, sess) == -1) {
		/* No memory to track it: don't run it untracked. */
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (pfd >= 0)
			close(pfd);
		if (fd >= 0)
			close(fd);
		free(sess);
		log_event("spawn-failed service=%s ip=%s port=%d step=memory "
		    "error=%s", st->name, ip, port, log_quote(strerror(ENOMEM)));
		metrics_inc(&st->metrics, M_SPAWN_FAILED);
		return NULL;
	}
	watch_exit(d, sess);
	peer_watch(d->epfd, sess, fd);
	return sess;
}

/*
 * The caps, and the rate unless the gate took the token already, on the
 * client's prefix: returns the source entry to count the session in (NULL
 * when none is kept), or sets *reason.
 */
static struct source *
session_caps(struct svcstate *st, const struct sockaddr *sa,
    struct srckey *key, int take_token, int64_t now, int *reason)
{
	struct service *s = st->svc;
	struct source *src = NULL;

	*reason = -1;
	if (s->per_ip > 0 || s->rate > 0) {
		srckey_make(key, sa, s->v4_prefix, s->v6_prefix);
		src = srctable_get(&st->sources, key, 1);
		if (src == NULL)
			*reason = REJ_NO_MEMORY;
		else if (take_token &&
		    !source_take_token(src, s->rate, s->burst, now))
			*reason = REJ_RATE;
		else if (s->per_ip > 0 && src->conns >= s->per_ip)
			*reason = REJ_PER_IP;
	}
	if (*reason == -1 && s->max_conns > 0 && st->conns >= s->max_conns)
		*reason = REJ_MAX_CONNS;
	return src;
}

/* For the gate, before its proof of work: -1, or why not. */
int
session_admit(struct daemon *d, struct svcstate *st,
    const struct sockaddr *sa)
{
	struct srckey key;
	int reason;

	(void)d;
	session_caps(st, sa, &key, 1, now_ms(), &reason);
	return reason;
}

static void
session_log_accept(const struct svcstate *st, const struct session *sess,
    const struct sockaddr *via)
{
	char vbuf[INET6_ADDRSTRLEN + 8] = "", uid[24] = "";
	int vport;

	if (via != NULL) {
		char vip[INET6_ADDRSTRLEN];

		addr_format(via, vip, sizeof(vip), &vport);
		snprintf(vbuf, sizeof(vbuf), " via=%s", vip);
	}
	if (sess->jailed)
		snprintf(uid, sizeof(uid), " uid=%u", (unsigned)sess->uid);
	log_event("accept service=%s ip=%s port=%d%s pid=%d conns=%d/%d%s",
	    st->name, sess->ip, sess->port, vbuf, (int)sess->pid, st->conns,
	    st->svc->max_conns, uid);
}

/*
 * The player is sa; via is the balancer that relayed it, or NULL. A
 * connection the gate admitted has had its rate token taken there.
 */
void
session_start(struct daemon *d, struct svcstate *st, int fd,
    const struct sockaddr *sa, const struct sockaddr *via, int admitted)
{
	struct service *s = st->svc;
	struct source *src;
	struct session *sess;
	struct srckey key;
	char ip[INET6_ADDRSTRLEN];
	int reason, port, errp[2] = { -1, -1 };
	int64_t now = now_ms(), t0 = now_us();

	metrics_inc(&st->metrics, M_ACCEPTED);
	addr_format(sa, ip, sizeof(ip), &port);
	src = session_caps(st, sa, &key, !admitted, now, &reason);
	if (reason == -1 && s->stderr_mode == STDERR_LOG &&
	    stderr_pipe(errp) == -1)
		reason = REJ_NO_FDS;
	if (reason != -1) {
		session_reject(st, fd, ip, port, (enum reject_reason)reason);
		return;
	}
	sess = s->sandbox ? session_jail(d, st, fd, errp[1], ip, port) :
	    session_spawn(d, st, fd, errp[1], sa, ip, port);
	if (errp[1] >= 0)
		close(errp[1]);
	if (sess == NULL) {
		if (errp[0] >= 0)
			close(errp[0]);
		return;
	}
	/* Unjailed, the spawn returns after the exec; a jail tells when it
	 * has exec'd (jail_event). */
	sess->accept_us = t0;
	if (!sess->jailed)
		metrics_exec(&st->metrics, 0, (double)(now_us() - t0) / 1e6);
	metrics_inc(&st->metrics, M_STARTED);
	watch_stderr(d, sess, errp[0]);
	sess->port = port;
	snprintf(sess->ip, sizeof(sess->ip), "%s", ip);
	sess->start_ms = now;
	if (src != NULL) {
		sess->src = key;
		sess->tracked = 1;
		src->conns++;
	}
	if (s->timeout_ms > 0 && sesstable_set_deadline(&d->sessions, sess,
	    now + s->timeout_ms) == -1)
		session_kill(sess, SIGKILL);	/* no deadline: don't run it */
	st->conns++;
	session_log_accept(st, sess, via);
}

/*
 * A jailed session's init cannot die of a signal (it is pid 1 of its
 * namespace), so it exits with 128+N for a challenge killed by signal N.
 */
static void
status_decode(const struct session *sess, int status, int *sig, int *code)
{
	*sig = 0;
	*code = 0;
	if (WIFSIGNALED(status))
		*sig = WTERMSIG(status);
	else if (sess->jailed && WEXITSTATUS(status) > 128 &&
	    WEXITSTATUS(status) <= 128 + 64)
		*sig = WEXITSTATUS(status) - 128;
	else
		*code = WEXITSTATUS(status);
}

static enum ended
end_cause(const struct session *sess, int sig, int code,
    const struct cgstats *cg, int64_t cpu_ms)
{
	switch (sess->cause) {
	case CAUSE_TIMEOUT:
		return ENDED_TIMEOUT;
	case CAUSE_SHUTDOWN:
		return ENDED_SHUTDOWN;
	case CAUSE_DISCONNECT:
		return ENDED_DISCONNECT;
	case CAUSE_NONE:
		break;
	}
	if (sig == SIGSYS && cg->seccomp)
		return ENDED_SECCOMP;	/* the filter's only kill */
	if (cg->oom)
		return ENDED_OOM;
	if (sig == SIGXCPU || (sig == SIGKILL && sess->cpu_time_ms > 0 &&
	    cpu_ms >= sess->cpu_time_ms))
		return ENDED_CPU_TIME;
	/* A fork that failed at the cap only matters if the session died. */
	if (cg->pids_max && (sig != 0 || code != 0))
		return ENDED_PIDS;
	return sig ? ENDED_SIGNAL : ENDED_EXIT;
}

void
session_end(struct daemon *d, struct session *sess, int status,
    const struct rusage *ru)
{
	struct svcstate *st = sess->svc;
	struct cgstats cg = { .peak = -1, .cpu_us = -1 };
	int64_t now = now_ms(), cpu_ms;
	long long peak;
	char how[32], extra[96] = "";
	int sig, code;
	enum ended cause;

	cpu_ms = (int64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000 +
	    (ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1000;
	unwatch_exit(d, sess);
	peer_unwatch(d->epfd, sess);
	if (sess->errfd >= 0) {
		session_stderr(d, sess);	/* what came before the end */
		unwatch_stderr(d, sess);
	}
	if (sess->jailed) {
		if (sess->cause == CAUSE_NONE && sandbox_player_gone(sess))
			sess->cause = CAUSE_DISCONNECT;
		jail_close_ctl(d, sess);
		jail_release_held(sess);
		sandbox_end(&d->sandbox, sess, &cg);
		snprintf(extra, sizeof(extra), " uid=%u", (unsigned)sess->uid);
		/* The kernel reaps what is left of a pid namespace itself, so
		 * only the cgroup knows the whole session's CPU time. */
		if (cg.cpu_us >= 0)
			cpu_ms = cg.cpu_us / 1000;
	}
	peak = cg.peak >= 0 ? cg.peak : (long long)ru->ru_maxrss * 1024;
	status_decode(sess, status, &sig, &code);
	cause = end_cause(sess, sig, code, &cg, cpu_ms);
	metrics_ended(&st->metrics, cause, (double)(now - sess->start_ms) / 1000);
	if (cg.oom)
		metrics_inc(&st->metrics, M_OOM_KILLS);
	if (sig)
		snprintf(how, sizeof(how), "signal:%d", sig);
	else
		snprintf(how, sizeof(how), "exit:%d", code);
	if (cause == ENDED_SECCOMP && cg.syscall[0] != '\0')
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
		    " syscall=%s", cg.syscall);
	log_event("end service=%s pid=%d ip=%s port=%d status=%s cause=%s "
	    "secs=%.3f cpu_secs=%.3f peak_mem=%lld%s", st->name,
	    (int)sess->pid, sess->ip, sess->port, how, ended_name(cause),
	    (double)(now - sess->start_ms) / 1000, (double)cpu_ms / 1000, peak,
	    extra);
	if (sess->pidfd >= 0)		/* a jail's is closed by sandbox_end */
		close(sess->pidfd);
	sesstable_remove(&d->sessions, sess);
	st->conns--;
	if (sess->tracked)
		srctable_release(&st->sources, &sess->src, st->rate,
		    st->burst, now);
	listener_free_unused(d, st);
	free(sess);
}

void
session_expire(struct daemon *d, int64_t now)
{
	struct session *sess;

	while ((sess = sesstable_next_deadline(&d->sessions)) != NULL &&
	    sess->deadline.at <= now) {
		session_kill(sess, SIGKILL);
		sess->cause = CAUSE_TIMEOUT;
		sesstable_clear_deadline(&d->sessions, sess);
	}
}

void
session_signal_all(struct daemon *d, int sig, enum end_cause cause)
{
	struct sesstable *t = &d->sessions;

	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct session *s = t->buckets[i]; s != NULL;
		    s = s->hnext) {
			session_kill(s, sig);
			if (s->cause == CAUSE_NONE)
				s->cause = cause;
		}
}

/* Sessions with a player; pooled jails are not counted. */
size_t
session_served(const struct daemon *d)
{
	size_t n = d->sessions.count;

	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		n -= (size_t)st->unserved;
	return n;
}
