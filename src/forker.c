/*
 * forker.c: the jails' forkers, as the daemon sees them. A forker is
 * chald-init started with "-fork" (jailfork.c): it has attached the outer
 * part of a service's seccomp filter, and clones a jail on each request,
 * into its namespaces and as the daemon's child, without an exec. Against
 * a jail that the daemon clones and that execs chald-init (sandbox.c), a
 * jail forked from the forker saves the exec and most of the filter's
 * attach: it inherits the outer part (399 of 476 instructions by default)
 * and its init attaches only the inner one, which holds the rules on the
 * calls init builds the jail with (seccomp.c). The kernel runs both parts
 * on every call of the challenge, so it is refused what the whole filter
 * refuses.
 *
 * One forker per distinct outer part (services with the same seccomp
 * settings share one), started when a jail first needs it and stopped when
 * no service of a new configuration has its filter. A forker that fails
 * (it died, or answered wrong or late) is killed, and its services' jails
 * are cloned and exec'd the old way, with the whole filter, until a new one
 * starts: a second later at the earliest.
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define FORKER_WAIT_MS	2000	/* for one answer */
#define FORKER_PAUSE_MS	1000	/* after a forker failed */
#define FORKER_KILL_MS	100	/* for a killed forker to be reapable */
#define FORKER_JAILS	1024	/* jails a forker forks before it retires */

static const struct sock_fprog no_filter = { 0, NULL };

/* The outer part a service's jails inherit. */
static const struct sock_fprog *
outer_of(const struct service *s)
{
	return s->seccomp ? &s->filter_outer : &no_filter;
}

static int
same_filter(const struct sock_fprog *a, const struct sock_fprog *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->filter,
	    b->filter, a->len * sizeof(struct sock_filter)) == 0);
}

