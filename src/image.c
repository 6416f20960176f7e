/*
 * image.c: chald as the entrypoint of its container image (--jail-env),
 * a drop-in for pwn.red/jail. jailenv.c turns the JAIL_* variables into
 * settings; this file does the one thing that needs the file system: the
 * challenge is /srv/app/run in the image and /app/run in the jail, while
 * chald.conf(5)'s "root" wants the program at the same path on both sides.
 * So /srv/app is bound onto /app, in a mount namespace of chald's own so
 * that nothing of it is left on the host when chald is not in a container.
 *
 * In that namespace it also makes the container's cgroup mounts writable:
 * podman, docker and Kubernetes mount them read-only unless privileged,
 * and the jail needs a cgroup per session. With a cgroup namespace of the
 * container's own (--cgroupns=private), what the mounts show is the
 * container's cgroup and nothing above it, so the remount gives chald no
 * more than CAP_SYS_ADMIN already could, and spares --privileged.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define SRV_APP		JAILENV_ROOT JAILENV_WORKDIR	/* /srv/app */
#define CAPS		" (the jail needs CAP_SYS_ADMIN: see docs/deploy.md " \
			"for the privileges to give the container)"

static int
fail(char *err, size_t errlen, const char *what, int e, const char *hint)
{
	snprintf(err, errlen, "--jail-env: %s: %s%s", what, strerror(e),
	    hint);
	return -1;
}

/*
 * Each cgroup or cgroup2 mount below /sys/fs/cgroup that is read-only is
 * made writable, keeping its other flags. Per mount: the file system's own
 * options, global to the host, stay as they are.
 */
static int
cgroups_writable(char *err, size_t errlen)
{
	char line[4096], mnt[PATH_MAX], opts[512], fstype[64];
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	int ret = 0;

	if (fp == NULL)
		return fail(err, errlen, "/proc/self/mountinfo", errno, "");
	while (ret == 0 && fgets(line, sizeof(line), fp) != NULL) {
		unsigned long flags = MS_BIND | MS_REMOUNT;
		char *sep = strstr(line, " - ");

		/* id parent maj:min root mountpoint options ... - type */
		if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %4095s %511s",
		    mnt, opts) != 2 || sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		if (strncmp(mnt, "/sys/fs/cgroup", 14) != 0 ||
		    (strcmp(fstype, "cgroup") != 0 &&
		    strcmp(fstype, "cgroup2") != 0) ||
		    strncmp(opts, "ro", 2) != 0 || (opts[2] != ',' &&
		    opts[2] != '\0'))
			continue;
		if (strstr(opts, "nosuid") != NULL)
			flags |= MS_NOSUID;
		if (strstr(opts, "nodev") != NULL)
			flags |= MS_NODEV;
		if (strstr(opts, "noexec") != NULL)
			flags |= MS_NOEXEC;
		if (mount(NULL, mnt, NULL, flags, NULL) == -1)
			ret = fail(err, errlen, mnt, errno, " (the jail needs "
			    "the container's cgroup writable, and remounting "
			    "it so was refused: a user namespace locks it "
			    "read-only; see docs/deploy.md)");
	}
	fclose(fp);
	return ret;
}

/* /srv/app onto /app, unless /app is that directory already. */
static int
app_bind(char *err, size_t errlen)
{
	struct stat a, b;

	if (stat(SRV_APP, &b) == -1)
		return fail(err, errlen, SRV_APP, errno, "");
	if (stat(JAILENV_WORKDIR, &a) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		return 0;
	if (mkdir(JAILENV_WORKDIR, 0755) == -1 && errno != EEXIST)
		return fail(err, errlen, "mkdir " JAILENV_WORKDIR, errno,
		    " (an image with a read-only root needs an empty /app)");
	if (mount(SRV_APP, JAILENV_WORKDIR, NULL, MS_BIND | MS_REC, NULL) ==
	    -1)
		return fail(err, errlen, "bind " SRV_APP " on " JAILENV_WORKDIR,
		    errno, CAPS);
	return 0;
}

/*
 * Reads the JAIL_* variables of envp into je and makes /app/run the
 * challenge. On error, -1 and one line in err.
 */
int
image_setup(char *const envp[], struct jailenv *je, char *err, size_t errlen)
{
	char prog[PATH_MAX];

	if (jailenv_parse(envp, je, err, errlen) == -1)
		return -1;
	snprintf(prog, sizeof(prog), "%s%s", JAILENV_ROOT, JAILENV_PROGRAM);
	if (access(prog, X_OK) == -1)
		return fail(err, errlen, prog, errno, " (the challenge goes "
		    "there, as with pwn.red/jail: COPY chal /srv/app/run, "
		    "executable by others)");
	/* What the mounts below need, said as the jail would; preflight.c
	 * checks the rest after. */
	if (preflight_caps(1, err, errlen) == -1 || preflight_jail(1,
	    JAILENV_HOSTNAME, err, errlen) == -1)
		return -1;
	if (unshare(CLONE_NEWNS) == -1)
		return fail(err, errlen, "unshare(CLONE_NEWNS)", errno, CAPS);
	/* Mounts of the host still reach chald; chald's reach nobody. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) == -1)
		return fail(err, errlen, "mount / MS_SLAVE", errno, CAPS);
	return app_bind(err, errlen) == -1 || cgroups_writable(err, errlen) ==
	    -1 ? -1 : 0;
}
