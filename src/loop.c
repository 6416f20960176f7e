/*
 * loop.c: the one event loop. epoll over the listeners, the jails'
 * control sockets, the sessions' pidfds and stderr pipes, and a self-pipe
 * written by the signal handlers; its timeout is the nearest of the
 * stages' own timers. It only dispatches: each stage does its work and
 * reports back by its return value. Shutdown is here too, since it is
 * driven by signals and timers alone.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define ACCEPT_BURST	64	/* per wakeup, so one listener can't starve
				   the others */
#define SWEEP_MS	10000	/* idle per-source entries dropped this often */
#define KILL_WAIT_MS	3000	/* after SIGKILL at shutdown, before giving up */
#define CGROUP_RETRY_MS	50	/* while a jail's cgroup is not empty yet */
#define STATUS_MS	1000	/* STATUS= to the service manager at most
				   this often */

/* The signal handlers' only state: the one thing they may touch. */
static int		 sigpipe_fds[2] = { -1, -1 };
static char		 selfpipe_tag;	/* epoll data for the self-pipe */
static volatile sig_atomic_t got_chld, got_hup, got_term;

static void
on_signal(int sig)
{
	int saved = errno;

	if (sig == SIGCHLD)
		got_chld = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = sig;
	if (write(sigpipe_fds[1], "", 1) == -1) {
		/* full: the loop will look anyway */
	}
	errno = saved;
}

/* Before anything that forks: a signal during startup waits for the loop. */
void
loop_signals_setup(void)
{
	struct sigaction sa;
	const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT };

	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) == -1)
			fatal("sigaction");
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static void
signals_drain(void)
{
	char buf[256];

	while (read(sigpipe_fds[0], buf, sizeof(buf)) > 0)
		;
}

/* The drain is over (or there is none): the sessions are asked to end. */
static void
shutdown_terminate(struct daemon *d, int64_t now)
{
	d->terminating = 1;
	session_signal_all(d, SIGTERM, CAUSE_SHUTDOWN);
	d->grace_end_ms = now + d->conf->grace_ms;
}

static void
shutdown_begin(struct daemon *d, int sig)
{
	int64_t now = now_ms();

	if (d->shutting_down && !d->terminating) {
		/* A second signal during the drain: skip the rest of it. */
		log_event("drain-end sessions=%zu cause=signal",
		    session_served(d));
		shutdown_terminate(d, now);
		return;
	}
	if (d->shutting_down) {
		/* A second signal: don't wait for the grace period. */
		session_signal_all(d, SIGKILL, CAUSE_SHUTDOWN);
		d->killed_all = 1;
		d->hard_end_ms = now + KILL_WAIT_MS;
		return;
	}
	d->shutting_down = 1;
	d->draining = 1;
	/* Closed first: once the line is there, no new player gets in. */
	for (struct svcstate *st = d->states; st != NULL; st = st->next)
		listener_close(d, st);
	log_event("shutdown signal=%s sessions=%zu grace=%.1f drain=%.1f",
	    sigabbrev_np(sig), session_served(d),
	    (double)d->conf->grace_ms / 1000,
	    (double)d->conf->drain_ms / 1000);
	gate_close_all(d);
	pool_flush_all(d);
	health_stop_all(d);
	notify_stopping("stopping");
	/* Live sessions go on undisturbed, up to drain, while no new player
	 * comes in. */
	if (d->conf->drain_ms > 0 && session_served(d) > 0) {
		d->drain_end_ms = now + d->conf->drain_ms;
		return;
	}
	shutdown_terminate(d, now);
}

/* Returns 1 when the loop should end. */
static int
shutdown_step(struct daemon *d, int64_t now)
{
	if (!d->shutting_down)
		return 0;
	if (!d->terminating) {
		size_t left = session_served(d);

		if (left > 0 && now < d->drain_end_ms)
			return 0;
		log_event("drain-end sessions=%zu cause=%s", left,
		    left > 0 ? "timeout" : "done");
		shutdown_terminate(d, now);
	}
	/* Health checks were killed: they are reaped before the exit. */
	if (d->sessions.count == 0 && (d->health_running == 0 ||
	    now >= d->grace_end_ms))
		return 1;
	if (!d->killed_all && now >= d->grace_end_ms) {
		session_signal_all(d, SIGKILL, CAUSE_SHUTDOWN);
		d->killed_all = 1;
		d->hard_end_ms = now + KILL_WAIT_MS;
	}
	if (d->killed_all && now >= d->hard_end_ms) {
		log_warnx("%zu sessions did not end after SIGKILL",
		    d->sessions.count);
		return 1;
	}
	return 0;
}

/*
 * STATUS= for the service manager: the live sessions and the ready jails,
 * sent when they changed but at most every STATUS_MS, so that a busy
 * daemon sends one datagram a second, not one per accept.
 */
static void
loop_status(struct daemon *d, int64_t now)
{
	static const char *phases[] = { "serving", "draining", "stopping" };
	size_t n;
	int ready = 0, phase;
	char text[128];

	if (!notify_enabled())
		return;
	n = session_served(d);
	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		ready += st->pool_ready;
	phase = !d->shutting_down ? 0 : !d->terminating ? 1 : 2;
	if (n != d->status_sessions || ready != d->status_ready ||
	    phase != d->status_phase)
		d->status_due = 1;
	if (!d->status_due || now < d->status_next_ms)
		return;
	notify_status_text(text, sizeof(text), phases[phase], n, ready);
	notify_status(text);
	d->status_sessions = n;
	d->status_ready = ready;
	d->status_phase = phase;
	d->status_due = 0;
	d->status_next_ms = now + STATUS_MS;
}

