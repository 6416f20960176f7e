/*
 * test_notify.c: $NOTIFY_SOCKET as an address (paths and abstract names,
 * the lengths the kernel must be given), and the STATUS= text.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <stddef.h>
#include <stdlib.h>

#include "chald.h"
#include "t.h"

static void
test_addr(void)
{
	struct sockaddr_un sa;
	socklen_t len;
	const size_t base = offsetof(struct sockaddr_un, sun_path);
	char longname[200];

	CHECK(notify_addr("/run/systemd/notify", &sa, &len) == 0);
	CHECK(sa.sun_family == AF_UNIX);
	CHECK_STR(sa.sun_path, "/run/systemd/notify");
	CHECK(len == base + strlen("/run/systemd/notify") + 1);

	/* "@name": a leading NUL, and exactly the name's bytes. */
	CHECK(notify_addr("@chald-test", &sa, &len) == 0);
	CHECK(sa.sun_path[0] == '\0');
	CHECK(memcmp(sa.sun_path + 1, "chald-test", 10) == 0);
	CHECK(len == base + 11);

	CHECK(notify_addr(NULL, &sa, &len) == -1);
	CHECK(notify_addr("", &sa, &len) == -1);
	CHECK(notify_addr("@", &sa, &len) == -1);
	CHECK(notify_addr("/", &sa, &len) == -1);
	CHECK(notify_addr("relative/path", &sa, &len) == -1);
	CHECK(notify_addr("vsock:2:1234", &sa, &len) == -1);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	CHECK(notify_addr(longname, &sa, &len) == -1);
	/* the longest that fits, with its terminator */
	longname[sizeof(sa.sun_path) - 1] = '\0';
	CHECK(notify_addr(longname, &sa, &len) == 0);
	CHECK(len == base + sizeof(sa.sun_path));
}

static void
test_status(void)
{
	char buf[128];

	notify_status_text(buf, sizeof(buf), "serving", 0, 2);
	CHECK_STR(buf, "serving: 0 sessions, 2 jails ready");
	notify_status_text(buf, sizeof(buf), "draining", 1, 1);
	CHECK_STR(buf, "draining: 1 session, 1 jail ready");
	notify_status_text(buf, 8, "serving", 12345, 0);
	CHECK_STR(buf, "serving");
}

int
main(void)
{
	test_addr();
	test_status();
	T_DONE();
}
