/*
 * child.c: what every challenge gets before exec, jailed or not: default
 * signal handling, the socket on fds 0 and 1, no other fd, the UCSPI
 * environment tcpserver would give it. Linked into the daemon (spawn.c)
 * and into the jail's init (jail.c), so both paths hand a challenge the
 * same process state.
 */
#include <sys/socket.h>
#include <sys/syscall.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

/* The signals whose disposition the daemon changes; the child resets them. */
static const int handled_signals[] = {
	SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2,
};

int
child_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof(handled_signals) /
	    sizeof(handled_signals[0]); i++)
		if (sigaction(handled_signals[i], &sa, NULL) == -1)
			return -1;
	return 0;
}

/*
 * The socket on 0, 1 (and 2 per the service), nothing else open but keepfd,
 * which becomes fd 3 (close-on-exec) when it is not -1.
 */
int
child_fds(const struct spawn_req *r, int keepfd)
{
	int errfd = -1, null = -1;

	if (r->svc->stderr_mode == STDERR_SOCKET)
		errfd = r->sock;
	else if (r->svc->stderr_mode == STDERR_LOG)
		errfd = r->errfd;	/* a pipe the daemon reads, never the
					   log itself */
	if (errfd == -1) {
		null = open("/dev/null", O_WRONLY | O_NOCTTY);
		if (null == -1)
			return -1;
		errfd = null;
	}
	if (dup2(r->sock, 0) == -1 || dup2(r->sock, 1) == -1 ||
	    dup2(errfd, 2) == -1)
		return -1;
	if (keepfd != -1) {
		if (keepfd != 3 && dup3(keepfd, 3, O_CLOEXEC) == -1)
			return -1;
		if (keepfd == 3 && fcntl(3, F_SETFD, FD_CLOEXEC) == -1)
			return -1;
	}
	/* Everything else the daemon holds is close-on-exec; be sure. */
	if (syscall(SYS_close_range, keepfd != -1 ? 4U : 3U, ~0U, 0U) == -1) {
		for (int fd = keepfd != -1 ? 4 : 3; fd < 1024; fd++)
			close(fd);
	}
	return 0;
}

static void
env_add(char **envp, int *n, char **buf, size_t *left, const char *key,
    const char *val)
{
	int len = snprintf(*buf, *left, "%s=%s", key, val);

	if (len < 0 || (size_t)len >= *left)
		return;
	envp[(*n)++] = *buf;
	*buf += len + 1;
	*left -= (size_t)len + 1;
}

/*
 * PROTO, TCPREMOTEIP... as tcpserver sets them, then the service's own.
 * Asks r->sock, before child_fds(): with stdio = pty, fd 0 is no socket.
 */
int
child_env(const struct spawn_req *r, char **envp, char *buf,
    size_t left)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[64], port[16];
	int n = 0, lport, have_path = 0;

	env_add(envp, &n, &buf, &left, "PROTO", "TCP");
	env_add(envp, &n, &buf, &left, "TCPREMOTEIP", r->peer_ip);
	snprintf(port, sizeof(port), "%d", r->peer_port);
	env_add(envp, &n, &buf, &left, "TCPREMOTEPORT", port);
	if (getsockname(r->sock, (struct sockaddr *)&ss, &sl) == -1)
		return -1;
	addr_format((struct sockaddr *)&ss, ip, sizeof(ip), &lport);
	snprintf(port, sizeof(port), "%d", lport);
	env_add(envp, &n, &buf, &left, "TCPLOCALIP", ip);
	env_add(envp, &n, &buf, &left, "TCPLOCALPORT", port);
	for (int i = 0; i < r->svc->nenv; i++) {
		if (strncmp(r->svc->env[i], "PATH=", 5) == 0)
			have_path = 1;
		envp[n++] = r->svc->env[i];
	}
	if (!have_path)
		env_add(envp, &n, &buf, &left, "PATH",
		    "/usr/local/bin:/usr/bin:/bin");
	envp[n] = NULL;
	return 0;
}

/* IPv4-mapped IPv6 addresses are shown as plain IPv4. */
void
addr_format(const struct sockaddr *sa, char *ip, size_t iplen, int *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		if (ip != NULL)
			inet_ntop(AF_INET, &sin->sin_addr, ip, iplen);
		if (port != NULL)
			*port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		if (ip != NULL) {
			if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
				inet_ntop(AF_INET,
				    &sin6->sin6_addr.s6_addr[12], ip, iplen);
			else
				inet_ntop(AF_INET6, &sin6->sin6_addr, ip,
				    iplen);
		}
		if (port != NULL)
			*port = ntohs(sin6->sin6_port);
	} else {
		if (ip != NULL)
			snprintf(ip, iplen, "unknown");
		if (port != NULL)
			*port = 0;
	}
}
