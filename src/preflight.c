/*
 * preflight.c: what the jail needs of the host or the container, checked
 * once before chald serves (and by chald -n), so that a missing privilege
 * stops chald with one line that names it and the option of podman,
 * docker, Kubernetes or systemd that grants it, instead of a daemon that
 * starts and then fails every session.
 *
 * In order: the capabilities; uids that exist in chald's user namespace;
 * the namespaces, mounts, /proc and hostname of a jail, tried for real in
 * a throwaway child made as the jail's init is (clone3 with the jail's
 * namespace flags), so that a seccomp profile, an LSM, a masked /proc or
 * a namespace limit shows here as it would in every session; chald not
 * in a user namespace; and a cgroup of chald's own that it may write and
 * whose controllers it may use.
 *
 * chald makes no user namespace: a jail's namespaces are owned by the user
 * namespace chald runs in. Blocking user namespaces (Ubuntu's
 * kernel.apparmor_restrict_unprivileged_userns, user.max_user_namespaces
 * = 0) does not concern it.
 */
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define CGROOT		"/sys/fs/cgroup"
#define DOC		" (docs/deploy.md)"

static int
fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* What the configuration asks of the jail. */
struct wants {
	int		 any;		/* a sandboxed service */
	int		 net;		/* one with network = none */
	int		 ctrl[CG_NCTRL];
	const char	*hostname;
	const char	*setuid;	/* a service with setuid = on */
};

static void
wants_of(const struct config *c, struct wants *w)
{
	memset(w, 0, sizeof(*w));
	for (const struct service *s = c->services; s != NULL; s = s->next) {
		if (!s->sandbox)
			continue;
		w->any = 1;
		w->net |= !s->net_host;
		w->ctrl[CG_PIDS] |= s->pids > 0;
		w->ctrl[CG_MEMORY] |= s->memory > 0;
		w->ctrl[CG_CPU] |= s->cpu > 0;
		if (w->hostname == NULL)
			w->hostname = s->hostname;
		if (w->setuid == NULL && s->allow_setuid)
			w->setuid = s->name;
	}
}

/*
 * Capabilities. SYS_ADMIN: namespaces, mounts, pivot_root. NET_ADMIN: the
 * loopback of each session's network namespace. SETUID, SETGID: the
 * session's uid. SETPCAP: emptying the bounding set. KILL: the session's
 * init passes SIGTERM on to processes of another uid; without it a stop
 * waits for grace and SIGKILL.
 */
static const struct {
	int		 cap;
	int		 net;	/* needed only for network = none */
	const char	*name;
} need_caps[] = {
	{ CAP_SYS_ADMIN, 0, "SYS_ADMIN" },
	{ CAP_NET_ADMIN, 1, "NET_ADMIN" },
	{ CAP_SETUID, 0, "SETUID" },
	{ CAP_SETGID, 0, "SETGID" },
	{ CAP_SETPCAP, 0, "SETPCAP" },
	{ CAP_KILL, 0, "KILL" },
};

int
preflight_caps(int net, char *err, size_t errlen)
{
	char line[256], missing[256] = "", add[256] = "";
	unsigned long long eff = 0;
	int found = 0;
	FILE *fp = fopen("/proc/self/status", "re");

	if (fp == NULL)
		return fail(err, errlen, "/proc/self/status: %s",
		    strerror(errno));
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, "CapEff:", 7) == 0) {
			eff = strtoull(line + 7, NULL, 16);
			found = 1;
		}
	fclose(fp);
	if (!found)
		return 0;	/* not Linux as we know it: let the jail say */
	for (size_t i = 0; i < sizeof(need_caps) / sizeof(need_caps[0]); i++)
		if ((net || !need_caps[i].net) &&
		    !(eff & (1ULL << need_caps[i].cap))) {
			snprintf(missing + strlen(missing), sizeof(missing) -
			    strlen(missing), "%sCAP_%s", *missing ? ", " : "",
			    need_caps[i].name);
			/* One a flag: docker takes no list. */
			snprintf(add + strlen(add), sizeof(add) - strlen(add),
			    "%s--cap-add=%s", *add ? " " : "",
			    need_caps[i].name);
		}
	if (*missing == '\0')
		return 0;
	return fail(err, errlen, "the jail needs %s, which chald does not "
	    "have: podman/docker %s, Kubernetes securityContext."
	    "capabilities.add, systemd CapabilityBoundingSet=" DOC, missing,
	    add);
}

/*
 * In a user namespace (rootless podman, Kubernetes hostUsers: false) only
 * the mapped uids exist: a session's setresuid() to another fails.
 */
