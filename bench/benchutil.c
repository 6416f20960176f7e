/* benchutil: small helpers for bench/run.sh, so the script needs no
 * Python and no parsing of ps output.
 *
 *   benchutil freeport           print a TCP port free on 127.0.0.1, taken
 *                                below the ephemeral range so load-generator
 *                                client sockets can never hold it
 *   benchutil waitport PORT MS [PID]
 *                                wait (bounded, MS milliseconds) until
 *                                127.0.0.1:PORT accepts a connection; exit 0
 *                                when it does, 1 on timeout, 3 as soon as
 *                                PID (if given) has exited or is a zombie
 *   benchutil procs PID          print "live=L zombies=Z rss_kb=R fds=F":
 *                                L/Z = live/zombie descendants of PID (not
 *                                PID itself), R = VmRSS of PID, F = open fds
 *                                of PID
 *   benchutil desc PID           print the PIDs of all descendants of PID
 *   benchutil alive PID...       print how many of the PIDs exist and are
 *                                not zombies
 *   benchutil countexe PATH      print how many processes run PATH
 *   benchutil cpu PID            print "proc_ticks=P busy_ticks=B
 *                                steal_ticks=S hz=H": P = user+system time
 *                                of PID plus that of its reaped
 *                                descendants, B = busy time of all CPUs
 *                                (/proc/stat user+nice+system+irq+softirq),
 *                                S = the time a hypervisor ran something
 *                                else on them (steal), in ticks of 1/H s
 * Exit status 2 on bad usage. Every loop is bounded by the size of /proc,
 * an explicit try count or a deadline. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS (1 << 22)

struct proc {
	int pid, ppid;
	char state;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: benchutil freeport\n"
		"       benchutil waitport PORT MS [PID]\n"
		"       benchutil procs PID\n"
		"       benchutil desc PID\n"
		"       benchutil alive PID...\n"
		"       benchutil countexe PATH\n"
		"       benchutil cpu PID\n");
	exit(2);
}

static long num(const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno || v < lo || v > hi)
		usage();
	return v;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * /proc/pid/stat after the command name (which may hold spaces and
 * parentheses), from field 3 on; NULL if pid is gone.
 */
static char *stat_fields(int pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p ? p + 1 : NULL;
}

/* Read pid's ppid and state from /proc/pid/stat. Returns 0 on success. */
static int read_stat(int pid, int *ppid, char *state)
{
	char buf[1024];
	char *p = stat_fields(pid, buf, sizeof buf);
	if (!p || sscanf(p, " %c %d", state, ppid) != 2)
		return -1;
	return 0;
}

/* Snapshot all processes. Returns the count; *out is malloc'ed. */
static size_t snapshot(struct proc **out)
{
	size_t cap = 1024, n = 0;
	struct proc *v = malloc(cap * sizeof *v);
	DIR *d = opendir("/proc");
	if (!v || !d) {
		perror("benchutil: /proc");
		exit(1);
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < MAX_PROCS) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		struct proc p = { .pid = (int)pid };
		if (read_stat(p.pid, &p.ppid, &p.state) < 0)
			continue;
		if (n == cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof *v);
			if (!v) {
				perror("benchutil: realloc");
				exit(1);
			}
		}
		v[n++] = p;
	}
	closedir(d);
	*out = v;
	return n;
}

/* Mark the descendants of root in mark[] (parallel to v). Iterates to a
 * fixed point; at most n passes since each pass adds at least one. */
static void mark_desc(const struct proc *v, size_t n, int root, char *mark)
{
	int self = getpid(), maxpid = root;
	for (size_t i = 0; i < n; i++)
		if (v[i].pid > maxpid)
			maxpid = v[i].pid;
	char *in = calloc((size_t)maxpid + 1, 1); /* pid -> is descendant */
	if (!in) {
		perror("benchutil: calloc");
		exit(1);
	}
	in[root] = 1;
	for (size_t pass = 0; pass < n; pass++) {
		int changed = 0;
		for (size_t i = 0; i < n; i++) {
			if (mark[i] || v[i].pid == self || v[i].pid == root)
				continue;
			if (v[i].ppid > 0 && v[i].ppid <= maxpid && in[v[i].ppid]) {
				mark[i] = 1;
				in[v[i].pid] = 1;
				changed = 1;
			}
		}
		if (!changed)
			break;
	}
	free(in);
}

