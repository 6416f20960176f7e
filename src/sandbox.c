/*
 * sandbox.c: a jailed session. The daemon clone3()s the session's first
 * process into new pid, mount, ipc, uts, cgroup (and network) namespaces
 * and, on cgroup v2, straight into the session's cgroup. That process is
 * pid 1 of the session: it builds the jail (a read-only tmpfs root with bind
 * mounts, /dev, /proc with hidepid, a size-capped /tmp), forks the
 * challenge, and reaps until the challenge exits. When it dies the kernel
 * kills everything left in the pid namespace, whatever it did to escape
 * (double fork, setsid, ignoring signals). The challenge itself drops to a
 * uid of its own, loses every capability, gets rlimits as backstops and a
 * seccomp filter, and is exec'd.
 *
 * The jail is built before there is a player for it: the daemon keeps a
 * few ready per service (the pool) and hands the accepted socket over a
 * control socket (SCM_RIGHTS), so a player waits only for fork and exec.
 * Without a ready jail, one is started and handed the socket at once; the
 * daemon never waits for a jail to be built either way.
 *
 * Messages on the control socket: "ready" from init once the jail is
 * built; {step, errno} from init or the challenge when a step fails (a jail
 * is never run with a layer missing); EOF once the challenge was exec'd.
 */
#include <sys/file.h>
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
#include <linux/mount.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define ROOTDIR		"/run/chald/root"
#define PENDING_TRIES	100	/* x loop ticks before a cgroup is given up */

/* What a dynamically linked challenge needs, bound read-only if present. */
static const char *default_binds[] = {
	"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr",
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
	"/etc/hosts", "/etc/alternatives", "/etc/ssl", NULL
};

static const char *dev_nodes[] = {
	"null", "zero", "full", "random", "urandom", NULL
};

struct jail_report {
	int	step;		/* STEP_READY, or the step that failed */
	int	err;
};

/* The player, as the daemon hands it over with the socket. */
struct jail_player {
	char	ip[46];
	int	port;
	int	nfds;		/* 1: the socket, 2: and a stderr pipe */
	int	errfd;		/* filled in by init */
};

/* Everything the session's init needs, prepared by the parent. */
struct jail_args {
	const struct service	*svc;
	const struct sandbox	*sb;
	uid_t			 uid;
	int			 ctl;
	char			 procs[CG_NCTRL][PATH_MAX];
};

/* The parent side. */

int
session_kill(struct session *s, int sig)
{
	if (s->pidfd >= 0)
		return (int)syscall(SYS_pidfd_send_signal, s->pidfd, sig,
		    NULL, 0);
	return kill(-s->pid, sig);
}

static void
needs(const struct config *c, int need[CG_NCTRL], int *any)
{
	memset(need, 0, sizeof(int) * CG_NCTRL);
	*any = 0;
	for (const struct service *s = c->services; s != NULL; s = s->next) {
		if (!s->sandbox)
			continue;
		*any = 1;
		need[CG_PIDS] |= s->pids > 0;
		need[CG_MEMORY] |= s->memory > 0;
		need[CG_CPU] |= s->cpu > 0;
	}
}

/*
 * Checks that the jail can be built for every sandboxed service of c, and
 * prepares the host side once: the cgroup hierarchy and the mount point.
 */
int
sandbox_init(struct sandbox *sb, struct config *c, char *err, size_t errlen)
{
	int need[CG_NCTRL], any;
	char desc[PATH_MAX * 2];

	needs(c, need, &any);
	if (!any)
		return sandbox_check(sb, c, err, errlen);
	if (geteuid() != 0) {
		snprintf(err, errlen, "the sandbox needs root (namespaces, "
		    "cgroups, uids); run chald as root or set sandbox = off "
		    "(--sandbox off) for trusted challenges");
		return -1;
	}
	if (!sb->ready) {
		if (cgroup_init(&sb->cg, need, err, errlen) == -1)
			return -1;
		if (uidset_init(&sb->uids) == -1) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		snprintf(sb->rootdir, sizeof(sb->rootdir), "%s", ROOTDIR);
		if (mkdir("/run/chald", 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "/run/chald: %s",
			    strerror(errno));
			return -1;
		}
		if (mkdir(sb->rootdir, 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", sb->rootdir,
			    strerror(errno));
			return -1;
		}
		sb->ready = 1;
		log_event("sandbox cgroup=%s", log_quote(cgroup_describe(
		    &sb->cg, desc, sizeof(desc))));
	}
	return sandbox_check(sb, c, err, errlen);
}

