/*
 * sandbox.c: the daemon's side of a jailed session. For each jail it makes
 * the session's cgroup and picks its uid, then clone3()s the session's
 * first process into new pid, ipc, uts, cgroup (and network) namespaces
 * and, on cgroup v2, straight into the cgroup; its mount namespace is a
 * copy of the service's template (built here once per load: templates,
 * below), or for a service that has none a copy of the daemon's, made by
 * the clone. The network namespace is usually one of the pool's
 * (netpool.c), joined by setns. The clone shares
 * the daemon's memory (CLONE_VM|CLONE_VFORK) only until it execs
 * chald-init (jail.c) from a sealed memfd, so no page of the daemon is
 * copied and the daemon is paused only for the exec. The daemon then sends
 * init what to build (jailspec.c) on the jail's control socket, with the
 * template's namespace.
 *
 * The jail is built before there is a player for it: the daemon keeps a
 * few ready per service (the pool) and hands the accepted socket over the
 * control socket (SCM_RIGHTS), so a player waits only for vfork and exec.
 * Without a ready jail, one is started and handed the socket at once; the
 * daemon never waits for a jail to be built either way.
 */
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chald.h"

/* The jail's init (jail.c), built as a static program: initbin.c. */
extern const char chald_init_start[], chald_init_end[];

#ifndef MFD_EXEC
#define MFD_EXEC	0x0010U		/* Linux 6.3 */
#endif

#define ROOTDIR		"/run/chald/root"
#define INIT_STACK	(64 * 1024)	/* of the spawn stack, for the clone */
#define PENDING_TRIES	100	/* x loop ticks before a cgroup is given up */

/* The parent side. */

static int	init_load(char *, size_t);
static void	skels_remove_stale(void);
static void	slot_remove(struct sandbox *, struct cgslot *);