static int
loop_timeout(struct daemon *d, int64_t now)
{
	int64_t t = d->next_sweep_ms;
	struct session *sess = sesstable_next_deadline(&d->sessions);

	if (sess != NULL && sess->deadline.at < t)
		t = sess->deadline.at;
	if (d->sandbox.pending != NULL && now + CGROUP_RETRY_MS < t)
		t = now + CGROUP_RETRY_MS;
	if (got_chld && d->next_reap_ms < t)
		t = d->next_reap_ms;
	t = pool_next_wake(d, now, t);
	t = listener_next_resume(d, t);
	t = gate_next_deadline(d, t);
	t = admin_next_wake(d, t);
	t = health_next_wake(d, t);
	if (d->shutting_down) {
		int64_t end = !d->terminating ? d->drain_end_ms :
		    d->killed_all ? d->hard_end_ms : d->grace_end_ms;

		if (end < t)
			t = end;
	}
	/* Only a service manager is told: without one, a due status would
	 * wake the loop at once, forever (an idle daemon spun at 100%). */
	if (d->status_due && notify_enabled() && d->status_next_ms < t)
		t = d->status_next_ms;
	if (t <= now)
		return 0;
	return t - now > INT_MAX ? INT_MAX : (int)(t - now);
}

static void
loop_accept(struct daemon *d, struct svcstate *st)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		int fd = listener_accept(d, st, &ss);

		if (fd == -1)
			return;
		if (gate_wants(st, (struct sockaddr *)&ss))
			gate_begin(d, st, fd, &ss);
		else
			session_start(d, st, fd, (struct sockaddr *)&ss, NULL,
			    0);
		d->last_accept_ms = now_ms();
	}
}

static void
loop_dispatch(struct daemon *d, void *tag, uint32_t events)
{
	if (tag == &selfpipe_tag) {
		signals_drain();
		return;
	}
	switch (*(enum evkind *)tag) {
	case EV_JAIL: {
		char err[CHALD_ERRLEN];

		/* A player's jail failed before its challenge ran. */
		if (jail_event(d, tag, err, sizeof(err)) == JAIL_RETRY)
			session_rejail(d, tag, err);
		break;
	}
	case EV_STDERR:
		session_stderr(d, ((struct evtag *)tag)->sess);
		break;
	case EV_EXIT:
		reap_mark(d, ((struct evtag *)tag)->sess);
		break;
	case EV_LISTENER:
		loop_accept(d, tag);
		break;
	case EV_GATE:
		gate_event(d, tag);
		break;
	case EV_PEER:
		peer_event(d->epfd, ((struct evtag *)tag)->sess);
		break;
	case EV_ADMIN:
		admin_accept(d);
		break;
	case EV_ADMIN_CONN:
		admin_event(d, tag, events);
		break;
	case EV_HEALTH_EXIT:
		health_exited(d, ((struct svctag *)tag)->st);
		break;
	case EV_HEALTH_OUT:
		health_output(d, ((struct svctag *)tag)->st);
		break;
	case EV_POW:
		gate_checked(d);
		break;
	}
}

/* What the signals asked for since the last turn. */
static void
loop_signals(struct daemon *d)
{
	if (got_chld && now_ms() >= d->next_reap_ms) {
		got_chld = 0;
		d->next_reap_ms = now_ms() + (d->unwatched > 0 ?
		    REAP_SWEEP_MS : REAP_IDLE_MS);
		reap_sweep(d);
	}
	if (got_term) {
		int sig = got_term;

		got_term = 0;
		shutdown_begin(d, sig);
	}
	if (got_hup) {
		got_hup = 0;
		if (!d->shutting_down) {
			notify_reloading();
			reload(d);
			/* Whatever became of it: the daemon serves again. */
			notify_ready("serving");
			d->status_due = 1;
		}
	}
}

/* The timers' turn. */
static void
loop_timers(struct daemon *d)
{
	int64_t now = now_ms();

	session_expire(d, now);
	gate_expire(d, now);
	listener_resume_all(d, now);
	if (d->sandbox.pending != NULL)
		sandbox_tick(&d->sandbox);
	d->pool_deficit = pool_refill_all(d, now);
	admin_tick(d, now);
	health_tick(d, now);
	if (now >= d->next_sweep_ms) {
		listener_sweep_sources(d, now);
		d->next_sweep_ms = now + SWEEP_MS;
	}
}

void
loop_run(struct daemon *d)
{
	struct epoll_event evs[64];

	d->start_ms = now_ms();
	d->start_unix = now_unix();
	watch_fd(d, sigpipe_fds[0], &selfpipe_tag, 1);
	watch_fd(d, d->admin.fd, &d->admin, 1);
	for (struct svcstate *st = d->states; st != NULL; st = st->next)
		watch_listener(d, st, 1);
	d->next_sweep_ms = now_ms() + SWEEP_MS;
	d->pool_deficit = pool_refill_all(d, now_ms());
	notify_ready("serving");
	d->status_due = 1;
	d->status_next_ms = now_ms() + STATUS_MS;
	for (;;) {
		int n = epoll_wait(d->epfd, evs, 64, loop_timeout(d, now_ms()));

		if (n == -1 && errno != EINTR)
			fatal("epoll_wait");
		for (int i = 0; i < n; i++)
			loop_dispatch(d, evs[i].data.ptr, evs[i].events);
		reap_marked(d);
		loop_signals(d);
		loop_timers(d);
		if (shutdown_step(d, now_ms()))
			break;
		loop_status(d, now_ms());
	}
	admin_close(d);
}
