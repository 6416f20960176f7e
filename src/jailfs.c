/*
 * jailfs.c: the file tree of a jail, in two halves. The daemon builds a
 * skeleton once per service and configuration load (jailfs_build): the
 * directories and empty files that mounts go on, the symlinks of a
 * merged-/usr host, /dev's symlinks, and copies of the small /etc files a
 * dynamically linked program reads, and chald's own /etc/hosts, passwd
 * and group. The skeleton is a small tmpfs of its own, so that a jail's
 * /proc/self/mountinfo shows its root as "/" of a tmpfs and not the host
 * path it was built at (which holds the daemon's pid). Every jail's init
 * then binds that
 * skeleton read-only as its root and mounts onto it (jailfs_mount): /tmp,
 * /proc, the device nodes and the read-only binds. A jail thus creates no
 * file at all, and its mount namespace holds no tmpfs but its /tmp, which
 * is most of what building and tearing down a jail's tree used to cost.
 * The skeleton is shared by the jails of one service and read-only in all
 * of them: no session can change what another sees. (Like the host paths
 * bound into every jail, its files are the same inodes for all, so a
 * session can notice another's reads of them through inotify.)
 *
 * A service with "root =" has its own tree instead, which is never
 * written: its mount points must be in it, and /dev is a small tmpfs.
 *
 * Most services' jails do not mount all that themselves: the daemon mounts
 * what they share once per load in a template namespace (jailfs_template),
 * and each jail copies it and adds its own /tmp, /proc and /dev/pts
 * (jailfs_session). jailfs_mount builds a jail whole, for the services
 * whose binds lie among those.
 *
 * Linked into the daemon (sandbox.c) and into chald-init (jail.c).
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define FS_BUILD	1	/* create what mounts go on */
#define FS_MOUNT	2	/* mount */

/* What a dynamically linked challenge needs, bound read-only if present. */
static const char *default_binds[] = {
	"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr",
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/localtime", "/etc/nsswitch.conf", "/etc/alternatives", "/etc/ssl",
	NULL
};

/*
 * Files every skeleton gets chald's own version of, as a fresh system has
 * them: the host's would tell its name (/etc/hosts) and its accounts. A
 * service that needs the host's binds them itself (bind-ro).
 */
static const struct {
	const char	*path, *text;
} own_files[] = {
	{ "/etc/hosts", "127.0.0.1\tlocalhost\n"
	    "::1\tlocalhost ip6-localhost ip6-loopback\n" },	/* + hostname */
	{ "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
	    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" },
	{ "/etc/group", "root:x:0:\nnogroup:x:65534:\n" },
};

/* For jailview.c, which works out what a jail will see. */
const char *const *
jailfs_default_binds(void)
{
	return default_binds;
}

/* tty is the caller's own controlling terminal (ENXIO without one). */
static const char *dev_nodes[] = {
	"null", "zero", "full", "random", "urandom", "tty", NULL
};

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
 * Copies a small regular file into the skeleton. For the default /etc
 * files this is cheaper than a bind mount, which would cost every jail a
 * mount, a remount and an unmount.
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

static int
write_own(const char *root, const char *path, const char *text)
{
	char dst[PATH_MAX];
	size_t len = strlen(text);
	int fd, ret = -1;

	snprintf(dst, sizeof(dst), "%s%s", root, path);
	if (touch(dst) == -1)
		return -1;
	fd = open(dst, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -1;
	if (write(fd, text, len) == (ssize_t)len && fchmod(fd, 0644) == 0)
		ret = 0;
	close(fd);
	return ret;
}

/*
 * Binds src at the same path under root: makes the mount point (FS_BUILD),
 * mounts (FS_MOUNT), or both. A top-level symlink (/bin -> usr/bin on
 * merged-/usr hosts) is recreated as a symlink instead, and a small file
 * among chald's defaults (dflt) is copied; a default may be missing.
 */
static int
bind_path(const char *root, const char *src, int rw, int dflt, int how)
{
	char dst[PATH_MAX], link[PATH_MAX];
	struct stat st;

	if ((dflt ? lstat(src, &st) : stat(src, &st)) == -1)
		return dflt && errno == ENOENT ? 0 : -1;
	snprintf(dst, sizeof(dst), "%s%s", root, src);
	/* The organizer's paths may lie under /tmp, which the jail mounts
	 * over the skeleton's: their mount points are (also) made there. On
	 * a read-only tree an existing one will do. */
	if (!dflt)
		how |= FS_BUILD;
	if (S_ISLNK(st.st_mode) && dflt) {
		ssize_t n;
		char parent[PATH_MAX], *slash;

		if (!(how & FS_BUILD))
			return 0;
		if ((n = readlink(src, link, sizeof(link) - 1)) < 0)
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
	if (dflt && !rw && S_ISREG(st.st_mode) && st.st_size <= 256 * 1024)
		return (how & FS_BUILD) ? copy_small(src, dst, &st) : 0;
	if ((how & FS_BUILD) &&
	    (S_ISDIR(st.st_mode) ? mkdir_p(dst, 0755) : touch(dst)) == -1)
		return -1;
	if (!(how & FS_MOUNT))
		return 0;
	/* A default the host gained since the skeleton was built waits for
	 * the next load; everything else must have its mount point. */
	if (dflt && lstat(dst, &st) == -1 && errno == ENOENT)
		return 0;
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) == -1)
		return -1;
	return mount_flags(dst, rw);
}

/* /dev's device nodes (as mount points) and symlinks, in root/dev. */
static int
dev_tree(const char *root)
{
	char path[PATH_MAX], src[64];
	const char *names[] = { "stdin", "stdout", "stderr" };

	for (const char **d = dev_nodes; *d != NULL; d++) {
		snprintf(path, sizeof(path), "%s/dev/%s", root, *d);
		if (touch(path) == -1)
			return -1;
	}
	/* The jail's own devpts (dev_pts) and its ptmx. */
	snprintf(path, sizeof(path), "%s/dev/pts", root);
	if (mkdir(path, 0755) == -1 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/dev/ptmx", root);
	if (symlink("pts/ptmx", path) == -1 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/dev/fd", root);
	if (symlink("/proc/self/fd", path) == -1 && errno != EEXIST)
		return -1;
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/dev/%s", root, names[i]);
		snprintf(src, sizeof(src), "/proc/self/fd/%d", i);
		if (symlink(src, path) == -1 && errno != EEXIST)
			return -1;
	}
	return 0;
}

/* The host's device nodes, bound onto their mount points. */
static int
dev_mount(const char *root)
{
	char path[PATH_MAX], src[64];

	for (const char **d = dev_nodes; *d != NULL; d++) {
		snprintf(path, sizeof(path), "%s/dev/%s", root, *d);
		snprintf(src, sizeof(src), "/dev/%s", *d);
		if (mount(src, path, NULL, MS_BIND, NULL) == -1)
			return -1;
	}
	return 0;
}

/*
 * A devpts instance of the jail's own: its ptys (stdio = pty, and whatever
 * the challenge opens, as script or Python's pty do) are invisible to
 * every other session and to the host's /dev/pts, and at most max of them
 * may exist at once, so that one session cannot take all of the host's.
 */
static int
dev_pts(const char *root)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/dev/pts", root);
	return mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC,
	    "newinstance,ptmxmode=0666,mode=0620,max=16");
}