/*
 * uids must not be shared between two chald instances on one host (one
 * player could signal or out-fork the other's). Instances register their
 * ranges in /run/chald/uid-ranges, under a lock; entries of dead instances
 * are dropped. A service left on the default range moves to the next free
 * block of the same size; an explicit range that overlaps is an error.
 */
struct uid_claim {
	long		 pid;
	unsigned long	 lo, hi;
};

static const struct uid_claim *
uid_overlap(const struct uid_claim *cl, int n, unsigned long lo,
    unsigned long hi)
{
	for (int i = 0; i < n; i++)
		if (lo <= cl[i].hi && hi >= cl[i].lo)
			return &cl[i];
	return NULL;
}

static int
uid_ranges_claim(struct sandbox *sb, struct config *c, char *err,
    size_t errlen)
{
	struct uid_claim cl[256];
	char line[128], out[16384];
	size_t used = 0;
	FILE *fp;
	int fd, n = 0, ret = 0;

	fd = open("/run/chald/uid-ranges", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1 || flock(fd, LOCK_EX) == -1) {
		snprintf(err, errlen, "/run/chald/uid-ranges: %s",
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	fp = fdopen(dup(fd), "r");
	while (fp != NULL && fgets(line, sizeof(line), fp) != NULL && n < 256) {
		struct uid_claim *u = &cl[n];

		if (sscanf(line, "%ld %lu %lu", &u->pid, &u->lo, &u->hi) != 3 ||
		    u->pid == (long)getpid() ||
		    (kill((pid_t)u->pid, 0) == -1 && errno == ESRCH))
			continue;
		if (used + strlen(line) >= sizeof(out))
			break;
		n++;
		memcpy(out + used, line, strlen(line));
		used += strlen(line);
	}
	if (fp != NULL)
		fclose(fp);
	for (struct service *s = c->services; s != NULL && ret == 0;
	    s = s->next) {
		const struct uid_claim *o;
		unsigned long w = (unsigned long)s->uid_max - s->uid_min + 1;

		if (!s->sandbox)
			continue;
		/* A default range stays where an earlier load moved it: live
		 * sessions may hold uids of that block. */
		if (!s->uid_range_set) {
			s->uid_min += sb->uid_shift;
			s->uid_max += sb->uid_shift;
		}
		while ((o = uid_overlap(cl, n, s->uid_min, s->uid_max)) !=
		    NULL) {
			if (s->uid_range_set || s->uid_max + w > 4000000000UL) {
				snprintf(err, errlen, "service %s: uid-range "
				    "%u-%u overlaps %lu-%lu of the chald with "
				    "pid %ld; give each instance its own range",
				    s->name, (unsigned)s->uid_min,
				    (unsigned)s->uid_max, o->lo, o->hi, o->pid);
				ret = -1;
				break;
			}
			s->uid_min += w;
			s->uid_max += w;
			sb->uid_shift += w;
			if (uid_overlap(cl, n, s->uid_min, s->uid_max) == NULL)
				log_event("uid-range service=%s range=%u-%u "
				    "reason=%s", s->name, (unsigned)s->uid_min,
				    (unsigned)s->uid_max, log_quote("the default "
				    "range is taken by another chald"));
		}
		if (ret == 0 && used + 64 < sizeof(out))
			used += (size_t)snprintf(out + used, 64, "%ld %u %u\n",
			    (long)getpid(), (unsigned)s->uid_min,
			    (unsigned)s->uid_max);
	}
	if (ret == 0 && (ftruncate(fd, 0) == -1 ||
	    pwrite(fd, out, used, 0) != (ssize_t)used)) {
		snprintf(err, errlen, "/run/chald/uid-ranges: %s",
		    strerror(errno));
		ret = -1;
	}
	close(fd);
	return ret;
}

/* A reload may not ask for a controller chald did not set up at start. */
int
sandbox_check(struct sandbox *sb, struct config *c, char *err, size_t errlen)
{
	int need[CG_NCTRL], any;
	const char *names[CG_NCTRL] = { "pids", "memory", "cpu", "cpuacct" };

	for (const struct service *s = c->services; s != NULL; s = s->next)
		if (!s->sandbox)
			log_event("sandbox-off service=%s warning=%s", s->name,
			    log_quote("sessions run unjailed as chald's own "
			    "user: only for trusted challenges"));
	needs(c, need, &any);
	if (!any)
		return 0;
	if (sb->ready && uid_ranges_claim(sb, c, err, errlen) == -1)
		return -1;
	if (!sb->ready) {
		snprintf(err, errlen, "a sandboxed service needs chald to "
		    "have started with one (restart chald)");
		return -1;
	}
	for (int i = 0; i < CG_NCTRL; i++)
		if (need[i] && !sb->cg.have[i]) {
			snprintf(err, errlen, "the %s limit needs the %s cgroup "
			    "controller, which chald does not have", names[i],
			    names[i]);
			return -1;
		}
	return 0;
}

/* The child side: the session's init. */

static int
mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	/* Most parents exist already: try the whole path first. */
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static int
touch(const char *path)
{
	char dir[PATH_MAX], *slash;
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir_p(dir, 0755) == -1)
			return -1;
	}
	/* Read-only: an existing mount point on a read-only root will do. */
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd == -1)
		return -1;
	close(fd);
	return 0;
}

