/*
 * jailprobe.c: a hostile player's shell. Reads one command per line and
 * answers one line, "ok ..." or "err ERRNO", so tests can try what a player
 * who got code execution would try: other processes, the network, the file
 * system, fds, setuid programs, the kernel's interfaces. Built as a 64-bit
 * program and, as jailprobe32, as an i386 one (int 0x80, socketcall).
 *   id | procs | kill PID | ptrace PID | connect IP PORT | write PATH |
 *   fill PATH | ls DIR | fds | exec PATH | sleep | cat PATH | uname |
 *   socket FAM TYPE PROTO      socket() through the C library
 *   rawsocket FAM TYPE PROTO   the direct socket system call; FAM may have
 *                              bits above 32 (e.g. 0x100000028)
 *   socketpair FAM TYPE        socketpair()
 *   ifconf FD                  SIOCGIFCONF: the interface names FD's
 *                              namespace has
 *   ioctl FD REQ [NAME]        an interface ioctl (ifreq for NAME, index 1)
 *   setsockopt FD LEVEL OPT STR
 *   reconnect IP PORT          fd 0 disconnected (AF_UNSPEC) and connected to
 *                              IP PORT; the result goes to stderr, since
 *                              stdout is that socket
 *   inotify PATH | inotify0 PATH | dnotify DIR | unshare | ldt | x32
 *   alloc MIB                  MIB MiB allocated and touched, kept
 *   forks N                    up to N children that sleep; "ok" and how many
 *   burn MS                    MS ms of CPU time spent
 *   exit CODE                  exits with CODE
 * cat answers with the file's first 64 KiB on one line: "|" for each
 * newline, "?" for each other byte that is not printable ASCII.
 */
#define _GNU_SOURCE
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Kept, for the cgroup's peak: a session that uses its memory. */
static void
alloc_mib(long mib)
{
	for (long i = 0; i < mib; i++) {
		char *p = malloc(1 << 20);

		if (p == NULL) {
			reply("err ENOMEM");
			return;
		}
		memset(p, 0x5a, 1 << 20);
	}
	reply("ok %ld", mib);
}

static void
forks(long n)
{
	long made = 0;

	for (; made < n; made++) {
		pid_t pid = fork();

		if (pid == -1)
			break;
		if (pid == 0) {
			for (;;)
				pause();
		}
	}
	reply("ok %ld", made);
}

static void
burn(long ms)
{
	struct timespec t;
	volatile unsigned long x = 0;

	do {
		for (int i = 0; i < 100000; i++)
			x += (unsigned long)i;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	} while (t.tv_sec * 1000 + t.tv_nsec / 1000000 < ms);
	reply("ok %ld", ms);
}

static void
result(int r)
{
	if (r == -1)
		reply("err %s", strerrorname_np(errno));
	else
		reply("ok %d", r);
}

static int
try_connect(const char *ip, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0), r;

	if (fd == -1)
		return -1;
	sin.sin_port = htons(port);
	inet_pton(AF_INET, ip, &sin.sin_addr);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return r;
}

static int
try_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd == -1)
		return -1;
	if (write(fd, "x\n", 2) != 2) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* Writes 64 KiB blocks until an error; answers with the bytes written. */
static void
fill(const char *path)
{
	static char block[65536];
	long total = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd == -1) {
		result(-1);
		return;
	}
	signal(SIGXFSZ, SIG_IGN);
	for (;;) {
		ssize_t n = write(fd, block, sizeof(block));

		if (n <= 0)
			break;
		total += n;
	}
	printf("ok %ld %s\n", total, strerrorname_np(errno));
	fflush(stdout);
	close(fd);
}

static void
list(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL) {
		result(-1);
		return;
	}
	printf("ok");
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			printf(" %s", e->d_name);
	printf("\n");
	fflush(stdout);
	closedir(d);
}

/*
 * The classic way out of a chroot, where nothing but seccomp forbids it: a
 * user namespace of one's own (CAP_SYS_CHROOT in it), a chroot below the
 * cwd, and ".." until the top of the mount namespace. Lists what is there.
 */
static void
escape(void)
{
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) == -1 ||
	    (mkdir("/tmp/escape", 0700) == -1 && errno != EEXIST) ||
	    chroot("/tmp/escape") == -1) {
		result(-1);
		return;
	}
	for (int i = 0; i < 64; i++)
		if (chdir("..") == -1) {
			result(-1);
			return;
		}
	list(".");
}

