/*
 * netns_check.c: what netpool.c's check of a network namespace costs,
 * against making a fresh one. Needs root; makes one scratch namespace.
 *   cc -O2 -o bench/build/netns_check bench/netns_check.c
 *   bench/build/netns_check
 * Per iteration, CPU time of the process and its clones (wall time too):
 *   - the check as netpool.c did it until session 5: a CLONE_VM|
 *     CLONE_VFORK clone that setns()es into the namespace and reads 11
 *     files of /proc/self/net (also with 5 files, and with none: the clone
 *     and setns alone), also by openat() in one fd of /proc/self/net;
 *   - reading the same files from fds held open (not done by chald);
 *   - as netpool.c does now: no clone, the process setns()es in and back
 *     and opens the files in an fd of /proc/thread-self/net;
 *   - clone(CLONE_NEWNET) and exit, which a fresh namespace costs before
 *     its cleanup_net in a kernel worker (not counted here).
 */
#define _GNU_SOURCE
#include <sys/resource.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *files[] = { "sockstat", "sockstat6", "snmp", "snmp6",
    "netstat", "dev", "igmp", "igmp6", "mcfilter", "mcfilter6",
    "ip6_flowlabel" };
#define NFILES	11
static int nfiles, nsfd, usedir, held[NFILES];
static char buf[131072], stack[65536];

static void
drain(int fd)
{
	size_t off = 0;
	ssize_t n;

	while ((n = read(fd, buf + off, sizeof(buf) - off)) > 0)
		off += (size_t)n;
}

static int
probe(void *arg)
{
	(void)arg;
	int dir = -1;

	if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) == -1)
		_exit(1);
	if (usedir && (dir = open("/proc/self/net", O_PATH | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		_exit(1);
	for (int i = 0; i < nfiles; i++) {
		char p[64];
		int fd;

		snprintf(p, sizeof(p), "/proc/self/net/%s", files[i]);
		fd = usedir ? openat(dir, files[i], O_RDONLY | O_CLOEXEC) :
		    open(p, O_RDONLY | O_CLOEXEC);
		if (fd == -1)
			continue;
		drain(fd);
		close(fd);
	}
	if (dir >= 0)
		close(dir);
	_exit(0);
}

static double
wall(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double
cpu(void)
{
	struct rusage a, b;

	getrusage(RUSAGE_SELF, &a);
	getrusage(RUSAGE_CHILDREN, &b);
	return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec +
	    b.ru_utime.tv_sec + b.ru_stime.tv_sec) + (double)(a.ru_utime.tv_usec +
	    a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec) / 1e6;
}

static void
clones(const char *what, int flags, int n)
{
	double w = wall(), c = cpu();

	for (int i = 0; i < n; i++) {
		pid_t p = clone(probe, stack + sizeof(stack), CLONE_VM |
		    CLONE_VFORK | CLONE_FILES | flags, NULL);

		if (p == -1) {
			perror("clone");
			exit(1);
		}
		waitpid(p, NULL, __WALL);
	}
	printf("%-40s wall_us=%.1f cpu_us=%.1f\n", what, (wall() - w) / n * 1e6,
	    (cpu() - c) / n * 1e6);
}

int
main(void)
{
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	const int n = 1000;
	double w, c;

	if (self == -1 || unshare(CLONE_NEWNET) == -1) {
		perror("netns_check: needs root");
		return 1;
	}
	if (system("ip link set lo up") != 0)
		return 1;
	nsfd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < NFILES; i++) {
		char p[64];

		snprintf(p, sizeof(p), "/proc/self/net/%s", files[i]);
		held[i] = open(p, O_RDONLY | O_CLOEXEC);
	}
	if (setns(self, CLONE_NEWNET) == -1)
		return 1;
	nfiles = NFILES;
	clones("check: clone, setns, 11 files", 0, n);
	usedir = 1;
	clones("check: the same, openat in one /proc/net", 0, n);
	usedir = 0;
	clones("check: clone, setns, 11 files (again)", 0, n);
	usedir = 1;
	clones("check: openat in one /proc/net (again)", 0, n);
	usedir = 0;
	nfiles = 5;
	clones("check: clone, setns, 5 files", 0, n);
	nfiles = 0;
	clones("clone and setns alone", 0, n);
	w = wall();
	c = cpu();
	for (int i = 0; i < n; i++)
		for (int k = 0; k < NFILES; k++) {
			lseek(held[k], 0, SEEK_SET);
			drain(held[k]);
		}
	printf("%-40s wall_us=%.1f cpu_us=%.1f\n", "11 files held open, read again",
	    (wall() - w) / n * 1e6, (cpu() - c) / n * 1e6);
	/* No clone: the process itself setns()es in and back, and opens the
	 * files in a /proc/thread-self/net held open (its lookups follow the
	 * thread's namespace of the moment). */
	{
		int tdir = open("/proc/thread-self/net", O_PATH | O_DIRECTORY |
		    O_CLOEXEC);

		w = wall();
		c = cpu();
		for (int i = 0; i < n; i++) {
			if (setns(nsfd, CLONE_NEWNET) == -1)
				return 1;
			for (int k = 0; k < NFILES; k++) {
				int fd = openat(tdir, files[k], O_RDONLY |
				    O_CLOEXEC);

				if (fd >= 0) {
					drain(fd);
					close(fd);
				}
			}
			if (setns(self, CLONE_NEWNET) == -1)
				return 1;
		}
		printf("%-40s wall_us=%.1f cpu_us=%.1f\n",
		    "setns in and out, openat, no clone", (wall() - w) / n *
		    1e6, (cpu() - c) / n * 1e6);
		close(tdir);
	}
	nsfd = -1;
	clones("fresh: clone(CLONE_NEWNET), exit", CLONE_NEWNET, 200);
	return 0;
}
