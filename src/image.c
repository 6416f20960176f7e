/*
 * image.c: chald as the entrypoint of its container image (--jail-env),
 * a drop-in for pwn.red/jail. jailenv.c turns the JAIL_* variables into
 * settings; this file does the one thing that needs the file system: the
 * challenge is /srv/app/run in the image and /app/run in the jail, while
 * chald.conf(5)'s "root" wants the program at the same path on both sides.
 * So /srv/app is bound onto /app, in a mount namespace of chald's own so
 * that nothing of it is left on the host when chald is not in a container.
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define SRV_APP		JAILENV_ROOT JAILENV_WORKDIR	/* /srv/app */

static int
fail(char *err, size_t errlen, const char *what, int e, const char *hint)
{
	snprintf(err, errlen, "--jail-env: %s: %s%s", what, strerror(e),
	    hint);
	return -1;
}

/* /srv/app onto /app, unless /app is that directory already. */
static int
app_bind(char *err, size_t errlen)
{
	static const char *caps = " (the jail needs CAP_SYS_ADMIN: see "
	    "docs/deploy.md for the privileges to give the container)";
	struct stat a, b;

	if (stat(SRV_APP, &b) == -1)
		return fail(err, errlen, SRV_APP, errno, "");
	if (stat(JAILENV_WORKDIR, &a) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		return 0;
	if (unshare(CLONE_NEWNS) == -1)
		return fail(err, errlen, "unshare(CLONE_NEWNS)", errno, caps);
	/* Mounts of the host still reach chald; chald's reach nobody. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) == -1)
		return fail(err, errlen, "mount / MS_SLAVE", errno, caps);
	if (mkdir(JAILENV_WORKDIR, 0755) == -1 && errno != EEXIST)
		return fail(err, errlen, "mkdir " JAILENV_WORKDIR, errno,
		    " (an image with a read-only root needs an empty /app)");
	if (mount(SRV_APP, JAILENV_WORKDIR, NULL, MS_BIND | MS_REC, NULL) ==
	    -1)
		return fail(err, errlen, "bind " SRV_APP " on " JAILENV_WORKDIR,
		    errno, caps);
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
	return app_bind(err, errlen);
}
