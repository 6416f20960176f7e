/*
 * jail.c: chald-init, pid 1 of a jailed session. The daemon starts it
 * with clone3(CLONE_VM|CLONE_VFORK) into the session's new pid, mount, ipc,
 * uts, cgroup (and network) namespaces and, on cgroup v2, straight into
 * the session's cgroup; the clone execs this program at once. Being a fresh
 * small static program rather than a fork of the daemon is what makes a
 * jail cheap: a fork would copy the daemon's page tables, and every page
 * either side wrote afterwards would cost a copy-on-write fault and a TLB
 * shootdown, which on virtual machines cost more than the jail itself.
 *
 * init reads what to build from the daemon (jailspec.c) on its control
 * socket (fd 3), builds the jail (a copy of the service's template
 * namespace, which holds the read-only skeleton as its root with bind
 * mounts and device nodes, plus its own /proc with hidepid, devpts and a
 * size-capped /tmp: jailfs.c; or all of it and a pivot_root; then
 * loopback, the rlimits, bounding set and seccomp filter), reports ready,
 * and waits for its player. It locks the player's socket to the player (peerlock.c), then
 * vforks the challenge, which drops to the session's uid and execs, and
 * reaps until the challenge exits; with stdio = pty or kill-on-disconnect
 * it also stays with the player's socket (relay.c). When it dies, the
 * kernel kills everything left in the pid namespace, whatever it did to
 * escape (double fork, setsid, ignoring signals).
 *
 * Messages on the control socket: the spec from the daemon; "ready" from
 * init once the jail is built; the player's socket (SCM_RIGHTS) from the
 * daemon; {step, errno} from init or the challenge when a step fails (a
 * jail is never run with a layer missing); "exec'd" once the challenge
 * runs; "gone" if init ends the session because the player went away.
 *
 * chald embeds this program (initbin.c) and runs it from a sealed memfd,
 * so there is still one binary to install. It is linked statically, with
 * musl where the build has it: no dynamic loader to run per session,
 * nothing it loads can come from the host's library path, and a start-up
 * that costs half of glibc's.
 */
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

static int
set_limit(int res, rlim_t v)
{
	struct rlimit rl = { v, v };

	return setrlimit(res, &rl);
}

static int
jail_rlimits(const struct service *s)
{
	if (set_limit(RLIMIT_CORE, 0) == -1 ||
	    set_limit(RLIMIT_MEMLOCK, 64 * 1024) == -1 ||
	    set_limit(RLIMIT_MSGQUEUE, 64 * 1024) == -1)
		return -1;
	if (s->cpu_time_ms > 0) {
		rlim_t secs = (rlim_t)((s->cpu_time_ms + 999) / 1000);
		struct rlimit rl = { secs, secs + 1 };

		/* SIGXCPU at the soft limit, SIGKILL a second later. */
		if (setrlimit(RLIMIT_CPU, &rl) == -1)
			return -1;
	}
	if (s->file_size > 0 && set_limit(RLIMIT_FSIZE, s->file_size) == -1)
		return -1;
	if (s->open_files > 0 &&
	    set_limit(RLIMIT_NOFILE, (rlim_t)s->open_files) == -1)
		return -1;
	if (s->pids > 0 && set_limit(RLIMIT_NPROC, (rlim_t)s->pids) == -1)
		return -1;
	if (s->address_space > 0 &&
	    set_limit(RLIMIT_AS, s->address_space) == -1)
		return -1;
	return 0;
}

/* Pending signals a setuid = on jail may queue: counted per real uid, so
 * for a player who made himself uid 0, against the host root's count. */
#define JAIL_SUID_SIGPENDING	256

/*
 * What keeps a set-user-ID (or file-capability) exec from granting any
 * capability once no_new_privs is off (setuid = on), done for every jail
 * all the same. With SECBIT_NOROOT an exec as euid 0 no longer treats the
 * file's sets as full, the bounding set (jail_lock) is empty, and the
 * inheritable set, which a set-user-ID root exec would otherwise pass on
 * whole, is cleared; the bits are locked, and changing them takes
 * CAP_SETPCAP, which the challenge has not. A session keyring of its own:
 * the challenge would otherwise possess the daemon's (one for all jails),
 * and keyctl comes after the filter denies it.
 */