static long status_field(int pid, const char *key)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static long count_fds(int pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* utime+stime+cutime+cstime of pid (fields 14-17 of /proc/pid/stat). */
static long long proc_ticks(int pid)
{
	char buf[2048];
	char *p = stat_fields(pid, buf, sizeof buf);
	if (!p)
		return -1;
	/* After ')': field 3 (state) ... field 17 (cstime). */
	long long v[4];
	int got = sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u"
			 " %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3]);
	if (got != 4)
		return -1;
	return v[0] + v[1] + v[2] + v[3];
}

/* The busy time of all CPUs, and in *steal the time a hypervisor gave
 * them to someone else (0 where the kernel does not say). */
static long long busy_ticks(long long *steal)
{
	FILE *f = fopen("/proc/stat", "r");
	*steal = -1;
	if (!f)
		return -1;
	long long us, ni, sy, id, io, irq, sirq, st = 0;
	int got = fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld",
			 &us, &ni, &sy, &id, &io, &irq, &sirq, &st);
	fclose(f);
	if (got < 7)
		return -1;
	*steal = got == 8 ? st : 0;
	return us + ni + sy + irq + sirq;
}

static int cmd_freeport(void)
{
	int lo = 32768;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		if (fscanf(f, "%d", &lo) != 1)
			lo = 32768;
		fclose(f);
	}
	int base = 10000;
	srand((unsigned)(getpid() ^ (int)(now() * 1e6)));
	for (int tries = 0; tries < 500; tries++) {
		int port = 0; /* fall back to the kernel's choice */
		if (lo - base >= 1000)
			port = base + rand() % (lo - base);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		struct sockaddr_in sa;
		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_port = htons((unsigned short)port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t sl = sizeof sa;
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
		    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0) {
			printf("%u\n", ntohs(sa.sin_port));
			close(fd);
			return 0;
		}
		close(fd);
	}
	fprintf(stderr, "benchutil: no free port found\n");
	return 1;
}

static int pid_gone(int pid)
{
	int ppid;
	char st;
	return read_stat(pid, &ppid, &st) < 0 || st == 'Z' || st == 'X';
}

static int cmd_waitport(int port, long ms, int pid)
{
	double deadline = now() + (double)ms / 1000.0;
	for (;;) { /* bounded by the deadline */
		if (pid > 0 && pid_gone(pid))
			return 3;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			perror("benchutil: socket");
			return 1;
		}
		struct sockaddr_in sa;
		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_port = htons((unsigned short)port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		close(fd);
		if (ok)
			return 0;
		if (now() >= deadline)
			return 1;
		poll(NULL, 0, 20);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *cmd = argv[1];
	if (strcmp(cmd, "freeport") == 0 && argc == 2)
		return cmd_freeport();
	if (strcmp(cmd, "waitport") == 0 && (argc == 4 || argc == 5))
		return cmd_waitport((int)num(argv[2], 1, 65535),
				    num(argv[3], 0, 600000),
				    argc == 5 ? (int)num(argv[4], 1, 1 << 30) : 0);
	if ((strcmp(cmd, "procs") == 0 || strcmp(cmd, "desc") == 0) &&
	    argc == 3) {
		int root = (int)num(argv[2], 1, 1 << 30);
		struct proc *v;
		size_t n = snapshot(&v);
		char *mark = calloc(n + 1, 1);
		if (!mark)
			return 1;
		mark_desc(v, n, root, mark);
		long live = 0, zombies = 0;
		for (size_t i = 0; i < n; i++) {
			if (!mark[i])
				continue;
			if (cmd[0] == 'd')
				printf("%d\n", v[i].pid);
			else if (v[i].state == 'Z')
				zombies++;
			else
				live++;
		}
		if (cmd[0] == 'p')
			printf("live=%ld zombies=%ld rss_kb=%ld fds=%ld\n",
			       live, zombies, status_field(root, "VmRSS"),
			       count_fds(root));
		return 0;
	}
	if (strcmp(cmd, "alive") == 0) {
		int alive = 0;
		for (int i = 2; i < argc; i++)
			if (!pid_gone((int)num(argv[i], 1, 1 << 30)))
				alive++;
		printf("%d\n", alive);
		return 0;
	}
	if (strcmp(cmd, "cpu") == 0 && argc == 3) {
		int pid = (int)num(argv[2], 1, 1 << 30);
		long long steal, busy = busy_ticks(&steal);
		printf("proc_ticks=%lld busy_ticks=%lld steal_ticks=%lld hz=%ld\n",
		       proc_ticks(pid), busy, steal, sysconf(_SC_CLK_TCK));
		return 0;
	}
	if (strcmp(cmd, "countexe") == 0 && argc == 3) {
		DIR *d = opendir("/proc");
		if (!d)
			return 1;
		long count = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			char path[300], target[4096];
			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			snprintf(path, sizeof path, "/proc/%s/exe", e->d_name);
			ssize_t l = readlink(path, target, sizeof target - 1);
			if (l <= 0)
				continue;
			target[l] = '\0';
			if (strcmp(target, argv[2]) == 0)
				count++;
		}
		closedir(d);
		printf("%ld\n", count);
		return 0;
	}
	usage();
	return 2;
}