/*
 * Read-only (unless rw), nosuid and nodev on a bind and on every mount
 * below it: a plain remount would change the top mount only, and a host
 * mount under a bound path would stay writable in the jail.
 */
static int
mount_flags(const char *dst, int rw)
{
	struct mount_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
	    (rw ? 0 : MOUNT_ATTR_RDONLY);
	if (syscall(SYS_mount_setattr, AT_FDCWD, dst, AT_RECURSIVE, &attr,
	    sizeof(attr)) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	/* Before Linux 5.12: the top mount only. */
	return mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID |
	    MS_NODEV | (rw ? 0 : MS_RDONLY), NULL);
}

/*
 * Copies a small regular file into the jail's tmpfs root. For the default
 * /etc files this is cheaper than a bind mount, which costs a mount and a
 * remount now and an unmount when the jail is torn down.
 */
static int
copy_small(const char *src, const char *dst, const struct stat *st)
{
	char buf[65536];
	ssize_t n;
	int in, out, ret = -1;

	if (touch(dst) == -1)
		return -1;
	in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in == -1)
		return -1;
	out = open(dst, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (out == -1)
		goto done;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto done;
	if (n == 0 && fchmod(out, st->st_mode & 0755) == 0)
		ret = 0;
done:
	close(in);
	if (out != -1)
		close(out);
	return ret;
}

/*
 * Binds src at the same path under root. A top-level symlink (/bin ->
 * usr/bin on merged-/usr systems) is recreated as a symlink instead. One of
 * chald's defaults (dflt) may be missing, and a small file is copied.
 */
static int
bind_path(const char *root, const char *src, int rw, int dflt)
{
	char dst[PATH_MAX], link[PATH_MAX];
	struct stat st;

	if ((dflt ? lstat(src, &st) : stat(src, &st)) == -1)
		return dflt && errno == ENOENT ? 0 : -1;
	snprintf(dst, sizeof(dst), "%s%s", root, src);
	if (S_ISLNK(st.st_mode) && dflt) {
		ssize_t n = readlink(src, link, sizeof(link) - 1);
		char parent[PATH_MAX], *slash;

		if (n < 0)
			return -1;
		link[n] = '\0';
		snprintf(parent, sizeof(parent), "%s", dst);
		slash = strrchr(parent, '/');
		if (slash != NULL && slash != parent) {
			*slash = '\0';
			if (mkdir_p(parent, 0755) == -1)
				return -1;
		}
		if (symlink(link, dst) == -1 && errno != EEXIST)
			return -1;
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		if (mkdir_p(dst, 0755) == -1)
			return -1;
	} else if (dflt && !rw && S_ISREG(st.st_mode) &&
	    st.st_size <= 256 * 1024) {
		return copy_small(src, dst, &st);
	} else if (touch(dst) == -1)
		return -1;
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) == -1)
		return -1;
	return mount_flags(dst, rw);
}