static int
jail_creds(const struct service *s)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	/* ENOSYS, EPERM: no keyrings, or chald itself runs under a filter
	 * that denies them (a container's default profile), which holds
	 * for the challenge too. */
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) == -1 &&
	    errno != ENOSYS && errno != EPERM)
		return -1;
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
	    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
	    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
	    0, 0, 0) == -1)
		return -1;
	if (syscall(SYS_capget, &h, d) == -1)
		return -1;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		d[i].inheritable = 0;
	if (syscall(SYS_capset, &h, d) == -1)
		return -1;
	if (s->allow_setuid && set_limit(RLIMIT_SIGPENDING,
	    JAIL_SUID_SIGPENDING) == -1)
		return -1;
	return 0;
}

/* The capability bounding set, emptied: no exec below gains one. */
int
jail_bset_drop(void)
{
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 &&
		    errno != EINVAL)
			return -1;
	return 0;
}

/*
 * Done by init while the jail waits for its player, so that the hand-over
 * path stays short; the challenge inherits all three: the rlimits, an empty
 * capability bounding set, and the seccomp filter (init no longer needs
 * anything the filter denies).
 */
static int
jail_lock(const struct jailspec *js)
{
	const struct service *s = &js->svc;

	if (jail_rlimits(s) == -1)
		return STEP_RLIMITS;
	if (jail_creds(s) == -1)
		return STEP_PRIVILEGES;
	/* A forker's jail inherits its empty bounding set. */
	if (!js->forked && jail_bset_drop() == -1)
		return STEP_PRIVILEGES;
	if (s->seccomp && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER,
	    &s->filter) == -1)
		return STEP_SECCOMP;
	return 0;
}

/*
 * No way back: own uid and gid, no groups, no capabilities at all. With
 * setuid = on no no_new_privs, so that a set-user-ID program can give euid
 * 0, without capabilities (jail_creds); the filter was installed by init,
 * which could without it.
 */
static int
jail_privileges(uid_t uid, int allow_setuid)
{
	if (setgroups(0, NULL) == -1 ||
	    setresgid(uid, uid, uid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
	    errno != EINVAL)
		return -1;
	if (!allow_setuid && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	return 0;
}

static int
send_report(int fd, int step, int err)
{
	struct jail_report r = { step, err };

	return send(fd, &r, sizeof(r), MSG_NOSIGNAL) == (ssize_t)sizeof(r) ?
	    0 : -1;
}

static void __attribute__((noreturn))
report(int fd, int step)
{
	/* If the parent is gone there is nobody to tell. */
	send_report(fd, step, errno);
	_exit(127);
}

static mode_t	daemon_umask = 022;

/* Set by the vforked challenge, which shares init's memory, when a step
 * failed: then the vfork returned for its _exit, not for its exec. */
static volatile int	challenge_failed;

static void __attribute__((noreturn))
challenge_fail(int ctl, int step)
{
	challenge_failed = 1;
	report(ctl, step);
}

/* The challenge's fds 0-2 are the socket, or (tty >= 0) the pty. */
static void __attribute__((noreturn))
challenge_main(const struct jailspec *js, int sock, int tty,
    const struct jail_player *pl)
{
	const struct service *s = &js->svc;
	struct spawn_req r = { .svc = s, .sock = sock, .errfd = pl->errfd,
	    .peer_ip = pl->ip, .peer_port = pl->port };
	char *envp[CHALD_MAX_ENVP], envbuf[2048];
	sigset_t none;
	int ctl = JAIL_CTL_FD;

	if (child_env(&r, envp, envbuf, sizeof(envbuf)) == -1)
		challenge_fail(ctl, STEP_ENV);
	if (tty >= 0)
		r.sock = tty;
	if (child_fds(&r, ctl) == -1)
		challenge_fail(ctl, STEP_FDS);
	if (chdir(s->workdir) == -1)
		challenge_fail(ctl, STEP_CHDIR);
	if (jail_privileges(js->uid, s->allow_setuid) == -1)
		challenge_fail(ctl, STEP_PRIVILEGES);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	umask(daemon_umask);
	execve(s->argv[0], s->argv, envp);
	challenge_fail(ctl, STEP_EXEC);
}

/* Waits for the daemon to hand over a player; EOF: the jail is not needed. */
static int
init_receive(int ctl, struct jail_player *pl)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { pl, sizeof(*pl) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;
	int fds[2] = { -1, -1 };

	do
		n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof(*pl) || pl->nfds < 1 || pl->nfds > 2)
		return -1;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm == NULL || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(pl->nfds * sizeof(int)))
		return -1;
	memcpy(fds, CMSG_DATA(cm), pl->nfds * sizeof(int));
	pl->errfd = fds[1];
	pl->ip[sizeof(pl->ip) - 1] = '\0';
	return fds[0];
}

