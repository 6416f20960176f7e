/*
 * jailprobe.c: a hostile player's shell. Reads one command per line and
 * answers one line, "ok ..." or "err ERRNO", so tests can try what a player
 * who got code execution would try: other processes, the network, the file
 * system, fds, setuid programs.
 *   id | procs | kill PID | ptrace PID | connect IP PORT | write PATH |
 *   fill PATH | ls DIR | fds | exec PATH | sleep | cat PATH | uname
 * cat answers with the file's first 64 KiB on one line: "|" for each
 * newline, "?" for each other byte that is not printable ASCII.
 */
#define _GNU_SOURCE
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int
main(void)
{
	char line[512], a[256];
	long n;

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
		else if (sscanf(line, "cat %255s", a) == 1)
			cat(a);
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
