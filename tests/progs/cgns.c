/*
 * cgns: runs a program as a container runtime would with a private cgroup
 * namespace (podman's and Kubernetes' default on cgroup v2): a new cgroup
 * and mount namespace, and /sys/fs/cgroup mounted anew, so that the
 * program's own cgroup reads "/" although it is not the host's root.
 *   cgns PROG [ARG...]
 */
#define _GNU_SOURCE
#include <sys/mount.h>

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: cgns PROG [ARG...]\n");
		return 2;
	}
	if (unshare(CLONE_NEWCGROUP | CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
	    umount2("/sys/fs/cgroup", MNT_DETACH) == -1 ||
	    mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL) == -1) {
		fprintf(stderr, "cgns: %s\n", strerror(errno));
		return 1;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "cgns: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
