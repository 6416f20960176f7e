/*
 * jailsuid.c: what chald-init adds to the file tree of a jail whose service
 * has setuid = on, after the pivot. Such a jail runs without no_new_privs,
 * so that a set-user-ID root program of the service's root (a /readflag)
 * gives the player euid 0: with an empty bounding set and SECBIT_NOROOT,
 * an euid 0 without a single capability (jail.c). What that uid 0 could
 * still do without capabilities is closed off here, in the jail's own
 * mount namespace (docs/threat-model.md, "setuid = on"):
 *
 * - the root (root = DIR) is the one mount where set-user-ID bits count:
 *   the binds, /tmp and /dev stay nosuid;
 * - the device nodes, bound from the host's /dev, become read-only
 *   mounts: their inodes are the host's and owned by root, and uid 0 could
 *   otherwise chmod the host's /dev/null (a device stays usable on a
 *   read-only mount);
 * - in /proc, whose files check euid 0 rather than a capability (a sysctl,
 *   /proc/sysrq-trigger, an IRQ's affinity), every top-level directory
 *   (/proc/sys above all) and every file root may write is bound
 *   read-only, and every file only root may read (kpageflags, slabinfo,
 *   timer_list...) is masked, as are /proc/keys and /proc/key-users,
 *   which would list the host root's keys to uid 0. The processes'
 *   own directories stay as they were (/proc/self/mem, comm...).
 *
 * Linked into chald-init only.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define RO_FLAGS	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)

/* The mount at path gets attributes set and loses clr, recursively or not. */
static int
suid_setattr(const char *path, uint64_t set, uint64_t clr, int rec,
    unsigned long legacy)
{
	struct mount_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.attr_set = set;
	attr.attr_clr = clr;
	if (syscall(SYS_mount_setattr, AT_FDCWD, path, rec ? AT_RECURSIVE : 0,
	    &attr, sizeof(attr)) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	/* Before Linux 5.12: the top mount only. */
	return mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | legacy, NULL);
}

/* src bound read-only on dst; nodev too, which makes a bound device node
 * unopenable: how a file is masked. */
static int
suid_ro_bind(const char *src, const char *dst)
{
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) == -1)
		return -1;
	return suid_setattr(dst, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
	    MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, 1, RO_FLAGS);
}

/* Only the root's own mount honours set-user-ID bits. */
static int
suid_root(void)
{
	return suid_setattr("/", 0, MOUNT_ATTR_NOSUID, 0, MS_RDONLY |
	    MS_NODEV);
}

/* The device nodes are the host's inodes: read-only mounts, still nodes. */
static int
suid_dev(void)
{
	char path[PATH_MAX];
	struct dirent *e;
	struct statvfs sv;
	struct stat st;
	DIR *d = opendir("/dev");
	int ret = 0;

	if (d == NULL)
		return -1;
	while (ret == 0 && (e = readdir(d)) != NULL) {
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
			continue;
		snprintf(path, sizeof(path), "/dev/%s", e->d_name);
		if (statvfs(path, &sv) == 0 && (sv.f_flag & ST_RDONLY) != 0)
			continue;
		ret = suid_setattr(path, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
		    MOUNT_ATTR_NOEXEC, 0, 0, MS_RDONLY | MS_NOSUID |
		    MS_NOEXEC);
	}
	closedir(d);
	return ret;
}

/* Host-wide files that filter what they show by uid, and so would show
 * the host root's to uid 0. */
static int
proc_masked(const char *name)
{
	return strcmp(name, "keys") == 0 || strcmp(name, "key-users") == 0;
}

/*
 * /proc's top level: everything but the processes' directories and the
 * symlinks (self, thread-self, mounts, net) is the kernel's, for the whole
 * host, and checks euid 0 where it checks anything.
 */
static int
suid_proc(void)
{
	char path[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d = opendir("/proc");
	int ret = 0;

	if (d == NULL)
		return -1;
	while (ret == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || isdigit((unsigned char)e->d_name[0]) ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		snprintf(path, sizeof(path), "/proc/%s", e->d_name);
		if (proc_masked(e->d_name) || (S_ISREG(st.st_mode) &&
		    (st.st_mode & S_IRUSR) && !(st.st_mode & S_IROTH)))
			ret = suid_ro_bind("/dev/null", path);
		else if (S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) &&
		    (st.st_mode & S_IWUSR)))
			ret = suid_ro_bind(path, path);
	}
	closedir(d);
	return ret;
}

/* After the pivot, before the challenge runs. */
int
jailsuid_tree(void)
{
	if (suid_root() == -1 || suid_dev() == -1 || suid_proc() == -1)
		return -1;
	return 0;
}
