/*
 * cgroup.c: one cgroup per jailed session, so that memory, process and CPU
 * limits hold for the whole process tree, and so that "is anything of this
 * session still alive" has an exact answer. cgroup v2 comes first (what
 * production hosts run); v1 controllers are the fallback. chald only ever
 * creates directories below its own cgroup and never remounts anything:
 * mount options of a cgroup2 mount are global to the host.
 */
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

static void	remove_stale(const char *);
static int	kill_procs(const char *);

/* cpuacct is optional: it only tells the CPU time of a whole session. */
static const char *v1_names[CG_NCTRL] = { "pids", "memory", "cpu",
    "cpuacct" };

static int
write_file(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	do
		fd = open(path, O_WRONLY | O_CLOEXEC);
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
read_file(const char *dir, const char *file, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* "key value" lines, as in memory.events or pids.events. */
static long long
read_key(const char *dir, const char *file, const char *key)
{
	char buf[4096], *p;
	size_t klen = strlen(key);

	if (read_file(dir, file, buf, sizeof(buf)) == -1)
		return -1;
	for (p = buf; p != NULL && *p != '\0'; p = strchr(p, '\n'),
	    p = p ? p + 1 : NULL)
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			return atoll(p + klen + 1);
	return -1;
}

static long long
read_num(const char *dir, const char *file)
{
	char buf[64];

	if (read_file(dir, file, buf, sizeof(buf)) == -1)
		return -1;
	return atoll(buf);
}

/* Our own cgroup path for a v1 controller, or for v2 with name "". */
static int
own_path(const char *ctrl, char *out, size_t len)
{
	char line[1024];
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

	if (own_path("", own, sizeof(own)) == -1) {
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
		    own_path(v1_names[i], own, sizeof(own)) == -1) {
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

	if (!is_fs(CGROOT, CGROUP2_SUPER_MAGIC) || own_path("", own,
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
 * Finds the hierarchy and prepares chald's part of it. need[] says which
 * controllers the configured limits require: missing ones are an error.
 */
int
cgroup_init(struct cgroups *cg, const int need[CG_NCTRL], char *err,
    size_t errlen)
{
	memset(cg, 0, sizeof(*cg));
	if (is_fs(CGROOT, CGROUP2_SUPER_MAGIC)) {
		return init_v2(cg, need, err, errlen);
	}
	return init_v1(cg, need, err, errlen);
}

const char *
cgroup_describe(const struct cgroups *cg, char *buf, size_t len)
{
	if (cg->version == 2)
		snprintf(buf, len, "v2 base=%s controllers=%s%s%s%s%s",
		    cg->base, cg->have[CG_PIDS] ? "pids" : "",
		    cg->have[CG_PIDS] && cg->have[CG_MEMORY] ? "," : "",
		    cg->have[CG_MEMORY] ? "memory" : "",
		    (cg->have[CG_PIDS] || cg->have[CG_MEMORY]) &&
		    cg->have[CG_CPU] ? "," : "",
		    cg->have[CG_CPU] ? "cpu" : "");
	else if (cg->version == 1)
		snprintf(buf, len, "v1 pids=%s memory=%s cpu=%s memsw=%s "
		    "tcpmem=%s",
		    cg->have[CG_PIDS] ? cg->v1[CG_PIDS] : "none",
		    cg->have[CG_MEMORY] ? cg->v1[CG_MEMORY] : "none",
		    cg->have[CG_CPU] ? cg->v1[CG_CPU] : "none",
		    cg->memsw ? "yes" : "no", cg->tcpmem ? "yes" : "no");
	else
		snprintf(buf, len, "none");
	return buf;
}

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
 * Creates session id's cgroup with its limits. On v2, *dirfd is an fd for
 * CLONE_INTO_CGROUP; on v1, procs[] gets the cgroup.procs paths the child
 * writes itself into.
 */
int
cgroup_create(const struct cgroups *cg, unsigned long long id,
    const struct service *s, int *dirfd, char procs[CG_NCTRL][PATH_MAX])
{
	char dir[PATH_MAX], val[64];
	int done[CG_NCTRL] = { 0 };

	*dirfd = -1;
	for (int i = 0; i < CG_NCTRL; i++)
		procs[i][0] = '\0';
	if (cg->version == 2) {
		session_dir(cg, 0, id, dir, sizeof(dir));
		if (mkdir(dir, 0755) == -1)
			return -1;
		if (s->memory > 0) {
			snprintf(val, sizeof(val), "%llu",
			    (unsigned long long)s->memory);
			if (write_file(dir, "memory.max", val) == -1 ||
			    write_file(dir, "memory.oom.group", "1") == -1)
				goto fail;
			/* Absent without swap accounting: nothing to cap. */
			write_file(dir, "memory.swap.max", "0");
		}
		if (s->pids > 0) {
			snprintf(val, sizeof(val), "%d", s->pids);
			if (write_file(dir, "pids.max", val) == -1)
				goto fail;
		}
		if (s->cpu > 0) {
			snprintf(val, sizeof(val), "%lld 100000",
			    (long long)(s->cpu * 100000));
			if (write_file(dir, "cpu.max", val) == -1)
				goto fail;
		}
		*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (*dirfd == -1)
			goto fail;
		/* For a clone without CLONE_INTO_CGROUP: init joins it. */
		snprintf(procs[0], PATH_MAX, "%s/cgroup.procs", dir);
		return 0;
	}
	for (int i = 0; i < CG_NCTRL; i++) {
		if (!cg->have[i] || (i == CG_CPUACCT && cg->cpuacct_alias))
			continue;
		session_dir(cg, i, id, dir, sizeof(dir));
		if (mkdir(dir, 0755) == -1)
			goto fail;
		done[i] = 1;
		snprintf(procs[i], PATH_MAX, "%s/cgroup.procs", dir);
		if (i == CG_PIDS && s->pids > 0) {
			snprintf(val, sizeof(val), "%d", s->pids);
			if (write_file(dir, "pids.max", val) == -1)
				goto fail;
		} else if (i == CG_MEMORY && s->memory > 0) {
			snprintf(val, sizeof(val), "%llu",
			    (unsigned long long)s->memory);
			if (write_file(dir, "memory.limit_in_bytes", val) == -1)
				goto fail;
			if (cg->memsw && write_file(dir,
			    "memory.memsw.limit_in_bytes", val) == -1)
				goto fail;
			/* v1 counts TCP and UDP buffers apart from the rest,
			 * and only once this limit is set: before, a session
			 * could park memory without bound in buffers of
			 * connections to itself on its own loopback. Set
			 * before any process joins: a socket is charged to
			 * the group it was made in, if it counts by then. */
			if (cg->tcpmem && write_file(dir,
			    "memory.kmem.tcp.limit_in_bytes", val) == -1)
				goto fail;
			write_file(dir, "memory.swappiness", "0");
		} else if (i == CG_CPU && s->cpu > 0) {
			snprintf(val, sizeof(val), "%lld",
			    (long long)(s->cpu * 100000));
			if (write_file(dir, "cpu.cfs_period_us", "100000") ==
			    -1 || write_file(dir, "cpu.cfs_quota_us", val) == -1)
				goto fail;
		}
	}
	return 0;
fail:
	{
		int e = errno;

		if (cg->version == 2)
			rmdir(dir);
		for (int i = 0; i < CG_NCTRL; i++)
			if (done[i]) {
				session_dir(cg, i, id, dir, sizeof(dir));
				rmdir(dir);
			}
		errno = e;
	}
	return -1;
}

/* Why a session ended, as far as its cgroup knows, and what it used. */
void
cgroup_stats(const struct cgroups *cg, unsigned long long id,
    struct cgstats *st)
{
	char dir[PATH_MAX];

	memset(st, 0, sizeof(*st));
	st->peak = -1;
	st->cpu_us = -1;
	if (cg->version == 2) {
		session_dir(cg, 0, id, dir, sizeof(dir));
		st->oom = read_key(dir, "memory.events", "oom_kill") > 0;
		st->pids_max = read_key(dir, "pids.events", "max") > 0;
		st->peak = read_num(dir, "memory.peak");
		st->cpu_us = read_key(dir, "cpu.stat", "usage_usec");
		return;
	}
	if (cg->have[CG_CPUACCT]) {
		session_dir(cg, CG_CPUACCT, id, dir, sizeof(dir));
		st->cpu_us = read_num(dir, "cpuacct.usage");
		if (st->cpu_us >= 0)
			st->cpu_us /= 1000;
	}
	if (cg->have[CG_MEMORY]) {
		session_dir(cg, CG_MEMORY, id, dir, sizeof(dir));
		st->oom = read_key(dir, "memory.oom_control", "oom_kill") > 0;
		st->peak = read_num(dir, "memory.max_usage_in_bytes");
	}
	if (cg->have[CG_PIDS]) {
		session_dir(cg, CG_PIDS, id, dir, sizeof(dir));
		st->pids_max = read_key(dir, "pids.events", "max") > 0;
	}
}

static int
kill_procs(const char *dir)
{
	char buf[8192], *p, *end;
	int n = 0;

	if (read_file(dir, "cgroup.procs", buf, sizeof(buf)) == -1)
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

/*
 * Kills whatever is left and removes the cgroup. Returns 0 once it is gone,
 * -1 while processes are still being torn down (try again later).
 */
int
cgroup_destroy(const struct cgroups *cg, unsigned long long id)
{
	char dir[PATH_MAX];
	int left = 0;

	if (cg->version == 2) {
		session_dir(cg, 0, id, dir, sizeof(dir));
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (write_file(dir, "cgroup.kill", "1") == -1)
			kill_procs(dir);
		return -1;
	}
	for (int i = 0; i < CG_NCTRL; i++) {
		if (!cg->have[i] || (i == CG_CPUACCT && cg->cpuacct_alias))
			continue;
		session_dir(cg, i, id, dir, sizeof(dir));
		if (rmdir(dir) == 0 || errno == ENOENT)
			continue;
		/* No cgroup.kill in v1: signal each member. The session's pid
		 * namespace is gone by now, so no new ones can appear. */
		kill_procs(dir);
		left++;
	}
	return left ? -1 : 0;
}

void
cgroup_cleanup(const struct cgroups *cg)
{
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