/* An answer within FORKER_WAIT_MS; its pidfd in *fd if it has one. */
static int
forker_answer(struct forker *f, struct fork_reply *r, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { r, sizeof(*r) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct pollfd pfd = { f->sock, POLLIN, 0 };
	int64_t until = now_ms() + FORKER_WAIT_MS;
	struct cmsghdr *cm;
	ssize_t n;
	int ready;

	*fd = -1;
	/* The daemon's signals (SIGCHLD above all) interrupt the wait. */
	while ((ready = poll(&pfd, 1, (int)(until - now_ms() > 0 ?
	    until - now_ms() : 0))) == -1 && errno == EINTR)
		;
	if (ready != 1) {
		errno = ready == 0 ? ETIMEDOUT : errno;
		return -1;
	}
	n = recvmsg(f->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET &&
	    cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	if (n != sizeof(*r) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		errno = n == 0 ? EPIPE : EPROTO;
		return -1;
	}
	return 0;
}

/*
 * Its wait status, or -1 if it had none to give. By its pidfd, never its
 * pid: the SIGCHLD sweep may have reaped it already (reap.c), and its pid
 * be another child's by now. A forker that does not die at once (stuck in
 * the kernel) is left to the sweep rather than waited for.
 */
static int
forker_kill(struct forker *f)
{
	int status = -1;

	if (f->pidfd >= 0) {
		struct pollfd pfd = { f->pidfd, POLLIN, 0 };
		siginfo_t si;

		syscall(SYS_pidfd_send_signal, f->pidfd, SIGKILL, NULL, 0);
		memset(&si, 0, sizeof(si));
		if (poll(&pfd, 1, FORKER_KILL_MS) == 1 &&
		    waitid((idtype_t)P_PIDFD, (id_t)f->pidfd, &si, WEXITED |
		    WNOHANG | __WALL) == 0 && si.si_pid != 0)
			status = si.si_code == CLD_EXITED ? si.si_status << 8 :
			    si.si_status;
		close(f->pidfd);
		f->pidfd = -1;
	}
	if (f->sock >= 0)
		close(f->sock);
	f->sock = -1;
	f->pid = 0;
	return status;
}

static void
forker_failed(struct forker *f, const char *what)
{
	char err[64];
	pid_t pid = f->pid;
	int status;

	snprintf(err, sizeof(err), "%s", strerror(errno));
	status = forker_kill(f);
	log_event("forker-failed pid=%d step=%s error=%s status=0x%x",
	    (int)pid, what, log_quote(err), status);
	f->pause_until_ms = now_ms() + FORKER_PAUSE_MS;
}

/* A new, stopped forker for the outer part outer, on the list; or NULL. */
static struct forker *
forker_new(struct forkers *fs, const struct sock_fprog *outer)
{
	struct forker *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->pidfd = f->sock = -1;
	f->outer.len = outer->len;
	if (outer->len > 0) {
		size_t n = outer->len * sizeof(struct sock_filter);

		if ((f->outer.filter = malloc(n)) == NULL) {
			free(f);
			return NULL;
		}
		memcpy(f->outer.filter, outer->filter, n);
	}
	f->next = fs->list;
	fs->list = f;
	return f;
}

/* Starts f (start() gives its pid, pidfd and socket) and has it attach
 * its filter part; 0, or -1 with f stopped and paused. */
static int
forker_boot(struct forker *f, pid_t (*start)(int *pidfd, int *sock))
{
	struct fork_filter h = { f->outer.len };
	struct iovec iov[2] = { { &h, sizeof(h) }, { f->outer.filter,
	    f->outer.len * sizeof(struct sock_filter) } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	struct fork_reply r;
	int fd;

	f->jails = 0;
	if ((f->pid = start(&f->pidfd, &f->sock)) <= 0) {
		f->pid = 0;
		f->pidfd = f->sock = -1;
		forker_failed(f, "start");
		return -1;
	}
	if (sendmsg(f->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == -1 ||
	    forker_answer(f, &r, &fd) == -1) {
		forker_failed(f, "filter");
		return -1;
	}
	if (fd >= 0)
		close(fd);
	if (r.pid != 0) {
		errno = -r.pid;
		forker_failed(f, "filter");
		return -1;
	}
	log_debug("forker pid=%d filter=%u", (int)f->pid, f->outer.len);
	return 0;
}

/*
 * The forker for service s, or NULL when none may be used now (then the
 * jail is cloned the old way). A new one needs start(), which returns the
 * forker's pid with its pidfd and socket, or -1.
 */
struct forker *
forker_get(struct forkers *fs, const struct service *s,
    pid_t (*start)(int *pidfd, int *sock))
{
	const struct sock_fprog *outer = outer_of(s);
	struct forker *f;

#if !defined(__x86_64__)
	/* A clone renews its stack canary only there (jailfork.c). */
	return NULL;
#endif
	for (f = fs->list; f != NULL; f = f->next)
		if (same_filter(&f->outer, outer))
			break;
	if (f != NULL && f->pid > 0) {
		struct pollfd pfd = { f->pidfd, POLLIN, 0 };

		/* A pidfd is readable once its process has exited; a signal
		 * of the daemon's may interrupt the look (EINTR), which says
		 * nothing. */
		if (poll(&pfd, 1, 0) != 1 && f->jails < FORKER_JAILS)
			return f;
		if (f->jails < FORKER_JAILS) {
			errno = ECHILD;
			forker_failed(f, "exited");
		} else {
			/* Its jails share its address layout and stack
			 * canary: a new exec gives the next ones new ones. */
			log_debug("forker-retire pid=%d jails=%u", (int)f->pid,
			    f->jails);
			forker_kill(f);
		}
	}
	if (f != NULL && now_ms() < f->pause_until_ms)
		return NULL;
	if (f == NULL && (f = forker_new(fs, outer)) == NULL)
		return NULL;
	return forker_boot(f, start) == 0 ? f : NULL;
}

/*
 * A jail from forker f: into namespaces flags (CLONE_NEW*), the network
 * namespace netfd and the cgroup cgfd (each -1 if none), with ctl as its
 * control socket. Its pid, with its pidfd in *pidfd; -1 with errno, and
 * the forker stopped unless its clone failed and it said so. *orphan is
 * then 1 when a jail may have been cloned all the same, unknown to the
 * daemon: ctl and netfd must not go to another jail (it holds them).
 */
pid_t
forker_spawn(struct forker *f, int ctl, uint64_t flags, int netfd, int cgfd,
    int *pidfd, int *orphan)
{
	struct fork_request rq = { flags, netfd >= 0, cgfd >= 0 };
	struct fork_reply r;
	int fds[3], n = 0;

	fds[n++] = ctl;
	if (netfd >= 0)
		fds[n++] = netfd;
	if (cgfd >= 0)
		fds[n++] = cgfd;
	*orphan = 0;
	if (fdpass_send(f->sock, &rq, sizeof(rq), fds, n, MSG_DONTWAIT) ==
	    -1) {
		forker_failed(f, "request");
		return -1;
	}
	*orphan = 1;
	if (forker_answer(f, &r, pidfd) == -1) {
		forker_failed(f, "request");
		return -1;
	}
	if (r.pid > 0 && *pidfd >= 0) {
		*orphan = 0;
		f->jails++;
		return r.pid;
	}
	if (*pidfd >= 0)
		close(*pidfd);
	*pidfd = -1;
	errno = r.pid < 0 ? -r.pid : EPROTO;
	if (r.pid > 0)
		forker_failed(f, "reply");
	else {
		*orphan = 0;
		log_debug("forker-clone pid=%d error=%s", (int)f->pid,
		    log_quote(strerror(errno)));
	}
	return -1;
}

/* Stops the forkers that no service of c uses (all of them for NULL). */
void
forker_prune(struct forkers *fs, const struct config *c)
{
	struct forker **fp = &fs->list;

	while (*fp != NULL) {
		struct forker *f = *fp;
		int used = 0;

		for (const struct service *s = c != NULL ? c->services : NULL;
		    s != NULL && !used; s = s->next)
			used = s->sandbox && same_filter(&f->outer, outer_of(s));
		if (used) {
			fp = &f->next;
			continue;
		}
		forker_kill(f);
		*fp = f->next;
		free(f->outer.filter);
		free(f);
	}
}
