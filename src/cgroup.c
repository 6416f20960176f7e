/*
 * cgroup.c: one cgroup per jailed session, so that memory, process and CPU
 * limits hold for the whole process tree, and so that "is anything of this
 * session still alive" has an exact answer. A cgroup holds one session at
 * a time, and once empty and made fresh (cgroup_refresh) it may hold a
 * later one of the same service and limits (cgspare.c), each session's
 * figures counted from its own start. cgroup v2 comes first (what
 * production hosts run); v1 controllers are the fallback. chald only ever
 * creates directories below its own cgroup and never remounts anything:
 * mount options of a cgroup2 mount are global to the host.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define CGROOT	"/sys/fs/cgroup"
#define CG_BATCH	64	/* pages the kernel charges a memory cgroup at
				   a time, the rest kept in a per-cpu cache
				   (MEMCG_CHARGE_BATCH) */
#define CG_QUIET	(8 * 1024)	/* below, not worth a memory.stat */
#define CG_KEPT_MAX	65536	/* files kept open by session cgroups */

static void	remove_stale(const char *);
static int	kill_procs(const char *);

/* cpuacct is optional: it only tells the CPU time of a whole session. */
static const char *v1_names[CG_NCTRL] = { "pids", "memory", "cpu",
    "cpuacct" };

static int
write_at(int dfd, const char *path, const char *val)
{
	ssize_t n;
	int fd;

	do
		fd = openat(dfd, path, O_WRONLY | O_CLOEXEC);
	while (fd == -1 && errno == EINTR);
	if (fd == -1)
		return -1;
	/* v1 memory limits can be interrupted by a pending SIGCHLD. */
	do
		n = write(fd, val, strlen(val));
	while (n == -1 && errno == EINTR);
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

static int
write_file(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return write_at(AT_FDCWD, path, val);
}

/*
 * A small file from its start. A cgroup file makes its text anew at every
 * read from offset 0, so one fd kept open reads fresh values each time.
 */
static int
pread_str(int fd, char *buf, size_t len)
{
	ssize_t n;

	do
		n = pread(fd, buf, len - 1, 0);
	while (n == -1 && errno == EINTR);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int
read_at(int dfd, const char *path, char *buf, size_t len)
{
	int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC), r;

	if (fd == -1)
		return -1;
	r = pread_str(fd, buf, len);
	close(fd);
	return r;
}

static int
read_file(const char *dir, const char *file, char *buf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return read_at(AT_FDCWD, path, buf, len);
}

/* "key value" lines, as in memory.events or pids.events. */
static long long
buf_key(const char *buf, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = buf; p != NULL && *p != '\0';
	    p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			return atoll(p + klen + 1);
	return -1;
}

/* Our own cgroup path for a v1 controller, or for v2 with name "". */
int
cgroup_own_path(const char *ctrl, char *out, size_t len)
{
	char line[4096];
	FILE *fp = fopen("/proc/self/cgroup", "re");
	int found = -1;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *a = strchr(line, ':'), *b;

		if (a == NULL || (b = strchr(a + 1, ':')) == NULL)
			continue;
		*b = '\0';
		b[strcspn(b + 1, "\n") + 1] = '\0';
		if (*ctrl == '\0' ? a[1] == '\0' : strcmp(a + 1, ctrl) == 0) {
			snprintf(out, len, "%s", b + 1);
			found = 0;
			break;
		}
		/* "cpu,cpuacct" style mounts */
		if (*ctrl != '\0') {
			char *tok, *save;

			for (tok = strtok_r(a + 1, ",", &save); tok != NULL;
			    tok = strtok_r(NULL, ",", &save))
				if (strcmp(tok, ctrl) == 0) {
					snprintf(out, len, "%s", b + 1);
					found = 0;
				}
			if (found == 0)
				break;
		}
	}
	fclose(fp);
	return found;
}

static int
is_fs(const char *path, long magic)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

static int
has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

/*
 * Each chald keeps its sessions under a directory named after its pid, so
 * that several instances can share a cgroup. Those of instances that are
 * gone (a crash, a SIGKILL) are removed here.
 */
static void
remove_dead_instances(const char *parent, const char *prefix)
{
	DIR *d = opendir(parent);
	struct dirent *e;
	char path[PATH_MAX];
	size_t n = strlen(prefix);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		long pid;
		char *end;

		if (strncmp(e->d_name, prefix, n) != 0)
			continue;
		pid = strtol(e->d_name + n, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
		remove_stale(path);
		rmdir(path);
	}
	closedir(d);
}

static void
remove_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] == 's' && e->d_type == DT_DIR) {
			snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
			/* Left by a daemon that died: nothing may survive it. */
			if (rmdir(path) == -1 && kill_procs(path) > 0) {
				usleep(10 * 1000);
				rmdir(path);
			}
		}
	closedir(d);
}

/*
 * v2: whether chald's cgroup is the host's root cgroup, the one cgroup
 * the no-internal-process rule exempts. In a private cgroup namespace (a
 * container's) the cgroup reads "/" too but is an ordinary one: only the
 * host's root has no cgroup.type.
 */