static void
fds(void)
{
	long n = 0;

	while (open("/dev/null", O_RDONLY) != -1)
		n++;
	printf("ok %ld %s\n", n, strerrorname_np(errno));
	fflush(stdout);
}

static void
cat(const char *path)
{
	static char buf[65536];
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd == -1) {
		result(-1);
		return;
	}
	while (len < sizeof(buf) - 1 &&
	    (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\n')
			buf[i] = '|';
		else if (buf[i] < 0x20 || buf[i] > 0x7e)
			buf[i] = '?';
	buf[len] = '\0';
	printf("ok %s\n", buf);
	fflush(stdout);
}

static void
run(const char *path)
{
	int st, p[2];
	char buf[256];
	ssize_t n;
	pid_t pid;

	if (pipe(p) == -1 || (pid = fork()) == -1) {
		result(-1);
		return;
	}
	if (pid == 0) {
		dup2(p[1], 1);
		execl(path, path, (char *)NULL);
		printf("exec %s\n", strerrorname_np(errno));
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	waitpid(pid, &st, 0);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	printf("ok %s\n", buf);
	fflush(stdout);
}

/* The interface names of fd's network namespace, as SIOCGIFCONF lists them. */
static void
ifconf(int fd)
{
	struct ifreq ifr[32];
	struct ifconf ifc = { .ifc_len = sizeof(ifr), .ifc_req = ifr };

	if (ioctl(fd, SIOCGIFCONF, &ifc) == -1) {
		result(-1);
		return;
	}
	printf("ok");
	for (size_t i = 0; i < ifc.ifc_len / sizeof(ifr[0]); i++)
		printf(" %.*s", IFNAMSIZ, ifr[i].ifr_name);
	printf("\n");
	fflush(stdout);
}

static int
if_ioctl(int fd, unsigned long req, const char *name)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (req == SIOCETHTOOL)
		ifr.ifr_data = (void *)&info;
	else
		ifr.ifr_ifindex = 1;
	return ioctl(fd, req, &ifr);
}

/* fd 0 is the player's socket, in the host's network namespace: can it be
 * pointed somewhere else? The answer goes to stderr. */
static void
reconnect(const char *ip, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr un = { .sa_family = AF_UNSPEC };
	struct pollfd pfd = { .fd = 0, .events = POLLOUT };
	int err = 0, r;
	socklen_t len = sizeof(err);

	sin.sin_port = htons(port);
	inet_pton(AF_INET, ip, &sin.sin_addr);
	reply("reconnecting");
	if (connect(0, &un, sizeof(un)) == -1) {
		fprintf(stderr, "disconnect err %s\n", strerrorname_np(errno));
		return;
	}
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	r = connect(0, (struct sockaddr *)&sin, sizeof(sin));
	if (r == -1 && errno == EINPROGRESS) {
		r = poll(&pfd, 1, 1500);
		if (r == 0) {
			fprintf(stderr, "reconnect err timeout\n");
			return;
		}
		getsockopt(0, SOL_SOCKET, SO_ERROR, &err, &len);
		r = err != 0 ? -1 : 0;
		errno = err;
	}
	if (r == -1) {
		fprintf(stderr, "reconnect err %s\n", strerrorname_np(errno));
		return;
	}
	fprintf(stderr, "reconnect ok\n");
	if (write(0, "escaped\n", 8) != 8)
		fprintf(stderr, "write err %s\n", strerrorname_np(errno));
}

static int
watch(const char *path, int old)
{
	int fd = old ? inotify_init() : inotify_init1(IN_CLOEXEC);

	if (fd == -1)
		return -1;
	return inotify_add_watch(fd, path, IN_ALL_EVENTS);
}

static int
dnotify(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	if (fd == -1)
		return -1;
	return fcntl(fd, F_NOTIFY, DN_ACCESS | DN_MULTISHOT);
}

static int
try_socket(int direct, unsigned long long fam, int type, int proto)
{
	int fd = direct ? (int)syscall(SYS_socket, (unsigned long)fam, type,
	    proto) : socket((int)fam, type, proto);

	if (fd >= 0)
		close(fd);
	return fd < 0 ? -1 : 0;
}

static int
try_socketpair(int fam, int type)
{
	int sv[2];

	if (socketpair(fam, type, 0, sv) == -1)
		return -1;
	close(sv[0]);
	close(sv[1]);
	return 0;
}

/* Only an x86-64 process can make an x32 call: the filter kills it. */
static int
x32(void)
{
#ifdef __x86_64__
	return (int)syscall(0x40000000 | SYS_getpid);
#else
	errno = ENOSYS;
	return -1;
#endif
}

int
main(void)
{
	char line[512], a[256], b[64];
	unsigned long long u;
	long n, t, p, q;

	reply("ready");
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "id") == 0) {
			printf("ok %d %d %d\n", (int)getuid(), (int)geteuid(),
			    (int)getpid());
			fflush(stdout);
		} else if (strcmp(line, "procs") == 0)
			list("/proc");
		else if (sscanf(line, "kill %ld", &n) == 1)
			result(kill((pid_t)n, SIGKILL));
		else if (sscanf(line, "ptrace %ld", &n) == 1)
			result((int)ptrace(PTRACE_ATTACH, (pid_t)n, 0, 0));
		else if (sscanf(line, "connect %255s %ld", a, &n) == 2)
			result(try_connect(a, (int)n));
		else if (sscanf(line, "write %255s", a) == 1)
			result(try_write(a));
		else if (sscanf(line, "fill %255s", a) == 1)
			fill(a);
		else if (sscanf(line, "ls %255s", a) == 1)
			list(a);
		else if (strcmp(line, "fds") == 0)
			fds();
		else if (sscanf(line, "exec %255s", a) == 1)
			run(a);
		else if (strcmp(line, "sleep") == 0)
			pause();
		else if (sscanf(line, "socket %lli %li %li", &u, &t, &p) == 3)
			result(try_socket(0, u, (int)t, (int)p));
		else if (sscanf(line, "rawsocket %lli %li %li", &u, &t, &p) == 3)
			result(try_socket(1, u, (int)t, (int)p));
		else if (sscanf(line, "socketpair %li %li", &n, &t) == 2)
			result(try_socketpair((int)n, (int)t));
		else if (sscanf(line, "ifconf %ld", &n) == 1)
			ifconf((int)n);
		else if (sscanf(line, "ioctl %ld %li %63s", &n, &t, b) == 3)
			result(if_ioctl((int)n, (unsigned long)t, b));
		else if (sscanf(line, "ioctl %ld %li", &n, &t) == 2)
			result(if_ioctl((int)n, (unsigned long)t, "lo"));
		else if (sscanf(line, "setsockopt %ld %li %li %63s", &n, &p, &q,
		    b) == 4)
			result(setsockopt((int)n, (int)p, (int)q, b, strlen(b)));
		else if (sscanf(line, "reconnect %255s %ld", a, &n) == 2)
			reconnect(a, (int)n);
		else if (sscanf(line, "inotify0 %255s", a) == 1)
			result(watch(a, 1));
		else if (sscanf(line, "inotify %255s", a) == 1)
			result(watch(a, 0));
		else if (sscanf(line, "dnotify %255s", a) == 1)
			result(dnotify(a));
		else if (strcmp(line, "escape") == 0)
			escape();
		else if (strcmp(line, "unshare") == 0)
			result(unshare(CLONE_NEWUSER));
		else if (strcmp(line, "ldt") == 0) {
			char ldt[16];

			result((int)syscall(SYS_modify_ldt, 0, ldt, sizeof(ldt)));
		} else if (strcmp(line, "x32") == 0)
			result(x32());
		else if (sscanf(line, "cat %255s", a) == 1)
			cat(a);
		else if (sscanf(line, "alloc %ld", &n) == 1)
			alloc_mib(n);
		else if (sscanf(line, "forks %ld", &n) == 1)
			forks(n);
		else if (sscanf(line, "burn %ld", &n) == 1)
			burn(n);
		else if (sscanf(line, "exit %ld", &n) == 1)
			exit((int)n);
		else if (strcmp(line, "uname") == 0) {
			struct utsname u;

			uname(&u);
			printf("ok %s %s %s %s %s %s\n", u.sysname, u.nodename,
			    u.release, u.version, u.machine, u.domainname);
			fflush(stdout);
		}
		else
			reply("err unknown-command");
	}
	return 0;
}