static int
jail_dev(const char *root)
{
	char path[PATH_MAX], src[64];

	snprintf(path, sizeof(path), "%s/dev", root);
	if (mkdir_p(path, 0755) == -1 ||
	    mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC,
	    "size=64k,nr_inodes=64,mode=755") == -1)
		return -1;
	for (const char **d = dev_nodes; *d != NULL; d++) {
		snprintf(path, sizeof(path), "%s/dev/%s", root, *d);
		snprintf(src, sizeof(src), "/dev/%s", *d);
		if (touch(path) == -1 ||
		    mount(src, path, NULL, MS_BIND, NULL) == -1)
			return -1;
	}
	snprintf(path, sizeof(path), "%s/dev/fd", root);
	if (symlink("/proc/self/fd", path) == -1)
		return -1;
	for (int i = 0; i < 3; i++) {
		const char *names[] = { "stdin", "stdout", "stderr" };

		snprintf(path, sizeof(path), "%s/dev/%s", root, names[i]);
		snprintf(src, sizeof(src), "/proc/self/fd/%d", i);
		if (symlink(src, path) == -1)
			return -1;
	}
	snprintf(path, sizeof(path), "%s/dev", root);
	return mount(NULL, path, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID |
	    MS_NOEXEC, "size=64k,nr_inodes=64,mode=755");
}

/* True when path is dir or below it. */
static int
under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return 1;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' ||
	    path[n] == '/');
}

static int
jail_mounts(const struct service *s, const char *root)
{
	char path[PATH_MAX], opts[128];

	/* Nothing below may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		return -1;
	if (s->root != NULL) {
		/* Read-only from the start: the organizer's tree is never
		 * written, and every mount point must already be in it. */
		if (mount(s->root, root, NULL, MS_BIND | MS_REC, NULL) == -1 ||
		    mount_flags(root, 0) == -1)
			return -1;
	} else if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV,
	    "size=4m,nr_inodes=4096,mode=755") == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/tmp", root);
	snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=%llu,mode=1777",
	    (unsigned long long)s->tmp_size,
	    (unsigned long long)(s->tmp_size / 4096 + 64));
	if ((s->root == NULL && mkdir_p(path, 0755) == -1) ||
	    mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) == -1)
		return -1;
	if (jail_dev(root) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/proc", root);
	if ((s->root == NULL && mkdir_p(path, 0755) == -1) ||
	    mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    "hidepid=invisible") == -1)
		return -1;
	if (s->root == NULL) {
		char dir[PATH_MAX], *slash;

		for (const char **b = default_binds; *b != NULL; b++)
			if (bind_path(root, *b, 0, 1) == -1)
				return -1;
		snprintf(dir, sizeof(dir), "%s", s->argv[0]);
		slash = strrchr(dir, '/');
		if (slash != NULL && slash != dir)
			*slash = '\0';
		if (bind_path(root, dir, 0, 0) == -1)
			return -1;
		/* The default workdir is the program's: bound already. */
		if (!under(s->workdir, dir) &&
		    bind_path(root, s->workdir, 0, 0) == -1)
			return -1;
	}
	for (int i = 0; i < s->nbind_ro; i++)
		if (bind_path(root, s->bind_ro[i], 0, 0) == -1)
			return -1;
	for (int i = 0; i < s->nbind_rw; i++)
		if (bind_path(root, s->bind_rw[i], 1, 0) == -1)
			return -1;
	if (s->root == NULL)
		return mount(NULL, root, NULL, MS_REMOUNT | MS_RDONLY |
		    MS_NOSUID | MS_NODEV, "size=4m,nr_inodes=4096,mode=755");
	return mount(NULL, root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY |
	    MS_NOSUID | MS_NODEV, NULL);
}

static int
jail_pivot(const char *root)
{
	if (chdir(root) == -1 ||
	    syscall(SYS_pivot_root, ".", ".") == -1 ||
	    umount2(".", MNT_DETACH) == -1 ||
	    chdir("/") == -1)
		return -1;
	return 0;
}

/* The namespace's own loopback, so a challenge may talk to itself. */
static int
jail_network(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == -1) {
		close(fd);
		return -1;
	}
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

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