int
cgroup_v2_host_root(const char *own)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/cgroup.type", CGROOT);
	return (own[0] == '\0' || strcmp(own, "/") == 0) &&
	    access(path, F_OK) == -1;
}

/*
 * A v2 cgroup's memory.peak can be reset (per open file, Linux 6.12) when
 * it is writable; before, a session's peak would be that of every session
 * the cgroup held, so cgroups are not recycled there.
 */
static int
peak_resets(const struct cgroups *cg)
{
	char path[PATH_MAX];
	struct stat st;

	if (!cg->have[CG_MEMORY])
		return 1;
	snprintf(path, sizeof(path), "%s/memory.peak", cg->base);
	return stat(path, &st) == 0 && (st.st_mode & S_IWUSR) != 0;
}

/*
 * v2: chald moves itself into a leaf ("chald-daemon") of its own cgroup so
 * that controllers can be enabled for the sessions' subtree (cgroups with
 * processes cannot delegate controllers: the no-internal-process rule).
 */
static int
init_v2(struct cgroups *cg, const int need[CG_NCTRL], char *err,
    size_t errlen)
{
	char own[PATH_MAX], dir[PATH_MAX], leaf[PATH_MAX], ctl[256], pid[32];
	const char *v2_names[CG_NCTRL] = { "pids", "memory", "cpu", "cpu" };
	char enable[64] = "";

	if (cgroup_own_path("", own, sizeof(own)) == -1) {
		snprintf(err, errlen, "cgroup v2: no entry in "
		    "/proc/self/cgroup");
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s%s", CGROOT,
	    strcmp(own, "/") == 0 ? "" : own);
	/* Already in our leaf (a restart or reload): work from its parent. */
	{
		size_t l = strlen(dir), s = strlen("/chald-daemon");

		if (l > s && strcmp(dir + l - s, "/chald-daemon") == 0)
			dir[l - s] = '\0';
	}
	if (read_file(dir, "cgroup.controllers", ctl, sizeof(ctl)) == -1) {
		snprintf(err, errlen, "cgroup v2: cannot read %s/"
		    "cgroup.controllers: %s", dir, strerror(errno));
		return -1;
	}
	ctl[strcspn(ctl, "\n")] = '\0';
	/*
	 * Enable every controller that is there, so that a reload may add a
	 * limit; only those the configuration needs now must be there.
	 */
	for (int i = 0; i < CG_NCTRL; i++) {
		if (!has_word(ctl, v2_names[i]) && !need[i])
			continue;
		if (!has_word(ctl, v2_names[i])) {
			snprintf(err, errlen, "cgroup v2: the %s controller "
			    "is not delegated to %s (available: %s); run "
			    "chald under systemd with Delegate=yes, or enable "
			    "+%s in the parent's cgroup.subtree_control",
			    v2_names[i], dir, ctl[0] ? ctl : "none",
			    v2_names[i]);
			return -1;
		}
		cg->have[i] = 1;
		if (i == CG_CPUACCT)
			continue;	/* cpu.stat is always there on v2 */
		if (enable[0] != '\0')
			strcat(enable, " ");
		strcat(enable, "+");
		strcat(enable, v2_names[i]);
	}
	snprintf(leaf, sizeof(leaf), "%s/chald-daemon", dir);
	if (mkdir(leaf, 0755) == -1 && errno != EEXIST)
		goto fail;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (!cgroup_v2_host_root(own) && write_file(leaf, "cgroup.procs", pid)
	    == -1)
		goto fail;
	if (enable[0] != '\0' &&
	    write_file(dir, "cgroup.subtree_control", enable) == -1) {
		snprintf(err, errlen, "cgroup v2: cannot enable %s in %s/"
		    "cgroup.subtree_control: %s (other processes in that "
		    "cgroup? give chald a delegated cgroup of its own)",
		    enable, dir, strerror(errno));
		return -1;
	}
	remove_dead_instances(dir, "chald-sessions.");
	snprintf(cg->base, sizeof(cg->base), "%s/chald-sessions.%d", dir,
	    (int)getpid());
	if (mkdir(cg->base, 0755) == -1 && errno != EEXIST)
		goto fail;
	remove_stale(cg->base);
	if (enable[0] != '\0' &&
	    write_file(cg->base, "cgroup.subtree_control", enable) == -1)
		goto fail;
	cg->version = 2;
	cg->recycle = peak_resets(cg);
	return 0;
fail:
	snprintf(err, errlen, "cgroup v2: %s: %s", dir, strerror(errno));
	return -1;
}

