/* baseline.h: what the spawn baselines of the chald benchmark share:
 * the listening socket on 127.0.0.1 and the SIGCHLD reaper, so that the
 * baselines differ only in how they create the child. Header-only: each
 * baseline is one file plus this. */
#ifndef BASELINE_H
#define BASELINE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static inline void on_sigchld(int sig)
{
	int saved = errno;
	(void)sig;
	/* Bounded by the number of exited children. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static inline int listen_on(const char *portstr)
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

/* The SIGCHLD reaper, and no death by SIGPIPE. */
static inline void reaper_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigchld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * What every spawning baseline does first: check "PORT CHALLENGE", install
 * the reaper, listen. Returns the listener; exits 2 on bad usage.
 */
static inline int baseline_start(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PORT CHALLENGE\n", argv[0]);
		exit(2);
	}
	reaper_install();
	return listen_on(argv[1]);
}

/* accept4 that rides out transient errors; -1 only on a real failure. */
static inline int accept_next(int lfd)
{
	for (;;) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd >= 0)
			return cfd;
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE ||
		    errno == ENOBUFS || errno == ENOMEM) {
			usleep(10000);
			continue;
		}
		perror("accept");
		return -1;
	}
}

#endif
