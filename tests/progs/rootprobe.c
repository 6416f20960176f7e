/*
 * rootprobe.c: a player who got euid 0 in a jail with setuid = on. The tests
 * put it in the jail's root twice: as a plain program (the challenge) and
 * set-user-ID root, and "exec" goes from one to the other. Reads one
 * command per line and answers one line, "ok ..." or "err ERRNO-NAME":
 *   creds                  uids, capability sets, no_new_privs, securebits
 *   exec PATH              becomes PATH (which prints "ready ...")
 *   setroot                setresuid(0, 0, 0)
 *   sysctl PATH            writes the sysctl's own value back to it
 *   openw PATH             opens PATH for writing, writes nothing
 *   create PATH            creates PATH and writes a byte into it
 *   chmod PATH             chmod to the mode it has already
 *   kill PID SIG | ptrace PID | mount DIR | umount DIR | chroot DIR
 *   cat PATH               the file's first 4 KiB on one line
 *   procs                  the pids /proc shows
 *   fork N                 N children that sleep; answers how many it got
 *   linger                 a double-forked, setsid'd process that ignores
 *                          signals and sleeps, named "lingerer"
 *   keys DESC              host root's user keyring: keyctl and /proc/keys
 *   skey DESC              searches the session keyring for a user key
 *   scan NAME              NAME under /proc/PID/root/tmp for every PID seen
 *   killall                kill(-1, SIGKILL): everything it may signal
 */
#define _GNU_SOURCE
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEYCTL_GET_KEYRING_ID	0
#define KEYCTL_SEARCH		10
#define KEY_SPEC_SESSION_KEYRING (-3)
#define KEY_SPEC_USER_KEYRING	(-4)

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
		reply("ok");
}

/* "CapEff=0000000000000000 ..." from /proc/self/status. */
static void
creds(void)
{
	char line[256], out[1024] = "";
	uid_t r, e, s;
	FILE *f = fopen("/proc/self/status", "r");

	getresuid(&r, &e, &s);
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char key[64], val[64];

		if (sscanf(line, "%63[^:]:%63s", key, val) != 2)
			continue;
		if (strncmp(key, "Cap", 3) == 0 || strcmp(key, "NoNewPrivs") ==
		    0 || strcmp(key, "Seccomp") == 0)
			snprintf(out + strlen(out), sizeof(out) - strlen(out),
			    " %s=%s", key, val);
	}
	if (f != NULL)
		fclose(f);
	reply("ok ruid=%u euid=%u suid=%u secbits=0x%x%s", (unsigned)r,
	    (unsigned)e, (unsigned)s, (unsigned)prctl(PR_GET_SECUREBITS),
	    out);
}

static int
sysctl_same(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd == -1)
		return -1;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		return -1;
	fd = open(path, O_WRONLY);
	if (fd == -1)
		return -1;
	n = write(fd, buf, (size_t)n);
	close(fd);
	return n < 0 ? -1 : 0;
}

static int
openw(const char *path)
{
	int fd = open(path, O_WRONLY);

	if (fd == -1)
		return -1;
	close(fd);
	return 0;
}

static int
create(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd == -1)
		return -1;
	if (write(fd, "x", 1) != 1) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int
chmod_same(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	return chmod(path, st.st_mode & 07777);
}

static void
cat(const char *path)
{
	char buf[4096], out[4096 + 4];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd == -1) {
		result(-1);
		return;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		result(-1);
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		out[i] = buf[i] == '\n' ? '|' : isprint((unsigned char)buf[i]) ?
		    buf[i] : '?';
	out[n] = '\0';
	reply("ok %s", out);
}

static void
procs(void)
{
	char out[4096] = "";
	struct dirent *e;
	DIR *d = opendir("/proc");

	while (d != NULL && (e = readdir(d)) != NULL)
		if (isdigit((unsigned char)e->d_name[0]) &&
		    strlen(out) + strlen(e->d_name) + 2 < sizeof(out))
			snprintf(out + strlen(out), sizeof(out) - strlen(out),
			    " %s", e->d_name);
	if (d != NULL)
		closedir(d);
	reply("ok%s", out);
}

static void
forks(int n)
{
	int got = 0;

	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			for (;;)
				pause();
		}
		if (pid > 0)
			got++;
	}
	reply("ok %d", got);
}