/* pid 1 passes the daemon's SIGTERM on to everything in the session. */
static void
init_on_signal(int sig)
{
	int saved = errno;

	kill(-1, sig);
	errno = saved;
}

/*
 * pid 1 cannot die of its own signal: 128+N, as shells do. The player's
 * socket (and the pty, the signalfd) is closed first: an exiting task's
 * last fput runs after it has left its namespaces, and leaving the mount
 * namespace waits for an expedited RCU grace period, milliseconds under
 * load, which the player would wait for the end of the connection.
 */
static void __attribute__((noreturn))
init_exit(int status)
{
	(void)syscall(SYS_close_range, JAIL_CTL_FD + 1, ~0U, 0U);
	if (WIFSIGNALED(status))
		_exit(128 + WTERMSIG(status));
	_exit(WEXITSTATUS(status));
}

static void __attribute__((noreturn))
init_wait(pid_t child)
{
	struct sigaction sa;
	sigset_t none;
	int status;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = init_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (;;) {
		pid_t pid = waitpid(-1, &status, 0);

		if (pid == -1 && errno == EINTR)
			continue;
		if (pid == -1)
			_exit(127);
		if (pid != child)
			continue;	/* an orphan: reaped, nothing more */
		init_exit(status);
	}
}

/*
 * After the exec: with stdio = pty, or to notice a gone player
 * (kill-on-disconnect), init stays with the player's socket (relay.c);
 * otherwise it keeps no fd at all and only reaps.
 */
static void __attribute__((noreturn))
init_serve(const struct service *s, pid_t child, int sock, int sigfd,
    int master, int slave, int errfd)
{
	struct relay r = { .sock = sock, .master = master, .slave = slave,
	    .ctl = JAIL_CTL_FD, .kill_disc = s->kill_disc, .jailed = 1,
	    .sigfd = sigfd, .child = child };

	if (master < 0 && !s->kill_disc) {
		if (syscall(SYS_close_range, 0U, ~0U, 0U) == -1)
			for (int fd = 0; fd < 1024; fd++)
				close(fd);
		init_wait(child);
	}
	/* Only the challenge writes the daemon's stderr pipe: EOF on it
	 * comes when the challenge is done with it. */
	if (errfd >= 0)
		close(errfd);
	for (int fd = 0; fd < 3; fd++)
		close(fd);
	init_exit(relay_run(&r));
}

/*
 * The spec comes first on the control socket, in one message. With it
 * come the fds of the cgroup files that the spec's joinmask names, in
 * hierarchy order, and last, in *tmpl, the mount namespace of the
 * service's template if it has one (sandbox.c), else -1.
 */
static int
init_spec(struct jailspec *js, char **buf, int *tmpl)
{
	char err[128], cbuf[CMSG_SPACE(FDPASS_MAX * sizeof(int))];
	int fds[FDPASS_MAX], nfds = 0, k = 0;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	*buf = NULL;
	*tmpl = -1;
	do
		n = recv(JAIL_CTL_FD, NULL, 0, MSG_PEEK | MSG_TRUNC);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return -1;
	*buf = malloc((size_t)n);
	if (*buf == NULL)
		return -1;
	iov.iov_base = *buf;
	iov.iov_len = (size_t)n;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	if (recvmsg(JAIL_CTL_FD, &mh, MSG_CMSG_CLOEXEC) != n)
		return -1;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET &&
	    cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len > CMSG_LEN(0)) {
		nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (nfds > FDPASS_MAX)
			nfds = FDPASS_MAX;	/* MSG_CTRUNC says it */
		memcpy(fds, CMSG_DATA(cm), (size_t)nfds * sizeof(int));
	}
	if ((mh.msg_flags & MSG_CTRUNC) ||
	    jailspec_unpack(*buf, (size_t)n, js, err, sizeof(err)) == -1) {
		errno = EPROTO;
		return -1;
	}
	/* Each fd's role is named by the spec; any other count is broken. */
	if (nfds != __builtin_popcount(js->joinmask) + js->tmpl) {
		errno = EPROTO;
		return -1;
	}
	for (int i = 0; i < CG_NCTRL; i++)
		if (js->joinmask & (1U << i))
			js->joinfd[i] = fds[k++];
	if (js->tmpl)
		*tmpl = fds[k];
	return 0;
}