static int
id_mapped(const char *map, unsigned long lo, unsigned long hi, char *have,
    size_t havelen)
{
	unsigned long in, out, n;
	FILE *fp = fopen(map, "re");
	int ok = 0;

	*have = '\0';
	if (fp == NULL)
		return 1;	/* no user namespaces in this kernel */
	while (fscanf(fp, "%lu %lu %lu", &in, &out, &n) == 3) {
		if (lo >= in && hi - in < n)
			ok = 1;
		snprintf(have + strlen(have), havelen - strlen(have), "%s%lu-%lu",
		    *have ? "," : "", in, in + n - 1);
	}
	fclose(fp);
	return ok;
}

static int
uids_check(const struct config *c, char *err, size_t errlen)
{
	static const char *maps[] = { "/proc/self/uid_map",
	    "/proc/self/gid_map" };
	char have[256];

	for (const struct service *s = c->services; s != NULL; s = s->next)
		for (int i = 0; s->sandbox && i < 2; i++) {
			if (id_mapped(maps[i], s->uid_min, s->uid_max, have,
			    sizeof(have)))
				continue;
			return fail(err, errlen, "the jail needs the uids and "
			    "gids of uid-range %lu-%lu (service %s), which "
			    "chald's user namespace does not map (%s: %s): set "
			    "uid-range within it, or run the container without "
			    "a user namespace (rootful podman/docker, "
			    "Kubernetes hostUsers: true)" DOC,
			    (unsigned long)s->uid_min,
			    (unsigned long)s->uid_max, s->name, maps[i],
			    *have ? have : "none");
		}
	return 0;
}

/*
 * chald itself in a user namespace (rootless podman, --userns, Kubernetes
 * hostUsers: false): what the probe below finds missing there is said
 * first, as it is true there too, then this. The initial user namespace
 * has a fixed inode number.
 */
#define INIT_USERNS_INO	0xEFFFFFFDU

/*
 * setuid = on leaves no_new_privs off in its jails, but a flag the daemon
 * has itself every jail inherits, and then every set-user-ID helper fails
 * with "Permission denied": better refuse at start than let the organizer
 * find it in a player's report.
 */