/* For a root of the organizer's, which is never written: a small tmpfs. */
static int
dev_tmpfs(const char *root)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/dev", root);
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC,
	    "size=64k,nr_inodes=64,mode=755") == -1 ||
	    dev_tree(root) == -1 || dev_mount(root) == -1)
		return -1;
	return mount(NULL, path, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID |
	    MS_NOEXEC, "size=64k,nr_inodes=64,mode=755");
}

/* True when path is dir or below it ("/" holds everything). */
int
path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return 1;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' ||
	    path[n] == '/');
}

/* The binds of a skeleton: chald's defaults, the program's directory, the
 * workdir, and the service's own. */
static int
skel_binds(const struct service *s, const char *root, int how)
{
	char dir[PATH_MAX], *slash;

	for (const char **b = default_binds; *b != NULL; b++)
		if (bind_path(root, *b, 0, 1, how) == -1)
			return -1;
	snprintf(dir, sizeof(dir), "%s", s->argv[0]);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir)
		*slash = '\0';
	if (bind_path(root, dir, 0, 0, how) == -1)
		return -1;
	/* The default workdir is the program's: bound already. */
	if (!path_under(s->workdir, dir) &&
	    bind_path(root, s->workdir, 0, 0, how) == -1)
		return -1;
	return 0;
}

static int
own_binds(const struct service *s, const char *root, int how)
{
	for (int i = 0; i < s->nbind_ro; i++)
		if (bind_path(root, s->bind_ro[i], 0, 0, how) == -1)
			return -1;
	for (int i = 0; i < s->nbind_rw; i++)
		if (bind_path(root, s->bind_rw[i], 1, 0, how) == -1)
			return -1;
	return 0;
}

/*
 * The daemon's half: the skeleton of service s in dir, which exists and is
 * empty. On error, errno and the path that failed in where.
 */
int
jailfs_build(const struct service *s, const char *dir, char *where,
    size_t wherelen)
{
	const char *subdirs[] = { "tmp", "proc", "dev" };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		snprintf(where, wherelen, "%s", path);
		if (mkdir_p(path, 0755) == -1)
			return -1;
	}
	snprintf(where, wherelen, "%s/dev", dir);
	if (dev_tree(dir) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(own_files) / sizeof(own_files[0]); i++) {
		char hosts[512];
		const char *text = own_files[i].text;

		/* The jail's own name, as a fresh system's /etc/hosts has it. */
		if (strcmp(own_files[i].path, "/etc/hosts") == 0) {
			snprintf(hosts, sizeof(hosts), "%s127.0.1.1\t%s\n",
			    text, s->hostname);
			text = hosts;
		}
		snprintf(where, wherelen, "%s%s", dir, own_files[i].path);
		if (write_own(dir, own_files[i].path, text) == -1)
			return -1;
	}
	snprintf(where, wherelen, "%s", dir);
	if (skel_binds(s, dir, FS_BUILD) == -1 ||
	    own_binds(s, dir, FS_BUILD) == -1)
		return -1;
	return 0;
}