/*
 * On v1 (or without clone3) init joins the session's cgroups itself, after
 * the clone made its cgroup namespace: that namespace's root is still the
 * daemon's group, and /proc/self/cgroup would show /chald.PID/sN, the
 * daemon's pid and how many sessions it started. A namespace of its own
 * once it is in them shows "/". (On v2, clone3 puts the init into its
 * cgroup and roots the new namespace there at once.) The pids directory
 * comes first (CG_PIDS is 0) and init forks nothing before it is in all of
 * them: the daemon's look at whether a session's cgroups are empty reads
 * only that directory's pids.current (cgroup.c, idle). On v1 it writes
 * "0" to each tasks file: it is one thread, and a thread that moves
 * itself spares the host-wide lock that moving a process takes
 * (cgroup.c, files[]).
 */
static int
init_cgroups(struct jailspec *js)
{
	int joined = 0;

	for (int i = 0; i < CG_NCTRL; i++) {
		int fd = js->joinfd[i];

		if (js->procs[i][0] == '\0')
			continue;
		if (fd == -1)
			fd = open(js->procs[i], O_WRONLY | O_CLOEXEC);
		if (fd == -1 || write(fd, "0", 1) != 1)
			return -1;
		close(fd);
		js->joinfd[i] = -1;
		joined = 1;
	}
	if (joined && unshare(CLONE_NEWCGROUP) == -1)
		return -1;
	return 0;
}

/*
 * The audit login uid and session are inherited from whoever started
 * chald: from a login shell, the admin's uid and the host's count of
 * logins, which the session would read in /proc/self/loginuid and
 * sessionid. Unset them, as for a service that init started; where audit
 * makes them immutable they stay, which tells nothing new. A forker does
 * it once (jailfork.c): a fork inherits both.
 */
void
jail_loginuid(void)
{
	char buf[16];
	ssize_t n;
	int fd = open("/proc/self/loginuid", O_RDWR | O_CLOEXEC);

	if (fd == -1)
		return;		/* no audit */
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0 && strncmp(buf, "4294967295", 10) != 0)
		(void)!pwrite(fd, "4294967295", 10, 0);
	close(fd);
}

/*
 * The jail's file tree and its root. On a template (tmpl, sandbox.c) the
 * jail's namespace is a copy of the template's, whose root is the jail's
 * already: no pivot_root, which walks every task on the host, and only the
 * jail's own file systems to mount. Otherwise it is built whole in the
 * namespace the clone made, and pivoted into.
 */
static int
init_tree(const struct jailspec *js, int tmpl)
{
	if (tmpl >= 0) {
		if (setns(tmpl, CLONE_NEWNS) == -1 ||
		    unshare(CLONE_NEWNS) == -1)
			return STEP_PIVOT;
		close(tmpl);
		if (chdir("/") == -1 || jailfs_session(&js->svc) == -1)
			return STEP_MOUNTS;
		return 0;
	}
	if (jailfs_mount(&js->svc, js->rootdir, js->skel) == -1)
		return STEP_MOUNTS;
	if (jailfs_pivot(js->rootdir) == -1)
		return STEP_PIVOT;
	return 0;
}

/*
 * The init of one jail. step is STEP_NONE, or a step that failed before
 * (in its forker's clone), to be reported first.
 */