static int
init_v1(struct cgroups *cg, const int need[CG_NCTRL], char *err,
    size_t errlen)
{
	for (int i = 0; i < CG_NCTRL; i++) {
		char mnt[PATH_MAX], own[PATH_MAX];

		snprintf(mnt, sizeof(mnt), "%s/%s", CGROOT, v1_names[i]);
		if (!is_fs(mnt, CGROUP_SUPER_MAGIC) ||
		    cgroup_own_path(v1_names[i], own, sizeof(own)) == -1) {
			if (need[i]) {
				snprintf(err, errlen, "cgroup v1: the %s "
				    "controller is not mounted at %s",
				    v1_names[i], mnt);
				return -1;
			}
			continue;
		}
		snprintf(cg->v1[i], sizeof(cg->v1[i]), "%s%s", mnt,
		    strcmp(own, "/") == 0 ? "" : own);
		remove_dead_instances(cg->v1[i], "chald.");
		snprintf(cg->v1[i] + strlen(cg->v1[i]), sizeof(cg->v1[i]) -
		    strlen(cg->v1[i]), "/chald.%d", (int)getpid());
		if (mkdir(cg->v1[i], 0755) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "cgroup v1: %s: %s", cg->v1[i],
			    strerror(errno));
			return -1;
		}
		remove_stale(cg->v1[i]);
		cg->have[i] = 1;
	}
	/* systemd mounts cpu and cpuacct as one hierarchy: one directory. */
	if (cg->have[CG_CPU] && cg->have[CG_CPUACCT]) {
		char *a = realpath(cg->v1[CG_CPU], NULL);
		char *b = realpath(cg->v1[CG_CPUACCT], NULL);

		cg->cpuacct_alias = a != NULL && b != NULL && strcmp(a, b) == 0;
		free(a);
		free(b);
	}
	if (cg->have[CG_MEMORY]) {
		char f[PATH_MAX];

		snprintf(f, sizeof(f), "%s/memory.memsw.limit_in_bytes",
		    cg->v1[CG_MEMORY]);
		cg->memsw = access(f, F_OK) == 0;
		snprintf(f, sizeof(f), "%s/memory.kmem.tcp.limit_in_bytes",
		    cg->v1[CG_MEMORY]);
		cg->tcpmem = access(f, F_OK) == 0;
	}
	cg->version = 1;
	cg->recycle = 1;	/* memory.max_usage_in_bytes resets */
	return 0;
}

/*
 * On cgroup v2, moves chald into the leaf "chald-daemon" of its cgroup.
 * Done before detaching, so that the launcher (which waits in the same
 * cgroup for the daemon's word) does not keep the parent cgroup busy when
 * the daemon enables controllers in it. Nothing to do elsewhere.
 */
int
cgroup_enter_leaf(void)
{
	char own[PATH_MAX], leaf[PATH_MAX], pid[32];
	size_t l, sfx = strlen("/chald-daemon");

	if (!is_fs(CGROOT, CGROUP2_SUPER_MAGIC) || cgroup_own_path("", own,
	    sizeof(own)) == -1 || cgroup_v2_host_root(own))
		return 0;
	l = strlen(own);
	if (l > sfx && strcmp(own + l - sfx, "/chald-daemon") == 0)
		return 0;
	snprintf(leaf, sizeof(leaf), "%s%s/chald-daemon", CGROOT, own);
	if (mkdir(leaf, 0755) == -1 && errno != EEXIST)
		return -1;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return write_file(leaf, "cgroup.procs", pid);
}

/*
 * The directories the session cgroups are made in, held open: a session's
 * files are opened by the two names below one of them (s<id>/file), not
 * by a path of up to nine that the kernel walks and revalidates each time.
 */