/*
 * Done by init while the jail waits for its player, so that the hand-over
 * path stays short; the challenge inherits all three: the rlimits, an empty
 * capability bounding set, and the seccomp filter (init no longer needs
 * anything the filter denies).
 */
static int
jail_lock(const struct service *s)
{
	if (jail_rlimits(s) == -1)
		return STEP_RLIMITS;
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 &&
		    errno != EINVAL)
			return STEP_PRIVILEGES;
	if (s->seccomp && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER,
	    &s->filter) == -1)
		return STEP_SECCOMP;
	return 0;
}

/* No way back: own uid and gid, no groups, no capabilities at all. */
static int
jail_privileges(uid_t uid)
{
	if (setgroups(0, NULL) == -1 ||
	    setresgid(uid, uid, uid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
	    errno != EINVAL)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
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

static void __attribute__((noreturn))
challenge_main(struct jail_args *a, int sock, const struct jail_player *pl)
{
	const struct service *s = a->svc;
	struct spawn_req r = { .svc = s, .sock = sock, .errfd = pl->errfd,
	    .peer_ip = pl->ip, .peer_port = pl->port };
	char *envp[CHALD_MAX_ENVP], envbuf[2048];
	sigset_t none;
	int ctl = a->ctl;

	if (spawn_child_fds(&r, ctl) == -1)
		report(ctl, STEP_FDS);
	ctl = 3;
	if (spawn_child_env(&r, envp, envbuf, sizeof(envbuf)) == -1)
		report(ctl, STEP_ENV);
	if (chdir(s->workdir) == -1)
		report(ctl, STEP_CHDIR);
	if (jail_privileges(a->uid) == -1)
		report(ctl, STEP_PRIVILEGES);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(s->argv[0], s->argv, envp);
	report(ctl, STEP_EXEC);
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
		/* pid 1 cannot die of its own signal: 128+N, as shells do. */
		if (WIFSIGNALED(status))
			_exit(128 + WTERMSIG(status));
		_exit(WEXITSTATUS(status));
	}
}

static int
close_gap(unsigned lo, unsigned hi)
{
	if (lo > hi)
		return 0;
	return (int)syscall(SYS_close_range, lo, hi, 0U);
}

/* Closes every fd from 3 up but keep1 and keep2 (-1: none). */
static int
close_except(int keep1, int keep2)
{
	unsigned a = keep1 < 0 ? ~0U : (unsigned)keep1;
	unsigned b = keep2 < 0 ? ~0U : (unsigned)keep2;
	unsigned lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo == ~0U)
		return close_gap(3, ~0U);
	if (close_gap(3, lo - 1) == -1)
		return -1;
	if (hi == ~0U || hi == lo)
		return close_gap(lo + 1, ~0U);
	if (close_gap(lo + 1, hi - 1) == -1)
		return -1;
	return close_gap(hi + 1, ~0U);
}

static void __attribute__((noreturn))
init_main(struct jail_args *a)
{
	const struct service *s = a->svc;
	struct jail_player pl;
	pid_t child;
	int sock, step;

	/*
	 * init is a fork of the daemon and never execs: drop the daemon's fds
	 * (listeners, other jails' sockets) or they would live on in here.
	 */
	if (close_except(a->ctl, -1) == -1)
		report(a->ctl, STEP_FDS);
	if (spawn_child_signals() == -1)
		report(a->ctl, STEP_SIGNALS);
	/* If the daemon dies, so does the session (and its pid namespace):
	 * nothing may run on with a uid the next daemon will hand out. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		report(a->ctl, STEP_SIGNALS);
	if (setsid() == -1)
		report(a->ctl, STEP_SETSID);
	for (int i = 0; i < CG_NCTRL; i++) {
		int fd;

		if (a->procs[i][0] == '\0')
			continue;
		fd = open(a->procs[i], O_WRONLY | O_CLOEXEC);
		if (fd == -1 || write(fd, "0", 1) != 1)
			report(a->ctl, STEP_CGROUP);
		close(fd);
	}
	if (jail_mounts(s, a->sb->rootdir) == -1)
		report(a->ctl, STEP_MOUNTS);
	if (jail_pivot(a->sb->rootdir) == -1)
		report(a->ctl, STEP_PIVOT);
	if (!s->net_host && jail_network() == -1)
		report(a->ctl, STEP_NETWORK);
	if (sethostname("chald", 5) == -1)
		report(a->ctl, STEP_HOSTNAME);
	if ((step = jail_lock(s)) != 0)
		report(a->ctl, step);
	if (send_report(a->ctl, STEP_READY, 0) == -1)
		_exit(0);
	sock = init_receive(a->ctl, &pl);
	if (sock == -1)
		_exit(0);
	/*
	 * vfork: no copy of init's page tables (a copy of the daemon's), which
	 * is most of what a jail costs on hosts where page faults are dear.
	 * The child writes only its own stack and never returns.
	 */
	child = vfork();
	if (child == -1)
		report(a->ctl, STEP_FORK);
	if (child == 0)
		challenge_main(a, sock, &pl);
	/* init keeps no fd: the socket belongs to the challenge alone. */
	if (syscall(SYS_close_range, 0U, ~0U, 0U) == -1)
		for (int fd = 0; fd < 1024; fd++)
			close(fd);
	init_wait(child);
}

