/*
 * health.c: the services' health checks, as kCTF runs them beside a
 * challenge. Every healthcheck-interval, the service's "healthcheck"
 * program (the author's solver) is run against the service's own listener
 * (CHALD_HOST, CHALD_PORT in its environment) as healthcheck-user, with
 * /dev/null as stdin and a pipe as stdout and stderr; exit 0 is healthy.
 * It runs in a session and process group of its own, and is killed with
 * it at healthcheck-timeout. The first HEALTH_OUT_KEEP bytes of its output
 * are kept for the log line of a failure, the rest read and dropped.
 *
 * A check is a child of the daemon but not a session: it is never in the
 * session table, its pidfd has a tag of its own (EV_HEALTH_EXIT), and the
 * SIGCHLD sweep (reap.c) hands any pid it finds that is a check's here
 * (health_reap_pid) instead of reaping it as an unknown child. The result
 * is shown by /healthz (health_page), /metrics and /status (metrics.c).
 *
 * The child is cloned like an unjailed session (spawn.c): CLONE_VM and
 * CLONE_VFORK, so nothing of the daemon is copied and the daemon waits
 * only for the exec, and CLONE_FILES with the fd table unshared from the
 * end of the spawn slots, so its cost does not grow with the sessions.
 */
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define HEALTH_ENV_MAX	8

/* Shared with the CLONE_VM child, which reports a failed step here. */
struct health_ctx {
	char		**argv;
	char		**envp;
	const char	*dir;
	int		 drop;		/* change to uid/gid (daemon is root) */
	uid_t		 uid;
	gid_t		 gid;
	enum spawn_step	 step;
	int		 err;
};

