/*
 * daemon.c: leaving the terminal and the pidfile. The launching process
 * waits on a pipe until the daemon says it is listening or why it could not
 * start, so "chald ...; echo $?" tells the truth. The pidfile is locked for
 * the daemon's whole life, so a second instance is refused rather than
 * overwriting it, and removed by whatever exit comes, so a start that
 * failed (a port taken, say) leaves no empty or stale pidfile behind.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

/* The pidfile this process holds, for the exit handler. */
static char	*held_path;
static int	 held_fd = -1;

/*
 * Any exit(): a failed start (errx, fatal) or a fatal error later. The
 * launcher of a detached daemon leaves with _exit() and runs no handler,
 * so only the process that holds the lock removes the file.
 */
static void
pidfile_atexit(void)
{
	if (held_path != NULL)
		pidfile_remove(held_path, held_fd);
}

int
pidfile_open(const char *path, char *err, size_t errlen)
{
	static int registered;
	char buf[32];
	ssize_t n;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd == -1) {
		snprintf(err, errlen, "pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;

		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			snprintf(err, errlen, "pidfile %s: locked by a running "
			    "chald (pid %s)", path, *buf ? buf : "unknown");
		else
			snprintf(err, errlen, "pidfile %s: %s", path,
			    strerror(e));
		close(fd);
		return -1;
	}
	if ((held_path = strdup(path)) == NULL) {
		snprintf(err, errlen, "pidfile %s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	held_fd = fd;
	if (!registered && atexit(pidfile_atexit) == 0)
		registered = 1;
	return fd;
}

int
pidfile_write(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) == -1)
		return -1;
	if (pwrite(fd, buf, (size_t)n, 0) != n)
		return -1;
	return 0;
}

void
pidfile_remove(const char *path, int fd)
{
	if (fd < 0)
		return;
	unlink(path);
	close(fd);
	if (fd == held_fd) {
		free(held_path);
		held_path = NULL;
		held_fd = -1;
	}
}

/*
 * Forks; the parent stays in this function until the child reports through
 * daemon_ready(), then exits with the outcome. Returns the report fd in the
 * child, which is now a session leader with no terminal, in "/", with fds
 * 0-2 on /dev/null (never closed, so no later socket lands on fd 1).
 */
int
daemon_detach(void)
{
	int p[2], nullfd;
	pid_t pid;
	char buf[CHALD_ERRLEN];
	ssize_t n, got = 0;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid > 0) {
		close(p[1]);
		while (got < (ssize_t)sizeof(buf) - 1) {
			n = read(p[0], buf + got, sizeof(buf) - 1 - got);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += n;
		}
		buf[got] = '\0';
		if (got >= 2 && strncmp(buf, "ok", 2) == 0)
			_exit(0);
		if (got == 0)
			fprintf(stderr, "chald: the daemon exited during "
			    "startup (see the log)\n");
		else
			fprintf(stderr, "chald: %s\n", buf);
		_exit(1);
	}
	close(p[0]);
	if (setsid() == -1)
		return -1;
	if (chdir("/") == -1)
		return -1;
	nullfd = open("/dev/null", O_RDWR | O_NOCTTY);
	if (nullfd == -1)
		return -1;
	for (int fd = 0; fd <= 2; fd++)
		if (fd != nullfd && dup2(nullfd, fd) == -1)
			return -1;
	if (nullfd > 2)
		close(nullfd);
	return p[1];
}

/* Tells the waiting launcher the outcome; errmsg NULL means listening. */
void
daemon_ready(int fd, const char *errmsg)
{
	const char *msg = errmsg ? errmsg : "ok";

	if (fd < 0)
		return;
	/* A failed start: the file goes before the launcher says so, so that
	 * whoever acts on its exit status finds no pidfile left. */
	if (errmsg != NULL)
		pidfile_atexit();
	if (write(fd, msg, strlen(msg)) == -1) {
		/* the launcher is gone; nothing to tell */
	}
	close(fd);
}