static int
open_bases(struct cgroups *cg, char *err, size_t errlen)
{
	for (int i = 0; i < CG_NCTRL; i++) {
		const char *dir = cg->version == 2 ? cg->base : cg->v1[i];

		if (cg->version == 2 ? i > 0 : !cg->have[i])
			continue;
		cg->basefd[i] = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (cg->basefd[i] == -1) {
			snprintf(err, errlen, "cgroup v%d: %s: %s",
			    cg->version, dir, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * Finds the hierarchy and prepares chald's part of it. need[] says which
 * controllers the configured limits require: missing ones are an error.
 */
int
cgroup_init(struct cgroups *cg, const int need[CG_NCTRL], char *err,
    size_t errlen)
{
	long cpus = sysconf(_SC_NPROCESSORS_CONF);

	struct rlimit rl;

	memset(cg, 0, sizeof(*cg));
	for (int i = 0; i < CG_NCTRL; i++)
		cg->basefd[i] = -1;
	/* A spare may hold a charge batch per CPU, and 64 KiB of slab. */
	cg->slack = (long long)((cpus > 0 ? cpus : 1) * CG_BATCH) *
	    sysconf(_SC_PAGESIZE) + 64 * 1024;
	/* The cgroups' kept files may take a quarter of the fd table: the
	 * rest is for the sessions' sockets and pidfds. */
	cg->kept_max = getrlimit(RLIMIT_NOFILE, &rl) == -1 ? 0 :
	    rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / 4 > CG_KEPT_MAX ?
	    CG_KEPT_MAX : (int)(rl.rlim_cur / 4);
	if ((is_fs(CGROOT, CGROUP2_SUPER_MAGIC) ? init_v2(cg, need, err,
	    errlen) : init_v1(cg, need, err, errlen)) == -1)
		return -1;
	return open_bases(cg, err, errlen);
}

const char *
cgroup_describe(const struct cgroups *cg, char *buf, size_t len)
{
	if (cg->version == 2)
		snprintf(buf, len, "v2 base=%s controllers=%s%s%s%s%s "
		    "recycle=%s",
		    cg->base, cg->have[CG_PIDS] ? "pids" : "",
		    cg->have[CG_PIDS] && cg->have[CG_MEMORY] ? "," : "",
		    cg->have[CG_MEMORY] ? "memory" : "",
		    (cg->have[CG_PIDS] || cg->have[CG_MEMORY]) &&
		    cg->have[CG_CPU] ? "," : "",
		    cg->have[CG_CPU] ? "cpu" : "", cg->recycle ? "yes" : "no");
	else if (cg->version == 1)
		snprintf(buf, len, "v1 pids=%s memory=%s cpu=%s memsw=%s "
		    "tcpmem=%s recycle=%s",
		    cg->have[CG_PIDS] ? cg->v1[CG_PIDS] : "none",
		    cg->have[CG_MEMORY] ? cg->v1[CG_MEMORY] : "none",
		    cg->have[CG_CPU] ? cg->v1[CG_CPU] : "none",
		    cg->memsw ? "yes" : "no", cg->tcpmem ? "yes" : "no",
		    cg->recycle ? "yes" : "no");
	else
		snprintf(buf, len, "none");
	return buf;
}

/* The full path of cgroup s<id> in hierarchy ctrl: for chald-init. */
static void
session_dir(const struct cgroups *cg, int ctrl, unsigned long long id,
    char *out, size_t len)
{
	if (cg->version == 2)
		snprintf(out, len, "%s/s%llu", cg->base, id);
	else
		snprintf(out, len, "%s/s%llu", cg->v1[ctrl], id);
}

/*
 * The base fd of hierarchy ctrl and the path below it of cgroup s<id>'s
 * file, or of the cgroup itself when file is NULL.
 */
static int
sess_at(const struct cgroups *cg, int ctrl, unsigned long long id,
    const char *file, char *rel, size_t len)
{
	if (file != NULL)
		snprintf(rel, len, "s%llu/%s", id, file);
	else
		snprintf(rel, len, "s%llu", id);
	return cg->basefd[cg->version == 2 ? 0 : ctrl];
}

static int
sess_write(const struct cgroups *cg, int ctrl, unsigned long long id,
    const char *file, const char *val)
{
	char rel[PATH_MAX];
	int dfd = sess_at(cg, ctrl, id, file, rel, sizeof(rel));

	return write_at(dfd, rel, val);
}

static int
sess_read(const struct cgroups *cg, int ctrl, unsigned long long id,
    const char *file, char *buf, size_t len)
{
	char rel[PATH_MAX];
	int dfd = sess_at(cg, ctrl, id, file, rel, sizeof(rel));

	return read_at(dfd, rel, buf, len);
}

/* The v1 hierarchies a session has a directory in. */
static int
v1_used(const struct cgroups *cg, int i)
{
	return cg->have[i] && !(i == CG_CPUACCT && cg->cpuacct_alias);
}

/*
 * What each kept file is (enum CGF_*, chald.h), by version. All of them
 * show values the kernel reads anew at every read from offset 0. v1's
 * cgroup.procs does not: an fd that read it once gets the pid list it read
 * then for up to a second (the kernel keeps v1 pid lists), so it is
 * opened anew each time, and pids.current stands for it where it can.
 * The files init joins through are kept, write-only (CGF_JOIN): each
 * session's init writes itself in through a copy of the fd, instead of a
 * walk of the path per hierarchy (on v2 the clone puts init into its
 * cgroup). On v1 that file is "tasks", not cgroup.procs: init is one
 * thread, so moving it is moving the process, and a thread that moves
 * itself does not take cgroup_threadgroup_rwsem for writing, which waits
 * for every fork and exit on the host to leave it and holds cgroup_mutex
 * all the while; at C=64 that convoy held up to 40 inits at once, for up
 * to 230 ms (bench/README.md).
 */
static const struct {
	int		 ctrl;
	const char	*v1;
	const char	*v2;
} files[CGF_N] = {
	[CGF_PEAK] = { CG_MEMORY, "memory.max_usage_in_bytes", "memory.peak" },
	[CGF_OOM] = { CG_MEMORY, "memory.oom_control", "memory.events" },
	[CGF_PIDSEV] = { CG_PIDS, "pids.events", "pids.events" },
	[CGF_CPU] = { CG_CPUACCT, "cpuacct.usage", "cpu.stat" },
	[CGF_USAGE] = { CG_MEMORY, "memory.usage_in_bytes", "memory.current" },
	[CGF_TCP] = { CG_MEMORY, "memory.kmem.tcp.usage_in_bytes", NULL },
	[CGF_IDLE] = { CG_PIDS, "pids.current", "cgroup.events" },
	[CGF_JOIN + CG_PIDS] = { CG_PIDS, "tasks", NULL },
	[CGF_JOIN + CG_MEMORY] = { CG_MEMORY, "tasks", NULL },
	[CGF_JOIN + CG_CPU] = { CG_CPU, "tasks", NULL },
	[CGF_JOIN + CG_CPUACCT] = { CG_CPUACCT, "tasks", NULL },
};

static const char *
kept_name(const struct cgroups *cg, int f)
{
	return cg->version == 2 ? files[f].v2 : files[f].v1;
}

/* Whether the session cgroups have file f (v2: cpu.stat and cgroup.events
 * are there without any controller). */
static int
kept_there(const struct cgroups *cg, int f)
{
	if (kept_name(cg, f) == NULL)
		return 0;
	if (cg->version == 2 && (f == CGF_CPU || f == CGF_IDLE))
		return 1;
	if (cg->version == 1 && f == CGF_TCP)
		return cg->have[CG_MEMORY] && cg->tcpmem;
	if (f >= CGF_JOIN)
		return v1_used(cg, files[f].ctrl);
	return cg->have[files[f].ctrl];
}

/*
 * Opens the files a cgroup reads at each session's end and refresh, when
 * it may hold more than one session and while they fit in the budget;
 * else it opens them for each read, which gives the same values. v2's
 * memory.peak is kept in any case: a write to it resets the peak that this
 * fd reads (6.12), and only this one (it counts in the budget, one fd a
 * session). A cgroup keeps the rest from its first return to the spares
 * on (cgroup_keep), not from its creation: one made for a session that
 * never ends would hold them for nothing, and a thousand such took the
 * whole budget from the cgroups that circulate (bench/README.md, "Kept
 * files for what circulates").
 */
static void
kept_open(struct cgroups *cg, struct cgslot *g, int reuse)
{
	char rel[PATH_MAX];
	int n = 0, all;

	for (int f = 0; f < CGF_N; f++)
		n += kept_there(cg, f) && g->fd[f] < 0;
	all = reuse && cg->kept + n <= cg->kept_max;
	for (int f = 0; f < CGF_N; f++) {
		int v2peak = cg->version == 2 && f == CGF_PEAK, dfd, mode;

		if (!kept_there(cg, f) || g->fd[f] >= 0 || (!all && !v2peak))
			continue;
		mode = f >= CGF_JOIN ? O_WRONLY : f != CGF_PEAK ? O_RDONLY :
		    cg->recycle ? O_RDWR : O_RDONLY;
		dfd = sess_at(cg, files[f].ctrl, g->id, kept_name(cg, f), rel,
		    sizeof(rel));
		g->fd[f] = openat(dfd, rel, mode | O_CLOEXEC);
		if (g->fd[f] >= 0)
			cg->kept++;
	}
}

/* A cgroup that went to the spares: its files are kept from now on if
 * they fit. */
void
cgroup_keep(struct cgroups *cg, struct cgslot *g)
{
	kept_open(cg, g, cg->recycle);
}

/* Kept file f of a cgroup, from its start; or opened for this read. */
static int
slot_read(const struct cgroups *cg, const struct cgslot *g, int f,
    char *buf, size_t len)
{
	if (g->fd[f] >= 0)
		return pread_str(g->fd[f], buf, len);
	if (kept_name(cg, f) == NULL)
		return -1;
	return sess_read(cg, files[f].ctrl, g->id, kept_name(cg, f), buf, len);
}

static long long
slot_key(const struct cgroups *cg, const struct cgslot *g, int f,
    const char *key)
{
	char buf[4096];

	if (slot_read(cg, g, f, buf, sizeof(buf)) == -1)
		return -1;
	return buf_key(buf, key);
}

static long long
slot_num(const struct cgroups *cg, const struct cgslot *g, int f)
{
	char buf[64];

	if (slot_read(cg, g, f, buf, sizeof(buf)) == -1)
		return -1;
	return atoll(buf);
}

static struct cgslot *
slot_new(unsigned long long id, const struct service *s)
{
	struct cgslot *g = calloc(1, sizeof(*g));

	if (g == NULL || (g->svc = strdup(s->name)) == NULL) {
		free(g);
		errno = ENOMEM;
		return NULL;
	}
	g->id = id;
	g->memory = s->memory;
	g->pids = s->pids;
	g->cpu = s->cpu;
	g->dirfd = -1;
	for (int f = 0; f < CGF_N; f++)
		g->fd[f] = -1;
	return g;
}

/* Frees a cgroup's record and closes every fd it kept. */
void
cgroup_slot_free(struct cgroups *cg, struct cgslot *g)
{
	if (g == NULL)
		return;
	if (g->dirfd >= 0)
		close(g->dirfd);
	for (int f = 0; f < CGF_N; f++)
		if (g->fd[f] >= 0) {
			close(g->fd[f]);
			cg->kept--;
		}
	free(g->svc);
	free(g);
}

static int
create_v2(const struct cgroups *cg, struct cgslot *g, const struct service *s)
{
	char rel[PATH_MAX], val[64];
	int base = sess_at(cg, 0, g->id, NULL, rel, sizeof(rel));

	if (mkdirat(base, rel, 0755) == -1)
		return -1;
	if (s->memory > 0) {
		snprintf(val, sizeof(val), "%llu",
		    (unsigned long long)s->memory);
		if (sess_write(cg, 0, g->id, "memory.max", val) == -1 ||
		    sess_write(cg, 0, g->id, "memory.oom.group", "1") == -1)
			goto fail;
		/* Absent without swap accounting: nothing to cap. */
		sess_write(cg, 0, g->id, "memory.swap.max", "0");
	}
	if (s->pids > 0) {
		snprintf(val, sizeof(val), "%d", s->pids);
		if (sess_write(cg, 0, g->id, "pids.max", val) == -1)
			goto fail;
	}
	if (s->cpu > 0) {
		snprintf(val, sizeof(val), "%lld 100000",
		    (long long)(s->cpu * 100000));
		if (sess_write(cg, 0, g->id, "cpu.max", val) == -1)
			goto fail;
	}
	g->dirfd = openat(base, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (g->dirfd == -1)
		goto fail;
	return 0;
fail:
	{
		int e = errno;

		unlinkat(base, rel, AT_REMOVEDIR);
		errno = e;
	}
	return -1;
}

static int
create_v1(const struct cgroups *cg, struct cgslot *g, const struct service *s)
{
	char rel[PATH_MAX], val[64];
	int done[CG_NCTRL] = { 0 };
	unsigned long long id = g->id;

	for (int i = 0; i < CG_NCTRL; i++) {
		if (!v1_used(cg, i))
			continue;
		if (mkdirat(sess_at(cg, i, id, NULL, rel, sizeof(rel)), rel,
		    0755) == -1)
			goto fail;
		done[i] = 1;
		if (i == CG_PIDS && s->pids > 0) {
			snprintf(val, sizeof(val), "%d", s->pids);
			if (sess_write(cg, i, id, "pids.max", val) == -1)
				goto fail;
		} else if (i == CG_MEMORY && s->memory > 0) {
			snprintf(val, sizeof(val), "%llu",
			    (unsigned long long)s->memory);
			if (sess_write(cg, i, id, "memory.limit_in_bytes", val)
			    == -1)
				goto fail;
			if (cg->memsw && sess_write(cg, i, id,
			    "memory.memsw.limit_in_bytes", val) == -1)
				goto fail;
			/* v1 counts TCP and UDP buffers apart from the rest,
			 * and only once this limit is set: before, a session
			 * could park memory without bound in buffers of
			 * connections to itself on its own loopback. Set
			 * before any process joins: a socket is charged to
			 * the group it was made in, if it counts by then. */
			if (cg->tcpmem && sess_write(cg, i, id,
			    "memory.kmem.tcp.limit_in_bytes", val) == -1)
				goto fail;
			sess_write(cg, i, id, "memory.swappiness", "0");
		} else if (i == CG_CPU && s->cpu > 0) {
			snprintf(val, sizeof(val), "%lld",
			    (long long)(s->cpu * 100000));
			if (sess_write(cg, i, id, "cpu.cfs_period_us",
			    "100000") == -1 || sess_write(cg, i, id,
			    "cpu.cfs_quota_us", val) == -1)
				goto fail;
		}
	}
	return 0;
fail:
	{
		int e = errno;

		for (int i = 0; i < CG_NCTRL; i++)
			if (done[i])
				unlinkat(sess_at(cg, i, id, NULL, rel,
				    sizeof(rel)), rel, AT_REMOVEDIR);
		errno = e;
	}
	return -1;
}

/*
 * Creates cgroup s<id> with s's limits. On v2 its dirfd is for
 * CLONE_INTO_CGROUP.
 */
struct cgslot *
cgroup_create(struct cgroups *cg, unsigned long long id,
    const struct service *s)
{
	struct cgslot *g = slot_new(id, s);

	if (g == NULL)
		return NULL;
	if ((cg->version == 2 ? create_v2(cg, g, s) : create_v1(cg, g, s)) ==
	    -1) {
		int e = errno;

		cgroup_slot_free(cg, g);
		errno = e;
		return NULL;
	}
	kept_open(cg, g, 0);
	return g;
}

/*
 * The files that init writes itself into: v1's tasks (see files[]), and on
 * v2 cgroup.procs, for a clone without CLONE_INTO_CGROUP.
 */
void
cgroup_procs(const struct cgroups *cg, const struct cgslot *g,
    char procs[CG_NCTRL][PATH_MAX])
{
	char dir[PATH_MAX];

	for (int i = 0; i < CG_NCTRL; i++)
		procs[i][0] = '\0';
	if (cg->version == 2) {
		session_dir(cg, 0, g->id, dir, sizeof(dir));
		snprintf(procs[0], PATH_MAX, "%s/cgroup.procs", dir);
		return;
	}
	for (int i = 0; i < CG_NCTRL; i++)
		if (v1_used(cg, i)) {
			session_dir(cg, i, g->id, dir, sizeof(dir));
			snprintf(procs[i], PATH_MAX, "%s/tasks", dir);
		}
}

/*
 * The kept fds of the files of g's hierarchies whose procs[] path is set
 * (cgroup_procs): fds[i] or -1. Returns the mask of those there (bit i for
 * hierarchy i), for init to write itself into instead of the paths.
 */
unsigned
cgroup_joinfds(const struct cgslot *g, char procs[CG_NCTRL][PATH_MAX],
    int fds[CG_NCTRL])
{
	unsigned mask = 0;

	for (int i = 0; i < CG_NCTRL; i++) {
		fds[i] = procs[i][0] != '\0' ? g->fd[CGF_JOIN + i] : -1;
		if (fds[i] >= 0)
			mask |= 1U << i;
	}
	return mask;
}

/* A peak less what was charged when the use began (-1: unknown). */
static long long
minus(long long peak, long long start)
{
	return peak < 0 ? -1 : peak > start ? peak - start : 0;
}

/*
 * A counter of this use: its value now less the one when the use began,
 * which becomes the start of the next use (the session's processes are
 * gone, so it no longer moves). An unreadable one spoils the cgroup.
 */
static long long
since(struct cgslot *g, long long now, long long *start)
{
	long long d;

	if (now < 0 || now < *start) {
		g->bad = 1;
		return -1;
	}
	d = now - *start;
	*start = now;
	return d;
}

/*
 * Why the session ended, as far as its cgroup knows, and what it used: of
 * this session only, on a cgroup that held others before it. Called once
 * the session's processes are all gone.
 */
void
cgroup_stats(const struct cgroups *cg, struct cgslot *g, struct cgstats *st)
{
	long long v;

	memset(st, 0, sizeof(*st));
	st->peak = -1;
	st->cpu_us = -1;
	if (cg->version == 2) {
		st->oom = since(g, slot_key(cg, g, CGF_OOM, "oom_kill"),
		    &g->oom0) > 0;
		st->pids_max = since(g, slot_key(cg, g, CGF_PIDSEV, "max"),
		    &g->pidsmax0) > 0;
		st->peak = minus(slot_num(cg, g, CGF_PEAK), g->mem0);
		st->cpu_us = since(g, slot_key(cg, g, CGF_CPU, "usage_usec"),
		    &g->cpu0);
		return;
	}
	if (cg->have[CG_CPUACCT]) {
		v = slot_num(cg, g, CGF_CPU);
		st->cpu_us = since(g, v >= 0 ? v / 1000 : -1, &g->cpu0);
	}
	if (cg->have[CG_MEMORY]) {
		st->oom = since(g, slot_key(cg, g, CGF_OOM, "oom_kill"),
		    &g->oom0) > 0;
		st->peak = minus(slot_num(cg, g, CGF_PEAK), g->mem0);
	}
	if (cg->have[CG_PIDS])
		st->pids_max = since(g, slot_key(cg, g, CGF_PIDSEV, "max"),
		    &g->pidsmax0) > 0;
}

/*
 * No process is left in the cgroup's directories.
 *
 * v1 with a pids hierarchy: its pids.current alone, read through a kept
 * fd. It counts every task charged there, one not yet reaped included, so
 * 0 means that no task is in the pids directory. And no task can be in
 * the session's other directories without being in that one: a task
 * enters them only as the jail's init (init_cgroups, jail.c), which joins
 * the pids directory first and forks nothing before it has joined them
 * all, or as a child of a task in them; no jail can write a tasks or
 * cgroup.procs file (it has no cgroupfs: cgspare_allowed, and no bind
 * may reach one, config.c), and chald moves no one else into
 * them. So the other hierarchies' cgroup.procs, which would each cost an
 * open (v1 keeps a pid list per open file, so it cannot be kept), are read
 * only where there is no pids hierarchy: all of them at a session's end,
 * the first one at a refresh.
 */
static int
idle(const struct cgroups *cg, const struct cgslot *g, int first)
{
	char buf[64];

	if (cg->version == 2)
		return slot_key(cg, g, CGF_IDLE, "populated") == 0;
	if (v1_used(cg, CG_PIDS))
		return slot_num(cg, g, CGF_IDLE) == 0;
	for (int i = 0; i < CG_NCTRL; i++) {
		if (!v1_used(cg, i))
			continue;
		if (sess_read(cg, i, g->id, "cgroup.procs", buf,
		    sizeof(buf)) == -1 || buf[0] != '\0')
			return 0;
		if (first)
			break;
	}
	return 1;
}

/* No process is left in any of the cgroup's directories. */
int
cgroup_idle(const struct cgroups *cg, const struct cgslot *g)
{
	return idle(cg, g, 0);
}

/*
 * The sum of some "key value" lines of one file read once, or -1 when one
 * is missing.
 */
static long long
read_sum(const struct cgroups *cg, const struct cgslot *g, const char *file,
    const char *const *keys)
{
	char buf[4096];
	long long sum = 0;

	if (sess_read(cg, CG_MEMORY, g->id, file, buf, sizeof(buf)) == -1)
		return -1;
	for (; *keys != NULL; keys++) {
		size_t klen = strlen(*keys);
		const char *p;

		for (p = buf; p != NULL; p = strchr(p, '\n'), p = p ? p + 1 :
		    NULL)
			if (strncmp(p, *keys, klen) == 0 && p[klen] == ' ')
				break;
		if (p == NULL)
			return -1;
		sum += atoll(p + klen + 1);
	}
	return sum;
}

/*
 * Resets the memory peak through the kept fd. On v2 only that fd's view of
 * memory.peak is reset (6.12), so it must be there; v1's
 * memory.max_usage_in_bytes may be opened for the write.
 */
static int
peak_reset(const struct cgroups *cg, const struct cgslot *g)
{
	ssize_t n;

	if (g->fd[CGF_PEAK] < 0)
		return cg->version == 2 ? -1 : sess_write(cg, CG_MEMORY, g->id,
		    "memory.max_usage_in_bytes", "0");
	do
		n = pwrite(g->fd[CGF_PEAK], "0", 1, 0);
	while (n == -1 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

/*
 * Makes a spare cgroup fresh for its next session. What is still charged
 * to it may be no more than cg->slack, and beyond CG_QUIET none of it may
 * be a page of the last session: no anonymous memory, shared memory, page
 * cache, swap or socket buffer (v2 reclaims the page cache first; v1 has
 * no memory.reclaim, and force_empty can stall for as long as reclaim
 * finds nothing to free). What is left is the kernel's per-cpu charge
 * caches (up to a batch per CPU), which the next session's first charges
 * use up, and a few slab objects: 4 KiB to 350 KiB here. The next peak starts there, and that is
 * taken off it. Returns -1 when the cgroup cannot be made fresh (it is
 * then removed).
 */
int
cgroup_refresh(const struct cgroups *cg, struct cgslot *g)
{
	static const char *const v2_pages[] = { "anon", "file", "shmem",
	    "sock", NULL };
	static const char *const v1_pages[] = { "rss", "cache", NULL };
	static const char *const v1_swap[] = { "rss", "cache", "swap", NULL };
	char val[32];
	long long used, pages = 0;

	/* Empty since its last session ended (cgroup_idle): no process can
	 * join a group chald hands to none. One look all the same. */
	if (g->bad || !idle(cg, g, 1))
		return -1;
	g->mem0 = 0;
	if (!cg->have[CG_MEMORY])
		goto fresh;
	if (cg->version == 2) {
		used = slot_num(cg, g, CGF_USAGE);
		if (used > CG_QUIET)
			pages = read_sum(cg, g, "memory.stat", v2_pages);
		if (pages > 0) {
			/* Page cache the last session read, charged here. */
			snprintf(val, sizeof(val), "%lld", pages);
			sess_write(cg, 0, g->id, "memory.reclaim", val);
			pages = read_sum(cg, g, "memory.stat", v2_pages);
			used = slot_num(cg, g, CGF_USAGE);
		}
		log_debug("cgroup-refresh id=s%llu uses=%u pages=%lld "
		    "memory=%lld", g->id, g->uses, pages, used);
		if (pages != 0 || used < 0 || used > cg->slack ||
		    peak_reset(cg, g) == -1)
			return -1;
		g->mem0 = used;
		goto fresh;
	}
	used = slot_num(cg, g, CGF_USAGE);
	if (used > CG_QUIET)
		pages = read_sum(cg, g, "memory.stat", cg->memsw ? v1_swap :
		    v1_pages);
	log_debug("cgroup-refresh id=s%llu uses=%u pages=%lld memory=%lld",
	    g->id, g->uses, pages, used);
	if (pages != 0 || used < 0 || used > cg->slack || (cg->tcpmem &&
	    slot_num(cg, g, CGF_TCP) != 0) || peak_reset(cg, g) == -1)
		return -1;
	g->mem0 = used;
fresh:
	g->uses++;
	return 0;
}

/* Sends SIGKILL to each process listed in dfd's path/cgroup.procs. */
static int
kill_procs_at(int dfd, const char *path)
{
	char procs[PATH_MAX], buf[8192], *p, *end;
	int n = 0;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
	if (read_at(dfd, procs, buf, sizeof(buf)) == -1)
		return 0;
	for (p = buf; *p != '\0'; p = end) {
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid > 1 && kill((pid_t)pid, SIGKILL) == 0)
			n++;
		while (*end == '\n')
			end++;
	}
	return n;
}

static int
kill_procs(const char *dir)
{
	return kill_procs_at(AT_FDCWD, dir);
}

/*
 * Kills whatever is left and removes the cgroup. Returns 0 once it is gone,
 * -1 while processes are still being torn down (try again later).
 */
int
cgroup_destroy(const struct cgroups *cg, unsigned long long id)
{
	char rel[PATH_MAX];
	int left = 0, dfd;

	if (cg->version == 2) {
		dfd = sess_at(cg, 0, id, NULL, rel, sizeof(rel));
		if (unlinkat(dfd, rel, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (sess_write(cg, 0, id, "cgroup.kill", "1") == -1)
			kill_procs_at(dfd, rel);
		return -1;
	}
	for (int i = 0; i < CG_NCTRL; i++) {
		if (!v1_used(cg, i))
			continue;
		dfd = sess_at(cg, i, id, NULL, rel, sizeof(rel));
		if (unlinkat(dfd, rel, AT_REMOVEDIR) == 0 || errno == ENOENT)
			continue;
		/* No cgroup.kill in v1: signal each member. The session's pid
		 * namespace is gone by now, so no new ones can appear. */
		kill_procs_at(dfd, rel);
		left++;
	}
	return left ? -1 : 0;
}

void
cgroup_cleanup(struct cgroups *cg)
{
	for (int i = 0; i < CG_NCTRL; i++)
		if (cg->basefd[i] >= 0) {
			close(cg->basefd[i]);
			cg->basefd[i] = -1;
		}
	if (cg->version == 2) {
		remove_stale(cg->base);
		rmdir(cg->base);
		return;
	}
	for (int i = 0; i < CG_NCTRL; i++)
		if (cg->have[i]) {
			remove_stale(cg->v1[i]);
			rmdir(cg->v1[i]);
		}
}