int
session_kill(struct session *s, int sig)
{
	/* A jail's init passes it on to its pid namespace; an unjailed
	 * session is its process group, whose leader is not yet reaped, so
	 * the group id cannot have been reused. */
	if (s->jailed && s->pidfd >= 0)
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
 * The kernel's records of the filter's kills, so that a session's end can
 * name the call (audit.c): "yes", or "no" with a debug line saying why.
 */
static const char *
sandbox_audit(struct sandbox *sb)
{
	char why[128];

	if (audit_open(&sb->audit, why, sizeof(why)) == 0)
		return "yes";
	log_debug("seccomp-audit %s", why);
	return "no";
}

/*
 * RLIMIT_CORE is 0 in a jail, but when the host's core_pattern pipes cores
 * to a helper ("|", apport, systemd-coredump) or hands them to a socket
 * ("@", Linux 6.16), the kernel runs that helper for every crash whatever
 * RLIMIT_CORE says: as root, in the host's namespaces, reading what the
 * crashed process made of its memory. chald cannot stop that from inside
 * a jail; it says so at start, once, with the setting (chald(8)).
 */
static void
core_pattern_check(void)
{
	char pat[512];
	ssize_t n;
	int fd = open("/proc/sys/kernel/core_pattern", O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return;
	n = read(fd, pat, sizeof(pat) - 1);
	close(fd);
	if (n <= 0)
		return;
	pat[n] = '\0';
	pat[strcspn(pat, "\n")] = '\0';
	if (pat[0] != '|' && pat[0] != '@')
		return;
	log_event("core-pattern pattern=%s warning=%s", log_quote(pat),
	    log_quote("a crashing session makes the kernel run this core "
	    "dump helper as root on the host, whatever RLIMIT_CORE says; set "
	    "kernel.core_pattern to a file name (sysctl -w "
	    "kernel.core_pattern=core) and disable the helper, see chald(8)"));
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

	if (!sb->ready) {
		core_pattern_check();
		skels_remove_stale();
	}
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
		if (netpool_init() == -1) {
			snprintf(err, errlen, "/proc/thread-self/net: %s",
			    strerror(errno));
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
		log_event("sandbox cgroup=%s seccomp-audit=%s",
		    log_quote(cgroup_describe(&sb->cg, desc, sizeof(desc))),
		    sandbox_audit(sb));
		if (sb->cg.version == 1 && sb->cg.have[CG_MEMORY] &&
		    !sb->cg.tcpmem)
			log_event("sandbox-tcpmem warning=%s", log_quote(
			    "this kernel has no memory.kmem.tcp.limit_in_bytes:"
			    " the memory limit does not hold sessions' socket "
			    "buffers"));
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

/*
 * Skeletons (jailfs.c): one per sandboxed service without "root =" and
 * configuration load, a tmpfs mounted at /run/chald/skel.PID.N, which
 * every jail of the service binds read-only as its root. Being a file
 * system of its own, it shows in a jail's mountinfo as "/" of a tmpfs, not
 * as the host path with the daemon's pid. One is unmounted once no service
 * of the live configuration uses it and no jail is built on it: a jail
 * being built finds it by its path.
 */
#define SKEL_OPTS	"mode=755,size=16m,nr_inodes=16384"

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	if (remove(path) == -1 && errno != ENOENT)
		log_warn("remove %s", path);
	return 0;
}

static void
rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void
skel_remove(const char *path)
{
	if (path[0] == '\0')
		return;		/* a template's only (a root of its own) */
	if (umount2(path, MNT_DETACH) == -1 && errno != EINVAL &&
	    errno != ENOENT)
		log_warn("umount %s", path);
	rm_tree(path);	/* empty now, or a plain directory of old */
}

static void
skel_free(struct skel *k)
{
	if (k->tmpl >= 0)
		close(k->tmpl);
	free(k->tmpl_ident);
	skel_remove(k->path);
	free(k);
}

static void
skels_sweep(struct sandbox *sb)
{
	struct skel **pp = &sb->skels;

	while (*pp != NULL) {
		struct skel *k = *pp;

		if (k->current || k->jails > 0) {
			pp = &k->next;
			continue;
		}
		*pp = k->next;
		skel_free(k);
	}
}

/* Skeletons of instances that died, and of an earlier life of our pid. */
static void
skels_remove_stale(void)
{
	DIR *d = opendir("/run/chald");
	struct dirent *e;
	char path[PATH_MAX];
	long pid;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (sscanf(e->d_name, "skel.%ld.", &pid) == 1 &&
		    (pid == (long)getpid() || (kill((pid_t)pid, 0) == -1 &&
		    errno == ESRCH))) {
			snprintf(path, sizeof(path), "/run/chald/%s",
			    e->d_name);
			skel_remove(path);
		}
	closedir(d);
}

/*
 * A skeleton's template (jailfs_template): a child of the daemon makes a
 * mount namespace, mounts what every jail of the service shares in it,
 * pivots into it and stops; the daemon keeps the namespace by an fd of it
 * and kills the child. Each jail then starts from a copy of it (jail.c):
 * a pivot_root walks every task on the host, and the jails' mounts of the
 * read-only tree were most of the rest of their build. What the template
 * bound is recorded first (jailid.c), so that a path replaced since (a
 * redeploy) makes a new one (skel_template).
 */
static int
template_build(const struct service *s, struct skel *k, char *err,
    size_t errlen)
{
	char path[64];
	int status = 0, fd = -1;
	pid_t pid;

	if (jailid_take(s, &k->tmpl_ident, &k->tmpl_nident) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pid = fork();
	if (pid == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int self;

		/* Last, the child joins the template as a jail's init will:
		 * setns needs CAP_SYS_CHROOT, which a deployment may not give
		 * (EPERM: jails are then built whole). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
		    unshare(CLONE_NEWNS) == -1 ||
		    (self = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) ==
		    -1 || jailfs_template(s, ROOTDIR, k->path) == -1 ||
		    jailfs_pivot(ROOTDIR) == -1 ||
		    setns(self, CLONE_NEWNS) == -1)
			_exit(errno > 0 && errno < 256 ? errno : EIO);
		raise(SIGSTOP);
		_exit(0);
	}
	while (waitpid(pid, &status, WUNTRACED) == -1 && errno == EINTR)
		;
	if (WIFSTOPPED(status)) {
		snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", (long)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd == -1)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
	} else {
		errno = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
		snprintf(err, errlen, "%s%s", strerror(errno), errno == EPERM ?
		    " (setns needs CAP_SYS_CHROOT)" : "");
	}
	if (fd == -1)
		return -1;
	if (k->tmpl >= 0)
		close(k->tmpl);
	k->tmpl = fd;
	return 0;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define TEMPLATE_RETRY_MS	1000

/*
 * The template of service s for a jail being started, or -1 (the jail is
 * built whole). A path it bound that has been replaced since (a redeploy)
 * makes a new one: the jail must see what a fresh bind would. While one
 * cannot be made (the path is missing for the moment), jails are built
 * whole, and making one is tried again a second later.
 */
static int
skel_template(const struct service *s)
{
	struct skel *k = s->skel;
	char err[CHALD_ERRLEN], which[PATH_MAX];
	int64_t now;

	if (k == NULL || !jailfs_templatable(s))
		return -1;
	if (k->tmpl >= 0 && !jailid_changed(s, k->tmpl_ident, k->tmpl_nident,
	    which, sizeof(which)))
		return k->tmpl;
	now = mono_ms();
	if (k->tmpl < 0 && now < k->tmpl_retry_ms)
		return -1;
	if (k->tmpl >= 0) {
		log_event("sandbox-template service=%s path=%s reason=%s",
		    s->name, log_quote(which), log_quote("replaced: a new "
		    "template"));
		close(k->tmpl);
		k->tmpl = -1;
	}
	if (template_build(s, k, err, sizeof(err)) == -1) {
		/* Without the privilege it is no use to try again. */
		k->tmpl_retry_ms = errno == EPERM ? INT64_MAX :
		    now + TEMPLATE_RETRY_MS;
		log_debug("sandbox-template service=%s error=%s", s->name,
		    log_quote(err));
		return -1;
	}
	log_debug("sandbox-template service=%s state=built", s->name);
	return k->tmpl;
}

/* Removes the skeletons of a load that did not happen. */
static void
skels_discard(struct sandbox *sb, struct config *c)
{
	struct skel *k;

	while ((k = sb->building) != NULL) {
		sb->building = k->next;
		skel_free(k);
	}
	for (struct service *s = c->services; s != NULL; s = s->next)
		s->skel = NULL;
}

/* Builds a skeleton for each sandboxed service of c that needs one. */
static int
skels_build(struct sandbox *sb, struct config *c, char *err, size_t errlen)
{
	char where[PATH_MAX], terr[CHALD_ERRLEN];
	mode_t mask;
	int ret = 0;

	/* The tree must be 0755 whatever the daemon's umask: the jails'
	 * users walk it. */
	mask = umask(022);
	for (struct service *s = c->services; s != NULL; s = s->next) {
		struct skel *k;

		s->skel = NULL;
		/* A root of the organizer's has no skeleton: its struct skel
		 * (path "") only holds the template. */
		if (!s->sandbox || (s->root != NULL && !jailfs_templatable(s)))
			continue;
		if ((k = calloc(1, sizeof(*k))) == NULL) {
			snprintf(err, errlen, "out of memory");
			ret = -1;
			break;
		}
		k->current = 1;
		k->tmpl = -1;
		k->next = sb->building;
		sb->building = k;
		if (s->root != NULL)
			k->path[0] = '\0';
		else
			snprintf(k->path, sizeof(k->path),
			    "/run/chald/skel.%ld.%llu", (long)getpid(),
			    ++sb->next_skel);
		snprintf(where, sizeof(where), "%s", k->path);
		if (s->root == NULL && (mkdir(k->path, 0755) == -1 || mount("tmpfs", k->path,
		    "tmpfs", MS_NOSUID | MS_NODEV, SKEL_OPTS) == -1 ||
		    jailfs_build(s, k->path, where, sizeof(where)) == -1 ||
		    mount(NULL, k->path, NULL, MS_REMOUNT | MS_RDONLY |
		    MS_NOSUID | MS_NODEV, SKEL_OPTS) == -1)) {
			snprintf(err, errlen, "service %s: the jail's files: "
			    "%s: %s", s->name, where, strerror(errno));
			ret = -1;
			break;
		}
		s->skel = k;
		if (!jailfs_templatable(s))
			continue;
		if (template_build(s, k, terr, sizeof(terr)) == 0) {
			log_debug("sandbox-template service=%s state=built",
			    s->name);
			continue;
		}
		k->tmpl_retry_ms = errno == EPERM ? INT64_MAX : mono_ms() +
		    TEMPLATE_RETRY_MS;
		log_event("sandbox-template service=%s error=%s reason=%s",
		    s->name, log_quote(terr), log_quote("its jails are built "
		    "whole, each with a pivot_root"));
	}
	umask(mask);
	if (ret == -1)
		skels_discard(sb, c);
	return ret;
}

/* The skeletons just built replace the last load's, which go once their
 * last jail has. */
static void
skels_commit(struct sandbox *sb)
{
	struct skel *k;

	for (k = sb->skels; k != NULL; k = k->next)
		k->current = 0;
	while ((k = sb->building) != NULL) {
		sb->building = k->next;
		k->next = sb->skels;
		sb->skels = k;
	}
	skels_sweep(sb);
}

/*
 * chald-init is loaded once, when some service needs it: every jail runs
 * it, and an unjailed session with stdio = pty runs it as its relay.
 */
static int
init_ensure(struct sandbox *sb, const struct config *c, char *err,
    size_t errlen)
{
	int need = 0;

	for (const struct service *s = c->services; s != NULL; s = s->next)
		need |= s->sandbox || s->stdio_mode == STDIO_PTY;
	if (!need || sb->init_ready)
		return 0;
	if (init_load(err, errlen) == -1)
		return -1;
	sb->init_ready = 1;
	return 0;
}

/* Spare cgroups that no service of c may take any more (a reload). */
static void
spares_sweep(struct sandbox *sb, const struct config *c)
{
	struct cgslot *g;

	while ((g = cgspare_unfit(&sb->spares, c)) != NULL)
		slot_remove(sb, g);
}

/* A reload may not ask for a controller chald did not set up at start. */
int
sandbox_check(struct sandbox *sb, struct config *c, char *err, size_t errlen)
{
	int need[CG_NCTRL], any;
	const char *names[CG_NCTRL] = { "pids", "memory", "cpu", "cpuacct" };

	if (init_ensure(sb, c, err, errlen) == -1)
		return -1;

	for (const struct service *s = c->services; s != NULL; s = s->next)
		if (!s->sandbox)
			log_event("sandbox-off service=%s warning=%s", s->name,
			    log_quote("sessions run unjailed as chald's own "
			    "user: only for trusted challenges"));
	needs(c, need, &any);
	if (!any) {
		skels_commit(sb);	/* the last load's go */
		netpool_free(&sb->net);
		forker_prune(&sb->forkers, c);
		spares_sweep(sb, c);
		return 0;
	}
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
	if (skels_build(sb, c, err, errlen) == -1)
		return -1;
	/* Last: it registers c's uid ranges, so nothing may fail after. */
	if (uid_ranges_claim(sb, c, err, errlen) == -1) {
		skels_discard(sb, c);
		return -1;
	}
	skels_commit(sb);
	/* Jails of the old configuration's forkers live on as they are. */
	forker_prune(&sb->forkers, c);
	spares_sweep(sb, c);
	return 0;
}

/* The parent side again: spawn, end, cleanup. */

/*
 * clone3() that runs fn(arg) on a stack of its own in the child, as glibc's
 * clone() does for clone(); glibc has no clone3() wrapper, and a raw
 * clone3 with CLONE_VM cannot return through the caller's stack. The
 * kernel keeps rdx (fn) and r8 (arg) across the syscall in the child.
 */
#if defined(__x86_64__)
long	chald_clone3(struct clone_args *, size_t, int (*)(void *), void *);
__asm__(
"	.pushsection .text\n"
"	.globl	chald_clone3\n"
"	.hidden	chald_clone3\n"
"	.type	chald_clone3, @function\n"
"chald_clone3:\n"
"	movq	%rcx, %r8\n"
"	movl	$435, %eax\n"		/* SYS_clone3 */
"	syscall\n"
"	testq	%rax, %rax\n"
"	jz	1f\n"
"	ret\n"
"1:	xorl	%ebp, %ebp\n"
"	movq	%r8, %rdi\n"
"	callq	*%rdx\n"
"	movl	%eax, %edi\n"
"	movl	$60, %eax\n"		/* SYS_exit */
"	syscall\n"
"	hlt\n"
"	.size	chald_clone3, .-chald_clone3\n"
"	.popsection\n");
#define HAVE_CLONE3_FN	1
#endif

/* Shared between the daemon and the clone, until the clone execs. */
struct init_ctx {
	char		*arg;		/* NULL or "-check" */
	char		*env;		/* NULL or FORK_ENV */
	int		 err;
	int		 netfd;		/* a pooled network namespace, or -1 */
	int		 ctl;		/* 1: the sock slot holds its socket */
};

static char	arg_check[] = "-check", env_fork[] = FORK_ENV;

/*
 * Runs on its own stack in the daemon's memory (CLONE_VM|CLONE_VFORK) and
 * only until the exec: the daemon is paused that long, and no page of its
 * is copied. The control socket comes in the sock slot (spawn.c), the init
 * itself is in the init slot. ASan's no-return hook would not know the
 * stack.
 */
static int __attribute__((no_sanitize("address")))
init_exec(void *arg)
{
	struct init_ctx *c = arg;
	static char name[] = "chald-init";
	char *argv[] = { name, c->arg, NULL };
	char *envp[] = { c->env, NULL };

	/* While the fd table is still the daemon's (netpool.c). */
	if (c->netfd >= 0 && setns(c->netfd, CLONE_NEWNET) == -1)
		goto fail;
	if (spawn_unshare_fds() == -1)
		goto fail;
	/* Set before the exec, so no moment exists in which the daemon could
	 * die and leave the session running (exec keeps it for root). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		goto fail;
	if (c->ctl && dup2(spawn_slot(SLOT_SOCK), JAIL_CTL_FD) == -1)
		goto fail;
	syscall(SYS_execveat, spawn_slot(SLOT_INIT), "", argv, envp,
	    AT_EMPTY_PATH);
fail:
	c->err = errno;
	_exit(127);
}

/*
 * The clone of the init, with ctl (or -1) as its control socket; on error,
 * -1 (and c->err if the exec failed).
 */
static pid_t
clone_init(struct init_ctx *c, int ctl, uint64_t flags, int cgfd,
    int *pidfd)
{
	struct clone_args ca;
	sigset_t all, old;
	long pid;

	memset(&ca, 0, sizeof(ca));
	ca.flags = flags | CLONE_VM | CLONE_VFORK | CLONE_FILES;
	if (pidfd != NULL) {
		ca.flags |= CLONE_PIDFD;
		ca.pidfd = (uint64_t)(uintptr_t)pidfd;
	}
	if (cgfd >= 0) {
		ca.flags |= CLONE_INTO_CGROUP;
		ca.cgroup = (uint64_t)cgfd;
	}
	ca.exit_signal = SIGCHLD;
	ca.stack = (uint64_t)(uintptr_t)(spawn_stack() - INIT_STACK);
	ca.stack_size = INIT_STACK;
	if (ctl >= 0 && spawn_slot_set(SLOT_SOCK, ctl) == -1)
		return -1;
	c->ctl = ctl >= 0;
	/* No handler of the daemon may run in the clone. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
#ifdef HAVE_CLONE3_FN
	pid = chald_clone3(&ca, sizeof(ca), init_exec, c);
	if (pid < 0 && pid > -4096) {
		errno = (int)-pid;
		pid = -1;
	}
#else
	/* No clone3 here: the cgroup is joined by init (cgroup_create gave
	 * its path too), and the pidfd comes back like clone()'s ptid. */
	(void)cgfd;
	pid = clone(init_exec, spawn_stack(), (int)(ca.flags &
	    ~(uint64_t)CLONE_INTO_CGROUP) | SIGCHLD, c, pidfd);
#endif
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (ctl >= 0)
		spawn_slot_set(SLOT_SOCK, -1);
	if (pid > 0 && c->err != 0) {
		/* Exited already (CLONE_VFORK): reap it here. */
		waitpid((pid_t)pid, NULL, __WALL);
		if (pidfd != NULL)
			close(*pidfd);
		errno = c->err;
		return -1;
	}
	return (pid_t)pid;
}

static int
write_all(int fd, const char *p, const char *end)
{
	while (p < end) {
		ssize_t n = write(fd, p, (size_t)(end - p));

		if (n <= 0)
			return -1;
		p += n;
	}
	return 0;
}

/* chald-init in a sealed memfd, or -1. */
static int
init_memfd(void)
{
	int fd;

	fd = memfd_create("chald-init", MFD_CLOEXEC | MFD_ALLOW_SEALING |
	    MFD_EXEC);
	if (fd == -1 && errno == EINVAL)	/* before Linux 6.3 */
		fd = memfd_create("chald-init", MFD_CLOEXEC |
		    MFD_ALLOW_SEALING);
	if (fd == -1)
		return -1;
	if (write_all(fd, chald_init_start, chald_init_end) == -1 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* chald-init in a file of /run/chald that is unlinked at once, or -1. */
static int
init_file(void)
{
	char path[64];
	int fd, ro;

	snprintf(path, sizeof(path), "/run/chald/chald-init.%ld",
	    (long)getpid());
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0500);
	if (fd == -1)
		return -1;
	if (write_all(fd, chald_init_start, chald_init_end) == -1) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);		/* no writer may be left: ETXTBSY */
	ro = open(path, O_RDONLY | O_CLOEXEC);
	unlink(path);
	return ro;
}

/* Puts fd into the init slot and runs "chald-init -check" from it. */
static int
init_try(int fd)
{
	struct init_ctx c = { arg_check, NULL, 0, -1, 0 };
	int status = -1;
	pid_t pid;

	if (fd == -1)
		return -1;
	/* Below the fds of sessions: a clone copies only those (spawn.c). */
	if (spawn_slot_set(SLOT_INIT, fd) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	if ((pid = clone_init(&c, -1, 0, -1, NULL)) == -1)
		return -1;
	while (waitpid(pid, &status, __WALL) == -1 && errno == EINTR)
		;
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errno = ENOEXEC;
		return -1;
	}
	return 0;
}

/*
 * The init runs from a sealed memfd: nothing to install beside chald, to
 * find at run time, or to be replaced under a running daemon. A host that
 * forbids executing memfds (vm.memfd_noexec = 2) gets it from an unlinked
 * file in /run/chald instead. One run with "-check" makes a host that
 * allows neither an error at start rather than a failed session later.
 */
static int
init_load(char *err, size_t errlen)
{
	int memfd_errno;

	if (init_try(init_memfd()) == 0)
		return 0;
	memfd_errno = errno;
	if (init_try(init_file()) == 0) {
		log_event("sandbox-init from=file reason=%s", log_quote(
		    strerror(memfd_errno)));
		return 0;
	}
	snprintf(err, errlen, "cannot run the jail's init (chald-init): "
	    "from a memfd: %s; from /run/chald: %s", strerror(memfd_errno),
	    strerror(errno));
	return -1;
}

#define NO_UID	((uid_t)-1)	/* a pending cgroup that holds no uid */

static void
pending_add(struct sandbox *sb, unsigned long long id, uid_t uid)
{
	struct cgpending *p = calloc(1, sizeof(*p));

	if (p == NULL && uid == NO_UID)
		return;
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

/* The spec, with the cgroup files' fds of the joins it names (joins[i] >=
 * 0) and the template's namespace (tmpl >= 0) as SCM_RIGHTS. */
static int
spec_send(int fd, const char *buf, size_t len, const int joins[CG_NCTRL],
    int tmpl)
{
	int fds[FDPASS_MAX], n = 0;

	for (int i = 0; i < CG_NCTRL; i++)
		if (joins[i] >= 0)
			fds[n++] = joins[i];
	if (tmpl >= 0)
		fds[n++] = tmpl;
	return fdpass_send(fd, buf, len, fds, n, MSG_DONTWAIT);
}

/* Removes a cgroup no session uses, now or from the loop's ticks. */
static void
slot_remove(struct sandbox *sb, struct cgslot *g)
{
	if (cgroup_destroy(&sb->cg, g->id) == -1)
		pending_add(sb, g->id, NO_UID);
	cgroup_slot_free(&sb->cg, g);
}

/*
 * A cgroup for a session of s: a spare one of its service and limits made
 * fresh again, or a new one.
 */
static struct cgslot *
slot_take(struct sandbox *sb, const struct service *s)
{
	struct cgslot *g;

	while ((g = cgspare_take(&sb->spares, s, now_ms())) != NULL) {
		if (cgroup_refresh(&sb->cg, g) == 0)
			return g;
		log_debug("cgroup-stale id=s%llu uses=%u", g->id, g->uses);
		slot_remove(sb, g);
	}
	if ((g = cgroup_create(&sb->cg, sb->next_id + 1, s)) != NULL) {
		sb->next_id++;
		g->uses = 1;
	}
	return g;
}

/*
 * Keeps an ended session's cgroup for the next session of its service,
 * when it may: 0, or -1 for the caller to remove it.
 */
static int
slot_keep(struct sandbox *sb, const struct service *s, struct cgslot *g)
{
	if (!sb->cg.recycle || g->bad || s == NULL || !cgspare_allowed(s) ||
	    !cgspare_fits(g, s) || !cgroup_idle(&sb->cg, g))
		return -1;
	g->ended_ms = now_ms();
	cgspare_put(&sb->spares, g);
	while (sb->spares.n > CG_SPARES_MAX)
		slot_remove(sb, cgspare_oldest(&sb->spares));
	/* After the trim, which may have freed some of the budget. */
	cgroup_keep(&sb->cg, g);
	return 0;
}

/* The spec of a jail: in spec (of size n) when it fits, else malloc()ed;
 * NULL when memory ran out. */
static char *
spec_make(const struct service *s, const struct jailrun *run,
    const char *rootdir, const char *skel, char procs[CG_NCTRL][PATH_MAX],
    char *spec, size_t n, size_t *len)
{
	char *buf = spec;

	*len = jailspec_pack(s, run, rootdir, skel, procs, NULL, 0);
	if (*len > n && (buf = malloc(*len)) == NULL)
		return NULL;
	jailspec_pack(s, run, rootdir, skel, procs, buf, *len);
	return buf;
}

/* A jail cloned whose spec could not be made or sent: killed and reaped
 * (it is our child, and waits for the spec), its socket closed. */
static void
jail_abort(pid_t pid, int pidfd, int ctl, char *err, size_t errlen)
{
	snprintf(err, errlen, "step=spec error=%s", log_quote(strerror(errno)));
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	waitpid(pid, NULL, __WALL);
	close(pidfd);
	close(ctl);
}

/* The jail's clone flags: new namespaces but the pooled network one. */
static uint64_t
clone_flags(const struct service *s, int netfd, int tmpl)
{
	return CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP |
	    (tmpl >= 0 ? 0 : CLONE_NEWNS) |
	    (s->net_host || netfd >= 0 ? 0 : CLONE_NEWNET);
}

/* A new control socket and namespace for a jail whose forker failed while
 * it may have cloned one with the old (forker_spawn). */
static int
fallback_fresh(struct sandbox *sb, const struct service *s, int sp[2],
    struct init_ctx *c, uint64_t *flags, int tmpl, char *err, size_t errlen)
{
	close(sp[0]);
	close(sp[1]);
	netpool_give(&sb->net, c->netfd, 0);
	c->netfd = s->net_host ? -1 : netpool_take(&sb->net);
	*flags = clone_flags(s, c->netfd, tmpl);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		snprintf(err, errlen, "step=socketpair error=%s",
		    log_quote(strerror(errno)));
		return -1;
	}
	return 0;
}

/* A forker (forker.c): chald-init -fork, cloned and exec'd like a jail's
 * init but in the daemon's namespaces. Its pid, or -1. */
static pid_t
forker_start(int *pidfd, int *sock)
{
	struct init_ctx c = { NULL, env_fork, 0, -1, 0 };
	int sp[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
		return -1;
	pid = clone_init(&c, sp[1], 0, -1, pidfd);
	close(sp[1]);
	if (pid == -1) {
		close(sp[0]);
		return -1;
	}
	*sock = sp[0];
	return pid;
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
	char procs[CG_NCTRL][PATH_MAX], spec[16384], *buf = spec;
	const char *skel;
	struct uidturn *turn;
	struct init_ctx c = { NULL, NULL, 0, -1, 0 };
	struct jailrun run;
	struct forker *f;
	int orphan = 0;
	struct timespec now;
	struct cgslot *g;
	int sp[2], cgfd, pidfd = -1, tmpl, joins[CG_NCTRL];
	uint64_t flags;
	size_t len = 0;
	uid_t uid;
	pid_t pid;

	clock_gettime(CLOCK_REALTIME, &now);
	turn = uid_turn(&sb->turns, s->uid_min, s->uid_max);
	if (turn == NULL || uid_alloc(&sb->uids, turn, now.tv_sec > 0 ?
	    (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000 : 0,
	    &uid) == -1) {
		snprintf(err, errlen, "step=uid error=%s", log_quote(turn ==
		    NULL ? "out of memory" : "every uid of uid-range is in use"));
		return -1;
	}
	if ((g = slot_take(sb, s)) == NULL) {
		snprintf(err, errlen, "step=cgroup error=%s",
		    log_quote(strerror(errno)));
		uidset_del(&sb->uids, uid);
		return -1;
	}
	cgroup_procs(&sb->cg, g, procs);
	cgfd = g->dirfd;
#ifdef HAVE_CLONE3_FN
	if (cgfd >= 0)
		procs[0][0] = '\0';	/* clone3 puts init into it */
#endif
	run.joinmask = cgroup_joinfds(g, procs, joins);
	skel = s->skel != NULL ? s->skel->path : NULL;
	if (!s->net_host)
		c.netfd = netpool_take(&sb->net);
	run.uid = uid;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		snprintf(err, errlen, "step=socketpair error=%s",
		    log_quote(strerror(errno)));
		goto fail;
	}
	/* On a template the init joins a copy of its namespace instead. */
	tmpl = skel_template(s);
	run.tmpl = tmpl >= 0;
	flags = clone_flags(s, c.netfd, tmpl);
	/* From the service's forker, with the filter's inner part; if none
	 * can serve, cloned here, and the whole filter. */
	f = forker_get(&sb->forkers, s, forker_start);
	pid = f == NULL ? -1 : forker_spawn(f, sp[1], flags, c.netfd, cgfd,
	    &pidfd, &orphan);
	run.filter = pid > 0 ? &s->filter_inner : &s->filter;
	run.forked = pid > 0;
	/* A jail the forker may have cloned before it failed holds the
	 * control socket and the namespace: the fallback gets new ones, and
	 * that jail reads EOF and exits (a child of ours, the sweep reaps
	 * it). */
	if (pid == -1 && orphan && fallback_fresh(sb, s, sp, &c, &flags, tmpl,
	    err, errlen) == -1)
		goto fail;
	if (pid == -1)
		pid = clone_init(&c, sp[1], flags, cgfd, &pidfd);
	close(sp[1]);
	run.netready = c.netfd >= 0;
	if (pid > 0 && (buf = spec_make(s, &run, sb->rootdir, skel, procs,
	    spec, sizeof(spec), &len)) == NULL) {
		jail_abort(pid, pidfd, sp[0], err, errlen);
		buf = spec;
		goto fail;
	}
	if (pid == -1) {
		snprintf(err, errlen, "step=%s error=%s", c.err != 0 ?
		    "exec-init" : "clone", log_quote(strerror(errno)));
		close(sp[0]);
		goto fail;
	}
	/* A fresh socket's buffer holds it; init reads it first. */
	if (spec_send(sp[0], buf, len, joins, tmpl) == -1) {
		jail_abort(pid, pidfd, sp[0], err, errlen);
		goto fail;
	}
	if (buf != spec)
		free(buf);
	sess->pid = pid;
	sess->jailed = 1;
	sess->state = JAIL_STARTING;
	sess->ctlfd = sp[0];
	sess->pidfd = pidfd;
	sess->cgslot = g;
	sess->uid = uid;
	sess->cpu_time_ms = s->cpu_time_ms;
	sess->seccomp = s->seccomp;
	sess->jail_start_ms = audit_now_ms();
	sess->netfd = c.netfd;
	sess->net_recycle = s->nbind_rw == 0;
	sess->skel = s->skel;
	if (sess->skel != NULL)
		sess->skel->jails++;
	return 0;
fail:
	if (buf != spec)
		free(buf);
	netpool_give(&sb->net, c.netfd, 0);
	pending_add(sb, g->id, uid);
	cgroup_slot_free(&sb->cg, g);
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
	int fds[2] = { sock, errfd };

	memset(&pl, 0, sizeof(pl));
	snprintf(pl.ip, sizeof(pl.ip), "%s", ip);
	pl.port = port;
	pl.nfds = errfd >= 0 ? 2 : 1;
	pl.errfd = -1;
	if (fdpass_send(sess->ctlfd, &pl, sizeof(pl), fds, pl.nfds,
	    MSG_DONTWAIT) == -1)
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
	int resets = 0;
	ssize_t n;

	/* An init that died with the player's socket unread in its queue
	 * makes the first recv fail with ECONNRESET, before what it said. */
	do
		n = recv(sess->ctlfd, &r, sizeof(r), MSG_DONTWAIT);
	while (n == -1 && (errno == EINTR ||
	    (errno == ECONNRESET && resets++ == 0)));
	if (n == -1 && errno == EAGAIN)
		return STEP_NONE;
	if (n == -1)
		n = 0;		/* treated as EOF */
	if (n == (ssize_t)sizeof(r) && r.step == STEP_EXECD &&
	    sess->state == JAIL_EXEC) {
		sess->state = JAIL_LIVE;
		return STEP_EXECD;
	}
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
	/* EOF: exec'd if it had a player (an init killed before it could
	 * say so), else died. */
	if (sess->state == JAIL_EXEC) {
		sess->state = JAIL_LIVE;
		return STEP_EXECD;
	}
	snprintf(err, errlen, "step=init error=%s", log_quote("exited "
	    "before the jail was ready"));
	return STEP_SETSID;
}

/*
 * True when the jail's init said that the player went away (relay.c),
 * which it does just before it kills the session. The daemon keeps the
 * control socket after the exec for this, out of epoll: nothing is read
 * from it until the session has ended.
 */
int
sandbox_player_gone(struct session *sess)
{
	struct jail_report r;

	if (sess->ctlfd < 0)
		return 0;
	while (recv(sess->ctlfd, &r, sizeof(r), MSG_DONTWAIT) ==
	    (ssize_t)sizeof(r))
		if (r.step == STEP_GONE)
			return 1;
	return 0;
}

/*
 * Collects what the cgroup knows, then keeps it for the next session or
 * queues it for removal.
 */
void
sandbox_end(struct sandbox *sb, struct session *sess, struct cgstats *st)
{
	struct cgslot *g = sess->cgslot;
	struct audit_kill k;

	sess->cgslot = NULL;
	if (g != NULL)
		cgroup_stats(&sb->cg, g, st);
	/* Taken at every end, so that the kills of children do not pile up. */
	st->seccomp = sess->seccomp;
	st->syscall[0] = '\0';
	if (audit_take(&sb->audit, sess->uid, sess->jail_start_ms, &k) == 0 &&
	    sess->seccomp)
		seccomp_name(k.arch, k.nr, st->syscall, sizeof(st->syscall));
	if (sess->pidfd >= 0)
		close(sess->pidfd);
	sess->pidfd = -1;
	/* init was reaped, so every process of the jail is gone. */
	netpool_give(&sb->net, sess->netfd, sess->net_recycle);
	sess->netfd = -1;
	/* The uid is free once no process is left in the cgroup. */
	if (g != NULL && slot_keep(sb, sess->svc->svc, g) == 0)
		uidset_del(&sb->uids, sess->uid);
	else if (g != NULL) {
		if (cgroup_destroy(&sb->cg, g->id) == 0)
			uidset_del(&sb->uids, sess->uid);
		else
			pending_add(sb, g->id, sess->uid);
		cgroup_slot_free(&sb->cg, g);
	}
	/* init is gone, and its mount namespace with it. */
	if (sess->skel != NULL && --sess->skel->jails == 0)
		skels_sweep(sb);
	sess->skel = NULL;
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
			if (p->uid != NO_UID)
				uidset_del(&sb->uids, p->uid);
			*pp = p->next;
			free(p);
			continue;
		}
		log_debug("cgroup-busy id=s%llu tries=%d", p->id, p->tries + 1);
		if (++p->tries == PENDING_TRIES && p->uid == NO_UID)
			log_warnx("cgroup s%llu still has processes", p->id);
		else if (p->tries == PENDING_TRIES)
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
	struct cgslot *g;

	while ((g = cgspare_oldest(&sb->spares)) != NULL)
		slot_remove(sb, g);
	for (int i = 0; i < 20 && sb->pending != NULL; i++) {
		if (sandbox_tick(sb) == 0)
			break;
		usleep(50 * 1000);
	}
	for (struct skel *k = sb->skels; k != NULL; k = k->next)
		k->current = 0;
	skels_sweep(sb);
	netpool_free(&sb->net);
	forker_prune(&sb->forkers, NULL);
	if (sb->ready)
		cgroup_cleanup(&sb->cg);
	uidset_free(&sb->uids);
	uid_turns_free(&sb->turns);
}
