/*
 * reap.c: collecting exited sessions. A session's pidfd firing only marks
 * it (reap_mark); the marked ones are reaped after the epoll batch
 * (reap_marked), so no later event of the same batch can meet a freed
 * session. The SIGCHLD sweep (reap_sweep) catches whatever has no watched
 * pidfd.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <signal.h>
#include <string.h>

#include "chald.h"

void
reap_mark(struct daemon *d, struct session *sess)
{
	if (sess->exited)
		return;
	sess->exited = 1;
	sess->enext = d->exited;
	d->exited = sess;
}

/* Collects one exited child; sess is its session, if it has one. */
static int
reap_one(struct daemon *d, pid_t pid, struct session *sess)
{
	char err[CHALD_ERRLEN];
	struct rusage ru;
	int status;

	/* A jail's pid namespace is emptied by the kernel instead. */
	if (sess != NULL && !sess->jailed)
		kill(-pid, SIGKILL);
	if (wait4(pid, &status, WNOHANG, &ru) <= 0)
		return -1;
	/* A player's jail that died before its challenge ran, with its
	 * report still unread: the player goes to a fresh jail. */
	if (sess != NULL && sess->jailed && sess->served &&
	    sess->ctlfd >= 0 && jail_settle(d, sess, err, sizeof(err)) ==
	    JAIL_RETRY)
		session_rejail(d, sess, err);
	log_debug("reap pid=%d status=0x%x session=%s", (int)pid, status,
	    sess ? "yes" : "no");
	if (sess != NULL && sess->jailed && !sess->served)
		jail_end(d, sess, status);
	else if (sess != NULL)
		session_end(d, sess, status, &ru);
	return 0;
}

void
reap_marked(struct daemon *d)
{
	while (d->exited != NULL) {
		struct session *sess = d->exited;

		d->exited = sess->enext;
		if (reap_one(d, sess->pid, sess) == 0)
			continue;
		/* Exited but not waitable (a tracer holds the zombie): the
		 * level-triggered pidfd would wake every turn until then. */
		sess->exited = 0;
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, sess->pidfd, NULL);
		watch_exit_sweep(d, sess);
	}
}

/*
 * The SIGCHLD sweep: one SIGCHLD can stand for many exits, so it collects
 * until nothing is left. It walks every child, so the loop runs it at most
 * every REAP_SWEEP_MS while some session has no watched pidfd and every
 * REAP_IDLE_MS otherwise. Leftovers of a session are killed while its
 * leader is still a zombie: the zombie holds the pid, so the process group
 * id cannot have been reused by then.
 */
void
reap_sweep(struct daemon *d)
{
	for (;;) {
		struct session *sess;
		siginfo_t si;
		int hc;

		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 ||
		    si.si_pid == 0)
			break;
		sess = sesstable_find(&d->sessions, si.si_pid);
		/* A health check is no session: health.c collects it. */
		hc = sess == NULL ? health_reap_pid(d, si.si_pid) : -1;
		if (hc == 0)
			continue;
		if (hc == 1 || reap_one(d, si.si_pid, sess) == -1)
			break;
	}
}
