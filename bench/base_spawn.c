/* base_spawn: baseline server for the chald benchmark.
 * Usage: base_spawn PORT CHALLENGE
 * Same as base_fork, but each child is started with posix_spawn(): file
 * actions dup2 the socket onto stdin/stdout (the accepted fd itself is
 * close-on-exec), attributes reset the signal mask and SIGPIPE/SIGCHLD.
 * glibc implements this with clone(CLONE_VM|CLONE_VFORK). Children are reaped from
 * a SIGCHLD handler (waitpid(-1, WNOHANG) loop), so no zombies pile up.
 * Runs until killed (SIGTERM/SIGINT). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void on_sigchld(int sig)
{
	int saved = errno;
	(void)sig;
	/* Bounded by the number of exited children. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static int listen_on(const char *portstr)
{
	char *end;
	long port = strtol(portstr, &end, 10);
	if (*portstr == '\0' || *end != '\0' || port < 0 || port > 65535) {
		fprintf(stderr, "bad port: %s\n", portstr);
		exit(2);
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket");
		exit(1);
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("bind");
		exit(1);
	}
	if (listen(fd, SOMAXCONN) < 0) {
		perror("listen");
		exit(1);
	}
	socklen_t sl = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	fprintf(stderr, "listening port=%u\n", ntohs(sa.sin_port));
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PORT CHALLENGE\n", argv[0]);
		return 2;
	}
	char *chal = argv[2];
	char *cargv[] = { chal, NULL };

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigchld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int lfd = listen_on(argv[1]);

	posix_spawnattr_t attr;
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGCHLD);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF);

	for (;;) { /* runs until a signal ends the process */
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				usleep(10000);
				continue;
			}
			perror("accept");
			return 1;
		}
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, cfd, 0);
		posix_spawn_file_actions_adddup2(&fa, cfd, 1);
		pid_t pid;
		int err = posix_spawn(&pid, chal, &fa, &attr, cargv, environ);
		posix_spawn_file_actions_destroy(&fa);
		if (err != 0)
			fprintf(stderr, "posix_spawn: %s\n", strerror(err));
		close(cfd);
	}
}