/* The parent side again: spawn, end, cleanup. */

static pid_t
clone_jail(const struct service *s, int cgfd, int *pidfd)
{
	struct clone_args ca;

	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC |
	    CLONE_NEWUTS | CLONE_NEWCGROUP;
	if (!s->net_host)
		ca.flags |= CLONE_NEWNET;
	if (cgfd >= 0) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)cgfd;
	}
	ca.pidfd = (uint64_t)(uintptr_t)pidfd;
	ca.exit_signal = SIGCHLD;
	return (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
}

static void
pending_add(struct sandbox *sb, unsigned long long id, uid_t uid)
{
	struct cgpending *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		/* Keep the uid reserved forever rather than reuse it early. */
		log_warnx("cgroup s%llu: out of memory, uid %u retired", id,
		    (unsigned)uid);
		return;
	}
	p->id = id;
	p->uid = uid;
	p->next = sb->pending;
	sb->pending = p;
}

/*
 * Starts a jail for service s: its cgroup, its uid, and its init, which
 * builds the jail on its own time. Fills in sess; the parent only waits for
 * clone3(). Returns -1 with the reason in err.
 */
int
sandbox_start(struct sandbox *sb, const struct service *s,
    struct session *sess, char *err, size_t errlen)
{
	struct jail_args a;
	sigset_t all, old;
	int sp[2], cgfd = -1, pidfd = -1;
	unsigned long long id = ++sb->next_id;
	uid_t uid;
	pid_t pid;

	if (uid_alloc(&sb->uids, s->uid_min, s->uid_max, &sb->uid_cursor,
	    &uid) == -1) {
		snprintf(err, errlen, "step=uid error=%s", log_quote(
		    "every uid of uid-range is in use"));
		return -1;
	}
	memset(&a, 0, sizeof(a));
	if (cgroup_create(&sb->cg, id, s, &cgfd, a.procs) == -1) {
		snprintf(err, errlen, "step=cgroup error=%s",
		    log_quote(strerror(errno)));
		uidset_del(&sb->uids, uid);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		snprintf(err, errlen, "step=socketpair error=%s",
		    log_quote(strerror(errno)));
		goto fail;
	}
	a.svc = s;
	a.sb = sb;
	a.uid = uid;
	a.ctl = sp[1];
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = clone_jail(s, cgfd, &pidfd);
	if (pid == 0) {
		close(sp[0]);
		init_main(&a);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sp[1]);
	if (cgfd >= 0)
		close(cgfd);
	cgfd = -1;
	if (pid == -1) {
		snprintf(err, errlen, "step=clone error=%s",
		    log_quote(strerror(errno)));
		close(sp[0]);
		goto fail;
	}
	sess->pid = pid;
	sess->jailed = 1;
	sess->state = JAIL_STARTING;
	sess->ctlfd = sp[0];
	sess->pidfd = pidfd;
	sess->cgid = id;
	sess->uid = uid;
	sess->cpu_time_ms = s->cpu_time_ms;
	return 0;
fail:
	if (cgfd >= 0)
		close(cgfd);
	pending_add(sb, id, uid);
	return -1;
}

