/*
 * notify.c: telling a service manager how the daemon is doing, by the
 * sd_notify(3) protocol: one AF_UNIX datagram of newline-separated
 * KEY=VALUE assignments to the socket named by $NOTIFY_SOCKET, a path or,
 * with a leading '@', an abstract name.
 *
 * The protocol is written out here rather than taken from libsystemd's
 * sd_notify(): it is a dozen lines, documented as a stable interface, and
 * the same for every manager that speaks it (systemd, and the supervisors
 * of containers that copy it). Linking libsystemd would put a large
 * library, with its own dependencies, into the root process that is the
 * jail's boundary, and make chald need it on hosts without systemd, for
 * one sendto(). A datagram is sent without waiting: a manager that does
 * not read loses a status line, never the event loop.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chald.h"

static int			 notify_fd = -1;
static struct sockaddr_un	 notify_sa;
static socklen_t		 notify_salen;

/*
 * $NOTIFY_SOCKET as an address: "/path" or "@abstract". No I/O. Returns
 * -1 for anything else (systemd 254's "vsock:" addresses among them).
 */
int
notify_addr(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n;

	if (name == NULL || (name[0] != '/' && name[0] != '@'))
		return -1;
	n = strlen(name);
	if (n < 2 || n >= sizeof(sa->sun_path))
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@') {
		/* An abstract name is its bytes exactly, no terminator. */
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    n + 1);
	return 0;
}

/*
 * Reads and forgets $NOTIFY_SOCKET, so that nothing chald starts inherits
 * it. Returns 1 when there is a manager to tell, 0 when not, -1 with err
 * when the variable is set but unusable.
 */
int
notify_init(char *err, size_t errlen)
{
	const char *name = getenv("NOTIFY_SOCKET");
	int ret = 0;

	if (name == NULL || *name == '\0')
		goto out;
	if (notify_addr(name, &notify_sa, &notify_salen) == -1) {
		snprintf(err, errlen, "NOTIFY_SOCKET=%s: not a socket path or "
		    "@name; not notifying", name);
		ret = -1;
		goto out;
	}
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (notify_fd == -1) {
		snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s",
		    strerror(errno));
		ret = -1;
		goto out;
	}
	ret = 1;
out:
	unsetenv("NOTIFY_SOCKET");
	return ret;
}

int
notify_enabled(void)
{
	return notify_fd >= 0;
}

/* One datagram; "a=1\nb=2". Failures are logged once a burst. */
static void
notify_send(const char *msg)
{
	static int warned;

	if (notify_fd < 0)
		return;
	if (sendto(notify_fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
	    (struct sockaddr *)&notify_sa, notify_salen) == -1) {
		if (!warned)
			log_warn("notify %s", notify_sa.sun_path[0] ?
			    notify_sa.sun_path : "@abstract");
		warned = 1;
		return;
	}
	warned = 0;
}

/* Listening: MAINPID too, since a detached daemon is not who was started. */
void
notify_ready(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%ld\nSTATUS=%s",
	    (long)getpid(), status);
	notify_send(msg);
}

/*
 * systemd 253's Type=notify-reload wants the time the reload began, from
 * CLOCK_MONOTONIC, to tell this reload's READY=1 from an older one.
 */
void
notify_reloading(void)
{
	struct timespec ts;
	char msg[128];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\n"
	    "STATUS=reloading", (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	notify_send(msg);
}

void
notify_stopping(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=%s", status);
	notify_send(msg);
}

void
notify_status(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "STATUS=%s", status);
	notify_send(msg);
}

/* The STATUS= text. No I/O. */
void
notify_status_text(char *buf, size_t len, const char *phase,
    size_t sessions, int ready)
{
	snprintf(buf, len, "%s: %zu session%s, %d jail%s ready", phase,
	    sessions, sessions == 1 ? "" : "s", ready, ready == 1 ? "" : "s");
}
