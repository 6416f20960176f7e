/*
 * audit.c: the seccomp filter's kills, as the kernel's audit reports them.
 * A process killed by its filter dies of SIGSYS; its parent (the jail's
 * init) learns the signal and nothing more, and the daemon learns what
 * init exits with. The kernel, though, writes an AUDIT_SECCOMP record for
 * every kill (uid, ABI, system call number), whether or not auditd runs,
 * and sends it to the audit netlink socket's read-only multicast group.
 * The daemon listens there, keeps the last kills in a small ring, and a
 * session's end takes the one of its uid (uids are unique among live
 * sessions) that is not older than its jail.
 *
 * The group needs CAP_AUDIT_READ, and the kernel sends to it only in the
 * initial network namespace; with audit=0 on the kernel's command line, or
 * kernel.seccomp.actions_logged without kill_process, there are no records.
 * Then a kill is still logged (cause=seccomp), without the call's name.
 *
 * A record also carries the killed process's comm and exe, which the
 * player chooses: only the numeric fields are read (audit_parse, pure and
 * unit-tested).
 */
#include <sys/socket.h>

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chald.h"

/* The longest record: an exe path of PATH_MAX, hex-encoded, and the rest. */
#define AUDIT_MAXREC	(2 * PATH_MAX + 1024)

int64_t
audit_now_ms(void)
{
	struct timespec ts;

	/* The clock audit stamps its records with. */
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An unsigned number at *pp, before end, in base 10 or 16; *pp is moved
 * past it. -1 when there is no digit or it overflows. */
static int
number(const char **pp, const char *end, int base, unsigned long long *out)
{
	const char *p = *pp;
	unsigned long long v = 0;

	for (; p < end; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else
			break;
		if (v > (~0ULL - d) / (unsigned)base)
			return -1;
		v = v * (unsigned)base + d;
	}
	if (p == *pp)
		return -1;
	*pp = p;
	*out = v;
	return 0;
}

/* The number after key in [p, end). key starts with a blank, so that
 * " uid=" is not the end of " auid="; the values the player controls
 * (comm, exe) are quoted or hex-encoded by the kernel and hold no blank,
 * so they cannot fake a field. */
static int
field(const char *p, const char *end, const char *key, int base,
    unsigned long long *out)
{
	size_t klen = strlen(key);

	for (; p + klen <= end; p++)
		if (memcmp(p, key, klen) == 0)
			break;
	if (p + klen > end)
		return -1;
	p += klen;
	if (number(&p, end, base, out) == -1 || (p < end && *p != ' '))
		return -1;
	return 0;
}

/*
 * Reads one AUDIT_SECCOMP record's text (not NUL-terminated), as
 *   audit(1796117478.985:2): auid=N uid=N gid=N ses=N [subj=S] pid=N
 *   comm="C" exe="E" sig=31 arch=c000003e syscall=N compat=0 ip=0x...
 * Returns 0 for a kill (sig not 0) with its fields in *k, -1 otherwise.
 */
int
audit_parse(const char *rec, size_t len, struct audit_kill *k)
{
	const char *end = rec + len, *p = rec + 6;
	unsigned long long sec, ms, serial, uid, sig, arch, nr;

	memset(k, 0, sizeof(*k));
	if (len < 6 || memcmp(rec, "audit(", 6) != 0)
		return -1;
	if (number(&p, end, 10, &sec) == -1 || p >= end || *p++ != '.' ||
	    number(&p, end, 10, &ms) == -1 || p >= end || *p++ != ':' ||
	    number(&p, end, 10, &serial) == -1 || end - p < 2 ||
	    memcmp(p, "):", 2) != 0)
		return -1;
	if (field(p, end, " uid=", 10, &uid) == -1 ||
	    field(p, end, " sig=", 10, &sig) == -1 ||
	    field(p, end, " arch=", 16, &arch) == -1 ||
	    field(p, end, " syscall=", 10, &nr) == -1)
		return -1;
	if (sig == 0 || ms > 999 || uid > UINT32_MAX || arch > UINT32_MAX ||
	    nr > INT32_MAX || sec > INT64_MAX / 1000 - 1)
		return -1;
	k->uid = (uid_t)uid;
	k->arch = (uint32_t)arch;
	k->nr = (long)nr;
	k->ms = (int64_t)sec * 1000 + (int64_t)ms;
	return 0;
}

/* Only AUDIT_SECCOMP messages reach the socket's queue. */
static int
audit_filter(int fd)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS,
		    offsetof(struct nlmsghdr, nlmsg_type)),
		/* BPF loads in network order, the type is in host order */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    (uint16_t)((AUDIT_SECCOMP >> 8) | (AUDIT_SECCOMP << 8)),
		    0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { sizeof(code) / sizeof(code[0]), code };

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	code[1].k = AUDIT_SECCOMP;
#endif
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
	    sizeof(prog));
}

/* Opens the audit socket; -1 with the reason in err when there is none. */
int
audit_open(struct audit *a, char *err, size_t errlen)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK,
	    .nl_groups = 1 << (AUDIT_NLGRP_READLOG - 1) };
	int fd;

	a->on = 0;
	a->fd = -1;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    NETLINK_AUDIT);
	if (fd == -1) {
		snprintf(err, errlen, "audit socket: %s", strerror(errno));
		return -1;
	}
	if (audit_filter(fd) == -1 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		snprintf(err, errlen, "audit multicast: %s", strerror(errno));
		close(fd);
		return -1;
	}
	a->fd = fd;
	a->on = 1;
	return 0;
}

static void
audit_keep(struct audit *a, const struct audit_kill *k)
{
	a->ring[a->next % AUDIT_RING] = *k;
	a->next++;
}

/* Reads every record waiting, keeping the kills. Never blocks. */
void
audit_drain(struct audit *a)
{
	static char buf[NLMSG_SPACE(AUDIT_MAXREC)];

	if (!a->on)
		return;
	for (int i = 0; i < 4096; i++) {
		ssize_t n = recv(a->fd, buf, sizeof(buf), MSG_DONTWAIT);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		size_t left;

		if (n == -1 && errno == ENOBUFS)
			continue;	/* some were lost; read the rest */
		if (n <= 0)
			return;
		for (left = (size_t)n; NLMSG_OK(h, left);
		    h = NLMSG_NEXT(h, left)) {
			struct audit_kill k;

			if (h->nlmsg_type == AUDIT_SECCOMP &&
			    audit_parse(NLMSG_DATA(h), NLMSG_PAYLOAD(h, 0),
			    &k) == 0)
				audit_keep(a, &k);
		}
	}
}

/*
 * The latest kill of uid since since_ms, into *k; every kill of uid is
 * then forgotten, since the uid goes to another session next. Returns 0,
 * or -1 when there is none.
 */
int
audit_take(struct audit *a, uid_t uid, int64_t since_ms,
    struct audit_kill *k)
{
	int found = -1;

	audit_drain(a);
	for (unsigned i = 0; i < AUDIT_RING && i < a->next; i++) {
		struct audit_kill *r = &a->ring[(a->next - 1 - i) % AUDIT_RING];

		if (r->uid != uid || r->ms == 0)
			continue;
		if (found == -1 && r->ms >= since_ms) {
			*k = *r;
			found = 0;
		}
		r->ms = 0;
	}
	return found;
}