/*
 * Gives the player's socket (and the stderr pipe, if any) to a started
 * jail; the caller closes its copies.
 */
int
sandbox_handoff(struct session *sess, int sock, int errfd, const char *ip,
    int port)
{
	struct jail_player pl;
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	int fds[2] = { sock, errfd };
	struct iovec iov = { &pl, sizeof(pl) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cbuf };
	struct cmsghdr *cm;

	memset(&pl, 0, sizeof(pl));
	memset(cbuf, 0, sizeof(cbuf));
	snprintf(pl.ip, sizeof(pl.ip), "%s", ip);
	pl.port = port;
	pl.nfds = errfd >= 0 ? 2 : 1;
	pl.errfd = -1;
	mh.msg_controllen = CMSG_SPACE(pl.nfds * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(pl.nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, pl.nfds * sizeof(int));
	if (sendmsg(sess->ctlfd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    (ssize_t)sizeof(pl))
		return -1;
	sess->state = JAIL_EXEC;
	sess->served = 1;
	return 0;
}

/*
 * Reads what the jail says: STEP_READY, STEP_EXECD for "exec'd" (EOF, and
 * the caller closes the socket), or the step that failed, with err.
 */
int
sandbox_ctl_read(struct session *sess, char *err, size_t errlen)
{
	struct jail_report r;
	ssize_t n;

	do
		n = recv(sess->ctlfd, &r, sizeof(r), MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		return STEP_NONE;
	if (n == -1)
		n = 0;		/* treated as EOF */
	if (n == (ssize_t)sizeof(r) && r.step == STEP_READY) {
		if (sess->state == JAIL_STARTING)
			sess->state = JAIL_READY;
		return STEP_READY;
	}
	if (n == (ssize_t)sizeof(r)) {
		const struct service *svc = sess->svc->svc;
		int dir = r.step == STEP_CHDIR && svc != NULL;

		snprintf(err, errlen, "step=%s error=%s%s%s",
		    spawn_step_name(r.step), log_quote(strerror(r.err)),
		    dir ? " dir=" : "", dir ? log_quote(svc->workdir) : "");
		return r.step > 0 ? r.step : STEP_SETSID;
	}
	/* EOF (the caller closes): exec'd if it had a player, else died. */
	if (sess->state == JAIL_EXEC) {
		sess->state = JAIL_LIVE;
		return STEP_EXECD;
	}
	snprintf(err, errlen, "step=init error=%s", log_quote("exited "
	    "before the jail was ready"));
	return STEP_SETSID;
}

/* Collects what the cgroup knows, then queues it for removal. */
void
sandbox_end(struct sandbox *sb, struct session *sess, struct cgstats *st)
{
	cgroup_stats(&sb->cg, sess->cgid, st);
	if (sess->pidfd >= 0)
		close(sess->pidfd);
	sess->pidfd = -1;
	if (cgroup_destroy(&sb->cg, sess->cgid) == 0)
		uidset_del(&sb->uids, sess->uid);
	else
		pending_add(sb, sess->cgid, sess->uid);
}

/*
 * Retries cgroups that were not empty yet; a uid is free again only once
 * its cgroup is gone. Returns how many are still pending.
 */
int
sandbox_tick(struct sandbox *sb)
{
	struct cgpending **pp = &sb->pending;
	int left = 0;

	while (*pp != NULL) {
		struct cgpending *p = *pp;

		if (cgroup_destroy(&sb->cg, p->id) == 0) {
			uidset_del(&sb->uids, p->uid);
			*pp = p->next;
			free(p);
			continue;
		}
		log_debug("cgroup-busy id=s%llu tries=%d", p->id, p->tries + 1);
		if (++p->tries == PENDING_TRIES)
			log_warnx("cgroup s%llu still has processes; uid %u "
			    "stays reserved", p->id, (unsigned)p->uid);
		left++;
		pp = &p->next;
	}
	return left;
}

void
sandbox_shutdown(struct sandbox *sb)
{
	for (int i = 0; i < 20 && sb->pending != NULL; i++) {
		if (sandbox_tick(sb) == 0)
			break;
		usleep(50 * 1000);
	}
	if (sb->ready)
		cgroup_cleanup(&sb->cg);
	uidset_free(&sb->uids);
}