/* Runs on the spawn stack in the daemon's memory; see spawn.c. */
static int __attribute__((no_sanitize("address")))
health_child(void *arg)
{
	struct health_ctx *c = arg;
	sigset_t none;
	int out, null;

	c->step = STEP_FDS;
	if (spawn_unshare_fds() == -1)
		goto fail;
	out = spawn_slot(SLOT_ERR);
	c->step = STEP_SIGNALS;
	if (child_signals() == -1)
		goto fail;
	c->step = STEP_SETSID;
	if (setsid() == -1)
		goto fail;
	c->step = STEP_FDS;
	if ((null = open("/dev/null", O_RDONLY | O_NOCTTY)) == -1 ||
	    dup2(null, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1 ||
	    syscall(SYS_close_range, 3U, ~0U, 0U) == -1)
		goto fail;
	/* Raw system calls: glibc's set*id would look for other threads in
	 * the memory this child shares with the daemon. */
	c->step = STEP_PRIVILEGES;
	if (c->drop && (syscall(SYS_setgroups, 0, NULL) == -1 ||
	    syscall(SYS_setresgid, c->gid, c->gid, c->gid) == -1 ||
	    syscall(SYS_setresuid, c->uid, c->uid, c->uid) == -1))
		goto fail;
	c->step = STEP_CHDIR;
	if (chdir(c->dir) == -1)
		goto fail;
	c->step = STEP_EXEC;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(c->argv[0], c->argv, c->envp);
fail:
	c->err = errno;
	_exit(127);
}

/* Where the check connects: the listener's own address, or loopback for
 * a wildcard one ("::" is dual-stack, so 127.0.0.1 reaches it). */
static const char *
health_host(const struct service *s)
{
	if (strcmp(s->addr, "::") == 0 || strcmp(s->addr, "0.0.0.0") == 0)
		return "127.0.0.1";
	return s->addr;
}

static void
health_record(struct svcstate *st, int ok, double secs, const char *why)
{
	struct health *h = &st->health;

	h->result = ok ? HEALTH_PASSED : HEALTH_FAILED;
	h->last_secs = secs;
	h->runs[ok != 0]++;
	snprintf(h->why, sizeof(h->why), "%s", ok ? "" : why);
}

/* A check that could not even start: a failure like any other. */
static void
health_failed_start(struct svcstate *st, int64_t now, const char *what,
    int error)
{
	char why[64];

	snprintf(why, sizeof(why), "%s: %s", what, strerror(error));
	health_record(st, 0, 0, why);
	st->health.next_ms = now + st->svc->hc_interval_ms;
	log_event("healthcheck service=%s ok=0 secs=0.000 step=%s error=%s",
	    st->name, what, log_quote(strerror(error)));
}

static void
health_start(struct daemon *d, struct svcstate *st, int64_t now)
{
	const struct service *s = st->svc;
	struct health *h = &st->health;
	char host[80], port[32], name[300], dir[PATH_MAX], *slash;
	char bypass[96];
	char *envp[HEALTH_ENV_MAX];
	struct health_ctx c = { .argv = s->hc_argv, .envp = envp, .dir = dir,
	    .uid = s->hc_uid, .gid = s->hc_gid, .step = STEP_NONE };
	sigset_t all, old;
	int p[2], pidfd = -1, n = 0, cerr;
	pid_t pid;

	snprintf(host, sizeof(host), "CHALD_HOST=%s", health_host(s));
	snprintf(port, sizeof(port), "CHALD_PORT=%d", st->port);
	snprintf(name, sizeof(name), "CHALD_SERVICE=%s", st->name);
	envp[n++] = host;
	envp[n++] = port;
	envp[n++] = name;
	envp[n++] = "PATH=/usr/local/bin:/usr/bin:/bin";
	envp[n++] = "HOME=/";
	/* A proof of work is answered by a secret made at start, which the
	 * gate takes as the solution (gate.c): the check need not solve it. */
	if (s->gate.pow > 0) {
		snprintf(bypass, sizeof(bypass), "CHALD_POW_BYPASS=%s",
		    d->pow_secret);
		envp[n++] = bypass;
	}
	envp[n] = NULL;
	snprintf(dir, sizeof(dir), "%s", s->hc_argv[0]);
	slash = strrchr(dir, '/');
	*(slash == dir ? slash + 1 : slash) = '\0';
	/* Not root: the check can only run as the daemon's own user. */
	c.drop = geteuid() == 0;

	if (pipe2(p, O_CLOEXEC) == -1) {
		health_failed_start(st, now, "pipe", errno);
		return;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if (spawn_slot_set(SLOT_ERR, p[1]) == -1) {
		int e = errno;

		sigprocmask(SIG_SETMASK, &old, NULL);
		close(p[0]);
		close(p[1]);
		health_failed_start(st, now, "fds", e);
		return;
	}
	pid = clone(health_child, spawn_stack(), CLONE_VM | CLONE_VFORK |
	    CLONE_FILES | CLONE_PIDFD | SIGCHLD, &c, &pidfd);
	if (pid == -1 && (errno == EMFILE || errno == ENFILE)) {
		pidfd = -1;	/* the SIGCHLD sweep will reap it */
		pid = clone(health_child, spawn_stack(), CLONE_VM |
		    CLONE_VFORK | CLONE_FILES | SIGCHLD, &c);
	}
	cerr = pid == -1 ? errno : c.err;
	spawn_slot_set(SLOT_ERR, -1);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	if (pid == -1 || c.err != 0) {
		/* A failed child has _exit()ed already: reaped at once. */
		if (pid > 0)
			waitpid(pid, NULL, 0);
		if (pidfd >= 0)
			close(pidfd);
		close(p[0]);
		health_failed_start(st, now, pid == -1 ? "clone" :
		    spawn_step_name(c.step), cerr);
		return;
	}
	h->pid = pid;
	h->pidfd = pidfd;
	h->outfd = p[0];
	h->outlen = 0;
	h->killed = HEALTH_RUNNING;
	h->start_us = now_us();
	h->deadline_ms = now + s->hc_timeout_ms;
	h->exittag.kind = EV_HEALTH_EXIT;
	h->exittag.st = st;
	h->outtag.kind = EV_HEALTH_OUT;
	h->outtag.st = st;
	watch_fd(d, pidfd, &h->exittag, 1);
	watch_fd(d, h->outfd, &h->outtag, 1);
	d->health_running++;
	log_debug("healthcheck-start service=%s pid=%d pidfd=%s", st->name,
	    (int)pid, pidfd >= 0 ? "yes" : "no");
}

/* What the check wrote: the start is kept, the rest dropped. */
void
health_output(struct daemon *d, struct svcstate *st)
{
	struct health *h = &st->health;
	char buf[4096];

	for (int i = 0; i < 16 && h->outfd >= 0; i++) {
		ssize_t n = read(h->outfd, buf, sizeof(buf));

		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			watch_fd(d, h->outfd, &h->outtag, 0);
			close(h->outfd);
			h->outfd = -1;
			return;
		}
		if (h->outlen < sizeof(h->out) - 1) {
			size_t take = sizeof(h->out) - 1 - h->outlen;

			if (take > (size_t)n)
				take = (size_t)n;
			memcpy(h->out + h->outlen, buf, take);
			h->outlen += take;
		}
	}
}

static void
health_verdict(struct svcstate *st, int status, double secs)
{
	struct health *h = &st->health;
	char why[64];
	int ok = 0;

	if (h->killed == HEALTH_TIMED_OUT)
		snprintf(why, sizeof(why), "timeout");
	else if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "signal:%d", WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		snprintf(why, sizeof(why), "exit:%d", WEXITSTATUS(status));
	else
		ok = 1;
	health_record(st, ok, secs, why);
	h->out[h->outlen] = '\0';
	if (ok)
		log_event("healthcheck service=%s ok=1 secs=%.3f", st->name,
		    secs);
	else
		log_event("healthcheck service=%s ok=0 secs=%.3f status=%s "
		    "output=%s", st->name, secs, why, log_quote(h->out));
}

/*
 * Collects the check once it has exited. Its process group goes first,
 * while the zombie still holds the group id: whatever the solver left
 * running (a netcat in the background) ends with it.
 */
static int
health_collect(struct daemon *d, struct svcstate *st)
{
	struct health *h = &st->health;
	int64_t now = now_ms();
	int status = 0;
	pid_t r;

	kill(-h->pid, SIGKILL);
	r = wait4(h->pid, &status, WNOHANG, NULL);
	if (r == 0)
		return -1;
	if (h->outfd >= 0)
		health_output(d, st);
	if (h->outfd >= 0) {
		watch_fd(d, h->outfd, &h->outtag, 0);
		close(h->outfd);
	}
	if (h->pidfd >= 0) {
		watch_fd(d, h->pidfd, &h->exittag, 0);
		close(h->pidfd);
	}
	h->pid = 0;
	d->health_running--;
	/* Stopped for a shutdown or a reload: there is no verdict. */
	if (h->killed != HEALTH_STOPPED && st->svc != NULL && !st->removed) {
		if (r == -1)	/* not ours to wait for: cannot happen */
			status = W_EXITCODE(127, 0);
		health_verdict(st, status, (double)(now_us() - h->start_us) /
		    1e6);
		h->next_ms = now + st->svc->hc_interval_ms;
	}
	listener_free_unused(d, st);
	return 0;
}

void
health_exited(struct daemon *d, struct svcstate *st)
{
	if (st->health.pid != 0 && health_collect(d, st) == -1 &&
	    st->health.pidfd >= 0) {
		/* Readable but not waitable (a tracer holds it): the sweep
		 * will find it. */
		watch_fd(d, st->health.pidfd, &st->health.exittag, 0);
		close(st->health.pidfd);
		st->health.pidfd = -1;
	}
}

/* For the SIGCHLD sweep: -1 when pid is no check, 0 once it is reaped,
 * 1 when it is one that cannot be reaped yet. */
int
health_reap_pid(struct daemon *d, pid_t pid)
{
	for (struct svcstate *st = d->states; st != NULL; st = st->next)
		if (st->health.pid == pid)
			return health_collect(d, st) == 0 ? 0 : 1;
	return -1;
}

void
health_tick(struct daemon *d, int64_t now)
{
	for (struct svcstate *st = d->states; st != NULL; st = st->next) {
		struct health *h = &st->health;
		struct service *s = st->svc;

		if (h->pid != 0) {
			/* At its timeout, or its service gone: killed once,
			 * reaped when it has died. */
			if (h->killed == HEALTH_RUNNING && (s == NULL ||
			    st->removed || d->shutting_down)) {
				kill(-h->pid, SIGKILL);
				h->killed = HEALTH_STOPPED;
			} else if (h->killed == HEALTH_RUNNING &&
			    now >= h->deadline_ms) {
				kill(-h->pid, SIGKILL);
				h->killed = HEALTH_TIMED_OUT;
			}
			continue;
		}
		if (s == NULL || st->removed || s->hc_argv == NULL ||
		    st->fd == -1 || d->shutting_down || now < h->next_ms)
			continue;
		health_start(d, st, now);
	}
}

int64_t
health_next_wake(const struct daemon *d, int64_t t)
{
	for (const struct svcstate *st = d->states; st != NULL;
	    st = st->next) {
		const struct health *h = &st->health;
		int64_t at;

		if (h->pid != 0)
			at = h->killed != HEALTH_RUNNING ? t : h->deadline_ms;
		else if (st->svc != NULL && !st->removed &&
		    st->svc->hc_argv != NULL && st->fd != -1 &&
		    !d->shutting_down)
			at = h->next_ms;
		else
			continue;
		if (at < t)
			t = at;
	}
	return t;
}

/* At shutdown: the checks are killed, and the loop waits for them. */
void
health_stop_all(struct daemon *d)
{
	for (struct svcstate *st = d->states; st != NULL; st = st->next)
		if (st->health.pid != 0 &&
		    st->health.killed == HEALTH_RUNNING) {
			kill(-st->health.pid, SIGKILL);
			st->health.killed = HEALTH_STOPPED;
		}
}

/*
 * /healthz: "ok" when every service listens and its last check passed;
 * otherwise one line per service that does not. Returns 1 when healthy.
 */
int
health_page(const struct daemon *d, struct http_buf *b)
{
	int ok = 1;

	if (d->shutting_down) {
		http_buf_printf(b, "shutting down\n");
		ok = 0;
	}
	for (const struct svcstate *st = d->states; st != NULL;
	    st = st->next) {
		const struct health *h = &st->health;

		if (st->removed || st->svc == NULL)
			continue;
		if (st->fd == -1)
			http_buf_printf(b, "%s: not listening\n", st->name);
		else if (st->svc->hc_argv == NULL ||
		    h->result == HEALTH_PASSED)
			continue;
		else if (h->result == HEALTH_PENDING)
			http_buf_printf(b, "%s: health check pending\n",
			    st->name);
		else
			http_buf_printf(b, "%s: health check failed: %s\n",
			    st->name, h->why);
		ok = 0;
	}
	if (ok)
		http_buf_printf(b, "ok\n");
	return ok;
}