static int
nnp_check(const char *svc, char *err, size_t errlen)
{
	if (svc == NULL || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 0;
	return fail(err, errlen, "service %s has setuid = on, but chald "
	    "itself runs with no_new_privs, which every jail inherits and "
	    "which voids set-user-ID bits: start chald without it (systemd "
	    "NoNewPrivileges=no, docker/podman without --security-opt "
	    "no-new-privileges, Kubernetes allowPrivilegeEscalation: true)"
	    DOC, svc);
}

static int
userns_check(char *err, size_t errlen)
{
	struct stat st;

	if (stat("/proc/self/ns/user", &st) == -1 || st.st_ino ==
	    INIT_USERNS_INO)
		return 0;
	return fail(err, errlen, "the jail needs chald in the host's user "
	    "namespace, but chald runs in one of its own, where the filter "
	    "that ties each session's socket to its player fails "
	    "(SO_ATTACH_FILTER: EPERM): run the container rootful "
	    "without --userns or --uidmap (Kubernetes hostUsers: true)" DOC);
}

/* The throwaway jail: the steps it tries, in the order the jail does. */
enum step {
	PF_NS, PF_PRIVATE, PF_TMPFS, PF_PROC, PF_HOSTNAME,
	PF_PIVOT, PF_DONE
};

struct report {
	int	step;
	int	err;	/* -1: being tried */
};

static void
say(int fd, int step, int e)
{
	struct report r = { step, e };

	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(1);
}

/*
 * pid 1 of the new namespaces: async-signal-safe calls only (this is a
 * fork, made by a raw clone3). Every step is said before it is tried, so
 * that a seccomp kill names its call too.
 */
static void __attribute__((noreturn))
probe_child(int fd, const char *hostname)
{
	for (int step = PF_PRIVATE; step < PF_DONE; step++) {
		int ret = -1;

		say(fd, step, -1);
		switch (step) {
		case PF_PRIVATE:
			ret = mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
			break;
		case PF_TMPFS:	/* tried first: is mount(2) allowed */
			ret = mount("tmpfs", "/proc", "tmpfs", MS_NOSUID |
			    MS_NODEV | MS_NOEXEC, "size=4k");
			if (ret == 0)
				ret = umount2("/proc", MNT_DETACH);
			break;
		case PF_PROC:
			ret = mount("proc", "/proc", "proc", MS_NOSUID |
			    MS_NODEV | MS_NOEXEC, "hidepid=invisible");
			break;
		case PF_HOSTNAME:
			ret = sethostname(hostname, strlen(hostname));
			break;
		case PF_PIVOT:	/* onto a tmpfs, as onto the jail's root */
			ret = mount("tmpfs", "/proc", "tmpfs", MS_NOSUID |
			    MS_NODEV | MS_NOEXEC, "size=4k");
			if (ret == 0)
				ret = chdir("/proc");
			if (ret == 0)
				ret = (int)syscall(SYS_pivot_root, ".", ".");
			break;
		}
		if (ret == -1) {
			say(fd, step, errno);
			_exit(1);
		}
	}
	say(fd, PF_DONE, 0);
	_exit(0);
}

static pid_t
clone_ns(uint64_t flags)
{
	struct clone_args ca;

	memset(&ca, 0, sizeof(ca));
	ca.flags = flags;
	ca.exit_signal = SIGCHLD;
	return (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
}

static const struct {
	uint64_t	 flag;
	const char	*name, *sysctl;
} ns_kinds[] = {
	{ CLONE_NEWNS, "mount", "user.max_mnt_namespaces" },
	{ CLONE_NEWPID, "pid", "user.max_pid_namespaces" },
	{ CLONE_NEWIPC, "ipc", "user.max_ipc_namespaces" },
	{ CLONE_NEWUTS, "uts", "user.max_uts_namespaces" },
	{ CLONE_NEWCGROUP, "cgroup", "user.max_cgroup_namespaces" },
	{ CLONE_NEWNET, "network", "user.max_net_namespaces" },
};

/* Which one of flags the kernel refuses, and the line that says why. */
static int
ns_fail(uint64_t flags, int e, char *err, size_t errlen)
{
	size_t i, n = sizeof(ns_kinds) / sizeof(ns_kinds[0]);

	for (i = 0; i < n; i++) {
		pid_t pid;

		if (!(flags & ns_kinds[i].flag))
			continue;
		pid = clone_ns(ns_kinds[i].flag);
		if (pid == 0)
			_exit(0);
		if (pid > 0) {
			waitpid(pid, NULL, 0);
			continue;
		}
		e = errno;
		break;
	}
	if (e == ENOSYS)
		return fail(err, errlen, "the jail needs clone3(), which a "
		    "seccomp profile hides (ENOSYS; or the kernel is older "
		    "than 5.3): podman/docker "
		    "--security-opt seccomp=unconfined or a profile that "
		    "allows clone3, Kubernetes seccompProfile: Unconfined, "
		    "systemd: drop RestrictNamespaces=" DOC);
	if (i == n)
		return fail(err, errlen, "the jail cannot make its namespaces: "
		    "clone3: %s" DOC, strerror(e));
	if (e == ENOSPC)
		return fail(err, errlen, "the jail needs %s namespaces, which "
		    "a limit forbids (ENOSPC): raise %s (sysctl)" DOC,
		    ns_kinds[i].name, ns_kinds[i].sysctl);
	if (e == EINVAL)
		return fail(err, errlen, "the jail needs %s namespaces, which "
		    "this kernel does not have (EINVAL)" DOC, ns_kinds[i].name);
	return fail(err, errlen, "the jail needs %s namespaces, which "
	    "chald may not make (%s) although it has CAP_SYS_ADMIN: a seccomp "
	    "profile or an LSM refuses them: podman/docker --security-opt "
	    "seccomp=unconfined or a profile that allows clone3 and unshare, "
	    "Kubernetes seccompProfile: Unconfined, systemd: drop "
	    "RestrictNamespaces=" DOC, ns_kinds[i].name, strerror(e));
}

static int
step_fail(int step, int e, int sig, char *err, size_t errlen)
{
	static const char *what[] = {
		[PF_PRIVATE] = "make its mounts private",
		[PF_TMPFS] = "mount a tmpfs",
		[PF_PROC] = "mount its /proc",
		[PF_HOSTNAME] = "set its hostname",
		[PF_PIVOT] = "pivot_root",
	};
	char why[64];

	if (sig != 0)
		snprintf(why, sizeof(why), "killed by %s", strsignal(sig));
	else
		snprintf(why, sizeof(why), "%s", strerror(e));
	if (step == PF_PROC && sig == 0 && e == EPERM)
		return fail(err, errlen, "the jail cannot mount its /proc "
		    "(%s): chald is in a user namespace and the container's "
		    "/proc has masked paths: podman --security-opt "
		    "unmask=/proc/*, docker --security-opt systempaths="
		    "unconfined, Kubernetes securityContext.procMount: "
		    "Unmasked" DOC, why);
	if (step == PF_HOSTNAME)
		return fail(err, errlen, "the jail cannot set its hostname "
		    "(%s): a seccomp filter refuses sethostname() (systemd: "
		    "drop ProtectHostname=; a container: its seccomp profile)"
		    DOC, why);
	/*
	 * With CAP_SYS_ADMIN checked, EPERM is a seccomp profile's answer
	 * (docker's default refuses pivot_root), EACCES an LSM's.
	 */
	if (sig != 0 || e != EACCES)
		return fail(err, errlen, "the jail cannot %s (%s): a seccomp "
		    "profile refuses it: docker --security-opt seccomp="
		    "/usr/share/containers/seccomp.json (podman's) or "
		    "seccomp=unconfined, Kubernetes seccompProfile: "
		    "Unconfined, systemd: drop SystemCallFilter=" DOC,
		    what[step], why);
	return fail(err, errlen, "the jail cannot %s (%s): an AppArmor or "
	    "SELinux policy refuses it: podman/docker --security-opt "
	    "apparmor=unconfined (label=disable on SELinux), Kubernetes "
	    "appArmorProfile: Unconfined" DOC, what[step], why);
}

/*
 * A jail's namespaces, mounts, /proc, hostname and pivot_root, with a
 * network namespace if net; on error, the line that says what refused it.
 */
int
preflight_jail(int net, const char *hostname, char *err, size_t errlen)
{
	uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
	    CLONE_NEWUTS | CLONE_NEWCGROUP | (net ? CLONE_NEWNET : 0);
	struct report r, last = { PF_NS, -1 };
	int fds[2], status, e;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return fail(err, errlen, "pipe: %s", strerror(errno));
	pid = clone_ns(flags);
	if (pid == 0) {
		close(fds[0]);
		probe_child(fds[1], hostname);
	}
	e = errno;
	close(fds[1]);
	if (pid == -1) {
		close(fds[0]);
		return ns_fail(flags, e, err, errlen);
	}
	while (read(fds[0], &r, sizeof(r)) == (ssize_t)sizeof(r))
		last = r;
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (last.step == PF_DONE)
		return 0;
	return step_fail(last.step, last.err < 0 ? 0 : last.err,
	    WIFSIGNALED(status) ? WTERMSIG(status) : 0, err, errlen);
}

/* Our own cgroup's path for a v1 controller, or for v2 with ctrl "". */
static int
own_cgroup(const char *ctrl, char *out, size_t len)
{
	if (cgroup_own_path(ctrl, out, len) == -1)
		return -1;
	if (strcmp(out, "/") == 0)
		*out = '\0';
	return 0;
}

/* The controller names of v2, whose cpu is v1's cpu and cpuacct. */
static const char *ctrl_v1[CG_NCTRL] = { "pids", "memory", "cpu", "cpuacct" };
static const char *ctrl_v2[CG_NCTRL] = { "pids", "memory", "cpu", "cpu" };

/* The cgroup dir chald makes its sessions' below must be writable. */
static int
cgroup_dir_check(const char *dir, char *err, size_t errlen)
{
	struct statvfs sv;
	struct stat st;

	if (stat(dir, &st) == -1)
		return fail(err, errlen, "the jail needs chald's own cgroup, "
		    "but %s is missing (%s): chald has the host's cgroup "
		    "namespace, and only the container's cgroup is mounted: "
		    "podman/docker --cgroupns=private (Kubernetes: cgroup v2 "
		    "nodes)" DOC, dir, strerror(errno));
	if (statvfs(dir, &sv) == 0 && (sv.f_flag & ST_RDONLY))
		return fail(err, errlen, "the jail needs a writable cgroup "
		    "file system, but %s is mounted read-only: in a "
		    "container run the image's entrypoint (chald --jail-env), "
		    "which remounts it in a mount namespace of its own; under "
		    "systemd drop ProtectControlGroups=" DOC, dir);
	if (faccessat(AT_FDCWD, dir, W_OK, AT_EACCESS) == -1)
		return fail(err, errlen, "the jail needs a cgroup delegated to "
		    "chald, but chald may not write %s (%s, owner uid %lu): "
		    "chown it to chald's user, or systemd Delegate=yes" DOC,
		    dir, strerror(errno), (unsigned long)st.st_uid);
	return 0;
}

static int
cgroups_v1(const int need[CG_NCTRL], char *err, size_t errlen)
{
	for (int i = 0; i < CG_NCTRL; i++) {
		char mnt[PATH_MAX], own[PATH_MAX], dir[PATH_MAX * 2];
		struct statfs sf;

		if (!need[i])
			continue;
		snprintf(mnt, sizeof(mnt), "%s/%s", CGROOT, ctrl_v1[i]);
		if (statfs(mnt, &sf) == -1 || (long)sf.f_type !=
		    CGROUP_SUPER_MAGIC || own_cgroup(ctrl_v1[i], own,
		    sizeof(own)) == -1)
			return fail(err, errlen, "the jail needs the %s cgroup "
			    "controller, which is not mounted at %s: mount it, "
			    "or set %s = 0" DOC, ctrl_v1[i], mnt, ctrl_v1[i]);
		snprintf(dir, sizeof(dir), "%s%s", mnt, own);
		if (cgroup_dir_check(dir, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* Whether the cgroup dir holds processes other than chald itself. */
static long
other_proc(const char *dir)
{
	char path[PATH_MAX];
	long pid, other = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if ((fp = fopen(path, "re")) == NULL)
		return 0;
	while (other == 0 && fscanf(fp, "%ld", &pid) == 1)
		if (pid != (long)getpid())
			other = pid;
	fclose(fp);
	return other;
}

static int
cgroups_v2(const int need[CG_NCTRL], char *err, size_t errlen)
{
	char own[PATH_MAX], dir[PATH_MAX * 2], path[PATH_MAX * 2 + 32];
	char ctl[256] = "", sub[256] = "";
	const char *leaf = "/chald-daemon";
	size_t l;
	long other;
	int fd;
	ssize_t n;

	if (own_cgroup("", own, sizeof(own)) == -1)
		return fail(err, errlen, "the jail needs a cgroup, but "
		    "/proc/self/cgroup has no cgroup v2 entry" DOC);
	snprintf(dir, sizeof(dir), "%s%s", CGROOT, own);
	l = strlen(dir);
	if (l > strlen(leaf) && strcmp(dir + l - strlen(leaf), leaf) == 0)
		dir[l - strlen(leaf)] = '\0';	/* a restart: its parent */
	if (cgroup_dir_check(dir, err, errlen) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, ctl, sizeof(ctl) - 1);
		ctl[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, sub, sizeof(sub) - 1);
		sub[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	ctl[strcspn(ctl, "\n")] = '\0';
	sub[strcspn(sub, "\n")] = '\0';
	for (int i = 0; i < CG_NCTRL; i++) {
		char word[32];

		snprintf(word, sizeof(word), " %s ", ctrl_v2[i]);
		snprintf(path, sizeof(path), " %s ", ctl);
		if (need[i] && strstr(path, word) == NULL)
			return fail(err, errlen, "the jail needs the %s "
			    "controller, which is not delegated to chald's "
			    "cgroup %s (it has: %s): systemd Delegate=yes, or "
			    "+%s in the parent's cgroup.subtree_control" DOC,
			    ctrl_v2[i], dir, *ctl ? ctl : "none", ctrl_v2[i]);
		snprintf(path, sizeof(path), " %s ", sub);
		/*
		 * chald enables what is missing in its cgroup, which may then
		 * hold no process (the no-internal-process rule): chald moves
		 * into a leaf of it; anyone else there is in the way.
		 */
		if (need[i] && i != CG_CPUACCT && strstr(path, word) == NULL &&
		    !cgroup_v2_host_root(own) && (other = other_proc(dir)) != 0)
			return fail(err, errlen, "the jail needs a cgroup of "
			    "chald's own, but %s holds other processes (pid "
			    "%ld), so the %s controller cannot be enabled below "
			    "it: start chald in a cgroup of its own (systemd "
			    "Delegate=yes, a container)" DOC, dir, other,
			    ctrl_v2[i]);
	}
	return 0;
}

/*
 * All of the above for configuration c, when it has a sandboxed service
 * and chald is root (sandbox_init says what a non-root chald lacks).
 * On error, -1 and one line in err.
 */
int
preflight_check(const struct config *c, char *err, size_t errlen)
{
	struct wants w;
	struct statfs sf;

	wants_of(c, &w);
	if (!w.any || geteuid() != 0)
		return 0;
	if (preflight_caps(w.net, err, errlen) == -1 ||
	    uids_check(c, err, errlen) == -1 ||
	    preflight_jail(w.net, w.hostname, err, errlen) == -1 ||
	    userns_check(err, errlen) == -1 ||
	    nnp_check(w.setuid, err, errlen) == -1)
		return -1;
	if (statfs(CGROOT, &sf) == 0 && (long)sf.f_type == CGROUP2_SUPER_MAGIC)
		return cgroups_v2(w.ctrl, err, errlen);
	return cgroups_v1(w.ctrl, err, errlen);
}