void
jail_main(int step)
{
	const struct service *s;
	struct jailspec js;
	struct jail_player pl;
	char *spec;
	pid_t child;
	int ctl = JAIL_CTL_FD, sock, master = -1, slave = -1, tmpl;
	volatile int sigfd = -1;	/* set before the vfork, used after */

	if (step != STEP_NONE)
		report(ctl, step);
	/* ps shows "chald-init" whatever the kernel names a memfd exec. */
	prctl(PR_SET_NAME, "chald-init", 0, 0, 0);
	/* The mount points init makes (under /tmp) must be 0755 for the
	 * session's uid whatever the daemon's umask; the challenge gets that
	 * umask back. */
	daemon_umask = umask(022);
	/* Nothing of the daemon's but the control socket and fds 0-2. */
	if (syscall(SYS_close_range, ctl + 1, ~0U, 0U) == -1)
		report(ctl, STEP_FDS);
	if (child_signals() == -1)
		report(ctl, STEP_SIGNALS);
	if (setsid() == -1)
		report(ctl, STEP_SETSID);
	if (init_spec(&js, &spec, &tmpl) == -1) {
		if (errno == EPROTO)
			report(ctl, STEP_SPEC);
		_exit(0);	/* the daemon is gone or gave up on this jail */
	}
	s = &js.svc;
	if (init_cgroups(&js) == -1)
		report(ctl, STEP_CGROUP);
	if (!js.forked)
		jail_loginuid();
	if ((step = init_tree(&js, tmpl)) != 0)
		report(ctl, step);
	if (s->allow_setuid && jailsuid_tree() == -1)
		report(ctl, STEP_MOUNTS);
	/* A namespace from the daemon's pool got lo up when it was made,
	 * and no jail since could take it down (bench/README.md). */
	if (!s->net_host && !js.net_ready && netlo_up() == -1)
		report(ctl, STEP_NETWORK);
	if (sethostname(s->hostname, strlen(s->hostname)) == -1)
		report(ctl, STEP_HOSTNAME);
	/* The challenge's terminal, init's controlling terminal (init leads
	 * the session), owned by the session's uid. */
	if (s->stdio_mode == STDIO_PTY && relay_pty(&master, &slave, js.uid) ==
	    -1)
		report(ctl, STEP_PTY);
	if ((step = jail_lock(&js)) != 0)
		report(ctl, step);
	if (send_report(ctl, STEP_READY, 0) == -1)
		_exit(0);
	sock = init_receive(ctl, &pl);
	if (sock == -1)
		_exit(0);
	/* The socket is the host's network namespace's: it must not be
	 * pointed anywhere else (peerlock.c). */
	if (!s->net_host && peerlock_apply(sock) == -1)
		report(ctl, STEP_PEERLOCK);
	/* Before the challenge runs, so that no SIGCHLD is missed. */
	if ((master >= 0 || s->kill_disc) && (sigfd = relay_signals()) == -1)
		report(ctl, STEP_SIGNALS);
	/* vfork: the challenge execs at once, nothing to copy. It writes
	 * only its own stack (and challenge_failed) and never returns. */
	child = vfork();
	if (child == -1)
		report(ctl, STEP_FORK);
	if (child == 0)
		challenge_main(&js, sock, slave, &pl);
	if (challenge_failed) {
		/* It reported why; the daemon ends the session. */
		close(ctl);
		init_wait(child);
	}
	/* init keeps the control socket: it may have to say that the
	 * player went (STEP_GONE). */
	if (send_report(ctl, STEP_EXECD, 0) == -1)
		_exit(0);
	init_serve(s, child, sock, sigfd, master, slave, pl.errfd);
}

int
main(int argc, char **argv)
{
	struct stat st;

	/* chald runs "chald-init -check" once at start: can it exec us? */
	if (argc == 2 && strcmp(argv[1], "-check") == 0)
		return 0;
	/* An unjailed session with stdio = pty (spawn.c). */
	if (argc >= 2 && strcmp(argv[1], "-relay") == 0)
		return relay_main(argc, argv);
	/* The forker of a service's jails (forker.c). Told by its one
	 * environment variable, so that its jails, which it does not exec,
	 * show the same command line as an exec'd init. */
	if (argc == 1 && getenv("CHALD_INIT") != NULL &&
	    strcmp(getenv("CHALD_INIT"), "fork") == 0 &&
	    fstat(JAIL_CTL_FD, &st) == 0 && S_ISSOCK(st.st_mode))
		return jailfork_main();
	if (argc != 1 || fstat(JAIL_CTL_FD, &st) == -1 ||
	    !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "chald-init: the init of chald's jails; chald "
		    "runs it, with its control socket on fd %d\n",
		    JAIL_CTL_FD);
		return 2;
	}
	jail_main(STEP_NONE);
}