/*
 * Where a jail mounts file systems of its own: an organizer's path at or
 * below one of these, or above it ("/"), must be bound after them, in the
 * order jailfs_mount keeps, so its service builds every jail whole.
 */
static const char *session_dirs[] = { "/tmp", "/proc", "/dev/pts", NULL };

static int
path_clashes(const char *path)
{
	for (const char **d = session_dirs; *d != NULL; d++)
		if (path_under(path, *d) || path_under(*d, path))
			return 1;
	return 0;
}

/*
 * True when service s can have a template (jailfs_template): no path the
 * organizer has bound among the jail's own mounts.
 */
int
jailfs_templatable(const struct service *s)
{
	char dir[PATH_MAX], *slash;

	/* In a root of the organizer's, the program and workdir are its. */
	snprintf(dir, sizeof(dir), "%s", s->argv[0]);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir)
		*slash = '\0';
	if (s->root == NULL && (path_clashes(dir) ||
	    path_clashes(s->workdir)))
		return 0;
	for (int i = 0; i < s->nbind_ro; i++)
		if (path_clashes(s->bind_ro[i]))
			return 0;
	for (int i = 0; i < s->nbind_rw; i++)
		if (path_clashes(s->bind_rw[i]))
			return 0;
	return 1;
}

/* Into root, with nothing of the old tree left in the namespace. */
int
jailfs_pivot(const char *root)
{
	if (chdir(root) == -1 ||
	    syscall(SYS_pivot_root, ".", ".") == -1 ||
	    umount2(".", MNT_DETACH) == -1 ||
	    chdir("/") == -1)
		return -1;
	return 0;
}

/*
 * The daemon's template of a service's jails, in a mount namespace of its
 * own (a child of the daemon's, then pivoted into root): what jailfs_mount
 * would make of the skeleton (or the organizer's root) but the jail's own
 * file systems (/tmp, /proc, /dev/pts). Every mount in it is private, so
 * each jail's copy of it (jailfs_session) shares no propagation with it or
 * with another copy.
 */
int
jailfs_template(const struct service *s, const char *root, const char *skel)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		return -1;
	if (mount(s->root != NULL ? s->root : skel, root, NULL, MS_BIND |
	    MS_REC, NULL) == -1 || mount_flags(root, 0) == -1)
		return -1;
	/* A root of the organizer's gets its read-only /dev tmpfs here:
	 * mount points and symlinks only, the same for all its jails. */
	if ((s->root != NULL ? dev_tmpfs(root) : dev_mount(root)) == -1)
		return -1;
	if (s->root == NULL && skel_binds(s, root, FS_MOUNT) == -1)
		return -1;
	return own_binds(s, root, FS_MOUNT);
}

/* A jail's own /tmp: a tmpfs of the service's size. */
static int
tmp_mount(const struct service *s, const char *root)
{
	char path[PATH_MAX], opts[128];

	snprintf(path, sizeof(path), "%s/tmp", root);
	snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=%llu,mode=1777",
	    (unsigned long long)s->tmp_size,
	    (unsigned long long)(s->tmp_size / 4096 + 64));
	return mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts);
}

/*
 * The init's half on a template: in its own copy of the template's
 * namespace, whose root is the jail's already, the file systems that are
 * the jail's alone.
 */
int
jailfs_session(const struct service *s)
{
	if (tmp_mount(s, "") == -1 || dev_pts("") == -1)
		return -1;
	return mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV |
	    MS_NOEXEC, "hidepid=invisible");
}

/*
 * The init's half, in its own mount namespace: the tree under root, on the
 * skeleton (skel) or on the organizer's root.
 */
int
jailfs_mount(const struct service *s, const char *root, const char *skel)
{
	char path[PATH_MAX];

	/* Nothing below may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
		return -1;
	/* Read-only from the start: the skeleton is shared, the organizer's
	 * tree is never written, and every mount point is in either. */
	if (mount(s->root != NULL ? s->root : skel, root, NULL, MS_BIND |
	    MS_REC, NULL) == -1 || mount_flags(root, 0) == -1)
		return -1;
	if (tmp_mount(s, root) == -1)
		return -1;
	if ((s->root != NULL ? dev_tmpfs(root) : dev_mount(root)) == -1 ||
	    dev_pts(root) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/proc", root);
	if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    "hidepid=invisible") == -1)
		return -1;
	if (s->root == NULL && skel_binds(s, root, FS_MOUNT) == -1)
		return -1;
	return own_binds(s, root, FS_MOUNT);
}
