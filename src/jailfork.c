/*
 * jailfork.c: chald-init as the forker of a service's jails (forker.c
 * starts it and argues why). It attaches the outer part of the service's
 * filter once, then clones one jail per request, straight into the jail's
 * new namespaces (and on cgroup v2 its cgroup) and as a child of the daemon
 * (CLONE_PARENT), and hands the daemon its pid and pidfd. The clone goes on
 * as the jail's init (jail_main) without an exec.
 *
 * Nothing of the forker's reaches a jail but its code, the outer filter and
 * the state the exec of chald-init gave it (signal mask, umask, limits, the
 * daemon's fds 0-2): the clone keeps only its control socket and fds 0-2,
 * and the forker holds no player's data, only the fds of the request being
 * served.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define FORK_SOCK	JAIL_CTL_FD

/* The outer filter, from the first message; the answer. */
static int
fork_filter(int sock)
{
	static struct sock_filter insns[BPF_MAXINSNS];
	struct fork_filter h;
	struct iovec iov[2] = { { &h, sizeof(h) }, { insns, sizeof(insns) } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	struct fork_reply r = { 0 };
	struct sock_fprog prog;
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

	if (n < (ssize_t)sizeof(h) || (mh.msg_flags & MSG_TRUNC) != 0 ||
	    h.len > BPF_MAXINSNS ||
	    (size_t)n != sizeof(h) + h.len * sizeof(struct sock_filter))
		r.pid = -EPROTO;
	else if (h.len > 0) {
		prog.len = (unsigned short)h.len;
		prog.filter = insns;
		/* As root with CAP_SYS_ADMIN: no no_new_privs, which would
		 * keep setuid = on from working in the jails. */
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == -1)
			r.pid = -errno;
	}
	if (send(sock, &r, sizeof(r), MSG_NOSIGNAL) != sizeof(r))
		return -1;
	return r.pid == 0 ? 0 : -1;
}

/* One request: its header and fds (-1 for those it has not). */
static int
fork_recv(int sock, struct fork_request *rq, int *ctl, int *net, int *cg)
{
	char cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct iovec iov = { rq, sizeof(*rq) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int fds[3], nfds = 0, want;
	ssize_t n;

	*ctl = *net = *cg = -1;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return -1;		/* the daemon closed its end */
	cm = CMSG_FIRSTHDR(&mh);
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET &&
	    cm->cmsg_type == SCM_RIGHTS) {
		nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds, CMSG_DATA(cm), (size_t)nfds * sizeof(int));
	}
	want = 1 + (n == sizeof(*rq) && rq->has_net) +
	    (n == sizeof(*rq) && rq->has_cgroup);
	if (n != sizeof(*rq) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    nfds != want || (rq->flags & ~(uint64_t)FORK_FLAGS) != 0) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return 0;		/* refused: *ctl stays -1 */
	}
	*ctl = fds[0];
	if (rq->has_net)
		*net = fds[1];
	if (rq->has_cgroup)
		*cg = fds[nfds - 1];
	return 0;
}

/*
 * The clone, on its way to be the jail's init. It is the forker's copy, so
 * it would share the forker's stack canary with every other jail: a new
 * one first (none of its frames checks the old one: none returns). Its
 * address layout stays the forker's, which is why a forker retires after
 * FORKER_JAILS jails (forker.c). The C library's cached thread id is the
 * forker's too: init calls nothing that uses it (raise, abort, threads).
 */
static void __attribute__((noreturn, no_stack_protector))
fork_child(int ctl, int net)
{
	int step = STEP_NONE;
#if defined(__x86_64__)
	unsigned long canary;
#endif

	prctl(PR_SET_NAME, "chald-init", 0, 0, 0);
#if defined(__x86_64__)

	if (syscall(SYS_getrandom, &canary, sizeof(canary), 0) !=
	    (long)sizeof(canary))
		_exit(127);
	canary &= ~0xffUL;	/* a NUL byte against string overflows */
	__asm__ volatile ("movq %0, %%fs:0x28" : : "r"(canary) : "memory");
#endif

	if (net >= 0 && setns(net, CLONE_NEWNET) == -1)
		step = STEP_NETWORK;
	/* fd 3 was the forker's socket: the jail must never reach it. */
	if (dup2(ctl, JAIL_CTL_FD) == -1)
		_exit(127);
	if (syscall(SYS_close_range, JAIL_CTL_FD + 1, ~0U, 0U) == -1 &&
	    step == STEP_NONE)
		step = STEP_FDS;
	/* The daemon is the parent (CLONE_PARENT). Should it be gone
	 * already, the spec never comes and init exits. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		_exit(0);
	jail_main(step);
}

static int
fork_reply(int sock, pid_t pid, int pidfd)
{
	struct fork_reply r = { pid };

	return fdpass_send(sock, &r, sizeof(r), &pidfd, pidfd >= 0, 0);
}

int
jailfork_main(void)
{
	pid_t daemon = getppid();
	int sock = FORK_SOCK;

	prctl(PR_SET_NAME, "chald-forker", 0, 0, 0);
	/* The bounding set matters only at an exec, and the forker makes
	 * none: emptied once here, it is empty in every jail (JS_FORKED),
	 * whose init keeps the capabilities it builds with. */
	if (syscall(SYS_close_range, FORK_SOCK + 1, ~0U, 0U) == -1 ||
	    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != daemon || jail_bset_drop() == -1 ||
	    fork_filter(sock) == -1)
		return 1;
	jail_loginuid();
	for (;;) {
		struct fork_request rq;
		struct clone_args ca;
		int ctl, net, cg, pidfd = -1;
		long pid;

		if (fork_recv(sock, &rq, &ctl, &net, &cg) == -1)
			return 0;
		if (ctl < 0) {
			if (fork_reply(sock, -EINVAL, -1) == -1)
				return 1;
			continue;
		}
		memset(&ca, 0, sizeof(ca));
		ca.flags = rq.flags | CLONE_PARENT | CLONE_PIDFD |
		    (cg >= 0 ? CLONE_INTO_CGROUP : 0);
		ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
		ca.cgroup = cg >= 0 ? (uint64_t)cg : 0;
		/* CLONE_PARENT: the jail gets the forker's exit signal. */
		pid = syscall(SYS_clone3, &ca, sizeof(ca));
		if (pid == 0)
			fork_child(ctl, net);
		if (fork_reply(sock, pid > 0 ? (pid_t)pid : -errno, pidfd) ==
		    -1)
			return 1;
		if (pidfd >= 0)
			close(pidfd);
		close(ctl);
		if (net >= 0)
			close(net);
		if (cg >= 0)
			close(cg);
	}
}