static void
linger(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		prctl(PR_SET_NAME, "lingerer", 0, 0, 0);
		for (int sig = 1; sig < 32; sig++)
			signal(sig, SIG_IGN);
		for (;;)
			sleep(1);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	result(pid == -1 ? -1 : 0);
}

static void
keys(const char *desc)
{
	char line[512], prockeys[64] = "absent";
	const char *e1, *e2;
	FILE *f;

	e1 = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING,
	    0) == -1 ? strerrorname_np(errno) : "ok";
	e2 = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user",
	    desc, 0) == -1 ? strerrorname_np(errno) : "ok";
	f = fopen("/proc/keys", "r");
	if (f == NULL)
		snprintf(prockeys, sizeof(prockeys), "%s",
		    strerrorname_np(errno));
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, desc) != NULL)
			snprintf(prockeys, sizeof(prockeys), "found");
	if (f != NULL)
		fclose(f);
	reply("ok getid=%s search=%s prockeys=%s", e1, e2, prockeys);
}

static void
scan(const char *name)
{
	char path[512], out[2048] = "";
	struct dirent *e;
	DIR *d = opendir("/proc");

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/root/tmp/%s", e->d_name,
		    name);
		if (access(path, F_OK) == 0 && strlen(out) < sizeof(out) - 64)
			snprintf(out + strlen(out), sizeof(out) - strlen(out),
			    " %s", e->d_name);
	}
	if (d != NULL)
		closedir(d);
	reply("ok found:%s", out);
}

static void
command(char *line)
{
	char *cmd = strtok(line, " \n"), *a = strtok(NULL, " \n");
	char *b = strtok(NULL, " \n");

	if (cmd == NULL)
		reply("err empty");
	else if (strcmp(cmd, "creds") == 0)
		creds();
	else if (strcmp(cmd, "exec") == 0 && a != NULL) {
		char *argv[] = { a, NULL };

		execv(a, argv);
		result(-1);
	} else if (strcmp(cmd, "setroot") == 0)
		result(setresuid(0, 0, 0));
	else if (strcmp(cmd, "sysctl") == 0 && a != NULL)
		result(sysctl_same(a));
	else if (strcmp(cmd, "openw") == 0 && a != NULL)
		result(openw(a));
	else if (strcmp(cmd, "create") == 0 && a != NULL)
		result(create(a));
	else if (strcmp(cmd, "chmod") == 0 && a != NULL)
		result(chmod_same(a));
	else if (strcmp(cmd, "kill") == 0 && a != NULL && b != NULL)
		result(kill(atoi(a), atoi(b)));
	else if (strcmp(cmd, "ptrace") == 0 && a != NULL) {
		long r = ptrace(PTRACE_ATTACH, atoi(a), NULL, NULL);

		result(r == -1 ? -1 : 0);
		if (r != -1)
			ptrace(PTRACE_DETACH, atoi(a), NULL, NULL);
	} else if (strcmp(cmd, "mount") == 0 && a != NULL)
		result(mount("none", a, "tmpfs", 0, "size=64k"));
	else if (strcmp(cmd, "umount") == 0 && a != NULL)
		result(umount2(a, MNT_DETACH));
	else if (strcmp(cmd, "chroot") == 0 && a != NULL)
		result(chroot(a));
	else if (strcmp(cmd, "cat") == 0 && a != NULL)
		cat(a);
	else if (strcmp(cmd, "procs") == 0)
		procs();
	else if (strcmp(cmd, "fork") == 0 && a != NULL)
		forks(atoi(a));
	else if (strcmp(cmd, "linger") == 0)
		linger();
	else if (strcmp(cmd, "keys") == 0 && a != NULL)
		keys(a);
	else if (strcmp(cmd, "skey") == 0 && a != NULL)
		result(syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING,
		    "user", a, 0) == -1 ? -1 : 0);
	else if (strcmp(cmd, "scan") == 0 && a != NULL)
		scan(a);
	else if (strcmp(cmd, "killall") == 0)
		result(kill(-1, SIGKILL));
	else
		reply("err unknown");
}

int
main(void)
{
	char line[1024];

	signal(SIGCHLD, SIG_IGN);	/* fork's children reap themselves */
	/* Nothing read ahead, which an exec would lose. */
	setvbuf(stdin, NULL, _IONBF, 0);
	reply("ready euid=%u", (unsigned)geteuid());
	while (fgets(line, sizeof(line), stdin) != NULL)
		command(line);
	return 0;
}
