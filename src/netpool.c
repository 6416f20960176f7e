/*
 * netpool.c: the network namespaces of jails, made ahead and recycled.
 *
 * A fresh namespace per session costs the kernel setup_net (sysctl tables,
 * the loopback device and its addresses) in the daemon's clone3, then
 * cleanup_net in a kernel worker, which also walks the host's TIME_WAIT
 * sockets: about a fifth of all CPU time of a jailed session. So the daemon
 * keeps namespaces, each made once with lo already up, by an fd on its
 * nsfs file, and hands one to a new jail (the clone setns()es into it
 * before it execs chald-init; sandbox.c).
 *
 * The rule (bench/README.md gives the whole argument): a namespace is never
 * in two live sessions, and one goes back to the pool only when nothing of
 * its last session can be left in it. A capability-less session can change
 * a namespace only by its sockets and by the packets they send; routes,
 * addresses, links and sysctls need CAP_NET_ADMIN over the initial user
 * namespace, which no jail has. So after the session, and a cooling time
 * that lets the kernel's own timers of the session (multicast reports)
 * fire, a namespace is taken back only if, read from inside it:
 *   - /proc/net/sockstat says no socket and no TIME_WAIT socket is left,
 *     and no fragment queue;
 *   - every per-namespace counter and table (snmp, snmp6, netstat, dev,
 *     sockstat6, igmp, igmp6, mcfilter, mcfilter6, ip6_flowlabel) is byte
 *     for byte what it was in a fresh namespace: no packet went through it,
 *     so nothing that traffic leaves (tcp_metrics, neighbours, route
 *     exceptions, fragments) can be there.
 * Anything else drops it: the fd is closed and the kernel frees it.
 * Sessions of a service with bind-rw never give theirs back (a directory
 * shared with other live sessions could carry one of its files out).
 *
 * The reads are made by the loop's thread itself, which setns()es into
 * the namespace and back (probe_run). No I/O of the pool happens on a
 * player's behalf beyond the one check of a namespace that has cooled; a
 * jail that finds none ready gets a fresh one the old way (CLONE_NEWNET).
 *
 * A /proc/net file is bound to the namespace it was opened in, and a read
 * from its start shows that namespace as it is now. So the files of up to
 * NETPOOL_KEPT namespaces (and never more than an eighth of RLIMIT_NOFILE's
 * fds) are opened once, at the namespace's first check, and kept with it
 * until it is dropped or gives them up: its later checks are preads from
 * the daemon's own
 * namespace, without the setns()es and the eleven lookups, which cost more
 * than the reads (bench/README.md). Others are checked as above. The files
 * go to namespaces that circulate: one made for a session is not given
 * them before that session ends, and when the budget is spent, the one
 * that a session has held longest, for NETPOOL_HELD_MS at least, gives
 * them up to the namespace being checked (it is checked the long way when
 * its own session ends).
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"


/* What is read from inside a namespace, in its /proc/net; sockstat first
 * (parsed, since it has host-wide fields too), then files compared byte
 * for byte. */
static const char *const snap_files[NETSNAP_FILES] = {
	"sockstat",
	"sockstat6",
	"snmp",
	"snmp6",
	"netstat",
	"dev",
	"igmp",
	"igmp6",
	"mcfilter",
	"mcfilter6",
	"ip6_flowlabel",
};

#define SNAP_MAX	(128 * 1024)

/* What one look into a namespace read. */
struct probe {
	int		 make;		/* 1: new namespace, lo up; 0: setns */
	int		 nsfd;
	int		*keep;		/* NULL, or where its files stay open */
	char		*buf;
	size_t		 len[NETSNAP_FILES];
};

static char	snapbuf[SNAP_MAX];

/* The daemon's own namespace, to come back to, and its thread's
 * /proc/thread-self/net, whose lookups follow the namespace the thread is
 * in at that moment; opened once, when the sandbox is set up. */
static int	home = -1, procnet = -1;

/* 0, or -1 with errno. */
int
netpool_init(void)
{
	if (home >= 0)
		return 0;
	home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home == -1)
		return -1;
	procnet = open("/proc/thread-self/net", O_PATH | O_DIRECTORY |
	    O_CLOEXEC);
	if (procnet == -1) {
		close(home);
		home = -1;
		return -1;
	}
	return 0;
}

/* File i of a namespace, read from its start into the probe's buffer at
 * *off. -1 (EFBIG) if the buffer is full. */
static int
probe_file(struct probe *p, int i, int fd, size_t *off)
{
	off_t at = 0;
	ssize_t n;

	p->len[i] = 0;
	while (*off < SNAP_MAX &&
	    (n = pread(fd, p->buf + *off, SNAP_MAX - *off, at)) > 0) {
		*off += (size_t)n;
		at += n;
		p->len[i] += (size_t)n;
	}
	if (*off == SNAP_MAX) {
		errno = EFBIG;
		return -1;
	}
	return 0;
}

/* The files, read from inside the namespace the thread is in; kept open
 * in p->keep if it is set (-1 for one the kernel does not have). */
static int
probe_read(struct probe *p)
{
	size_t off = 0;

	for (int i = 0; i < NETSNAP_FILES; i++) {
		int fd = openat(procnet, snap_files[i], O_RDONLY | O_CLOEXEC);

		p->len[i] = 0;
		if (fd == -1) {
			if (errno == ENOENT)
				continue;	/* no IPv6, say: nothing there */
			return -1;
		}
		if (probe_file(p, i, fd, &off) == -1) {
			close(fd);
			return -1;
		}
		if (p->keep != NULL)
			p->keep[i] = fd;
		else
			close(fd);
	}
	return 0;
}

/* The kept files of the namespace of fd, or NULL. */
static struct netkept *
kept_find(struct netpool *np, int fd)
{
	for (int i = 0; np->kept != NULL && i < np->kept_max; i++)
		if (np->kept[i].nsfd == fd)
			return &np->kept[i];
	return NULL;
}

static void	kept_free(struct netpool *, struct netkept *);

/*
 * The slot of the namespace that a session has held longest, if that is
 * NETPOOL_HELD_MS or more, or NULL. A long session's namespace is checked
 * once, the long way, when it ends; the slot is worth more to the
 * namespaces that circulate meanwhile. (A jail of the pool takes its
 * namespace when it is built, so after a quiet spell the pool's jails
 * count as held too: each costs one check the long way at most.)
 */
static struct netkept *
kept_victim(struct netpool *np, int64_t now)
{
	struct netkept *v = NULL;

	for (int i = 0; i < np->kept_max; i++) {
		struct netkept *k = &np->kept[i];

		if (k->nsfd >= 0 && k->taken_ms > 0 &&
		    now - k->taken_ms >= NETPOOL_HELD_MS &&
		    (v == NULL || k->taken_ms < v->taken_ms))
			v = k;
	}
	return v;
}

/* A free slot for the files of one more namespace, or NULL: the budget is
 * spent and no session has held a namespace for NETPOOL_HELD_MS (or there
 * was never a budget). Its nsfd is -2 until the caller sets it. A slot
 * given up for a check that then fails is lost to both: the one given up
 * would have been checked the long way anyway. */
static struct netkept *
kept_slot(struct netpool *np)
{
	struct rlimit rl;
	struct netkept *v;

	if (np->kept == NULL) {
		int max = getrlimit(RLIMIT_NOFILE, &rl) == -1 ? 0 :
		    rl.rlim_cur / 8 / NETSNAP_FILES > NETPOOL_KEPT ?
		    NETPOOL_KEPT : (int)(rl.rlim_cur / 8 / NETSNAP_FILES);

		if (max == 0 || (np->kept = calloc((size_t)max,
		    sizeof(*np->kept))) == NULL)
			return NULL;
		np->kept_max = max;
		for (int i = 0; i < max; i++)
			np->kept[i].nsfd = -1;
	}
	if (np->nkept == np->kept_max) {
		if ((v = kept_victim(np, now_ms())) == NULL)
			return NULL;
		kept_free(np, v);
		np->evicted++;
	}
	for (int i = 0; i < np->kept_max; i++)
		if (np->kept[i].nsfd == -1) {
			np->kept[i].nsfd = -2;
			np->kept[i].taken_ms = 0;
			for (int f = 0; f < NETSNAP_FILES; f++)
				np->kept[i].files[f] = -1;
			np->nkept++;
			return &np->kept[i];
		}
	return NULL;
}

/* Notes whether a session holds the namespace of fd (at: since when) or
 * it is back in the pool (0). */
static void
kept_held(struct netpool *np, int fd, int64_t at)
{
	struct netkept *k = kept_find(np, fd);

	if (k != NULL)
		k->taken_ms = at;
}

/* Closes a slot's files and frees it. */
static void
kept_free(struct netpool *np, struct netkept *k)
{
	if (k == NULL)
		return;
	for (int f = 0; f < NETSNAP_FILES; f++)
		if (k->files[f] >= 0)
			close(k->files[f]);
	k->nsfd = -1;
	np->nkept--;
}

/* A check with the kept files: preads, from the daemon's namespace. */
static int
kept_read(const struct netkept *k, struct probe *p)
{
	size_t off = 0;

	p->buf = snapbuf;
	for (int i = 0; i < NETSNAP_FILES; i++) {
		p->len[i] = 0;
		if (k->files[i] >= 0 && probe_file(p, i, k->files[i], &off) ==
		    -1)
			return -1;
	}
	return 0;
}

/*
 * One look into a namespace, by the daemon's loop thread itself: it
 * setns()es into it (or unshares a new one, which it brings lo up in),
 * reads, and goes home. Nothing else runs on the thread meanwhile, and
 * nothing there makes a socket but netlo_up's, in the new namespace. A
 * clone did this until session 5; the daemon then waited for the clone to
 * be scheduled and to exit, 0.6 ms a session in all (bench/README.md).
 * 0, or -1 with errno.
 */
static int
probe_run(struct probe *p)
{
	int r, e;

	p->buf = snapbuf;
	if (netpool_init() == -1)
		return -1;
	if (p->make ? unshare(CLONE_NEWNET) : setns(p->nsfd, CLONE_NEWNET))
		return -1;
	r = 0;
	if (p->make && (netlo_up() == -1 || (p->nsfd = open(
	    "/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) == -1))
		r = -1;
	if (r == 0)
		r = probe_read(p);
	e = errno;
	/* Staying in a jail's namespace would put every later socket of the
	 * daemon's there: not survivable. */
	if (setns(home, CLONE_NEWNET) == -1)
		fatal("netpool: setns back into the daemon's network namespace");
	errno = e;
	return r;
}

/* The byte-compared part of the snapshot: all files but sockstat. */
static const char *
snap_rest(const struct probe *p, size_t *len)
{
	*len = 0;
	for (int i = 1; i < NETSNAP_FILES; i++)
		*len += p->len[i];
	return p->buf + p->len[0];
}

/* A new namespace with lo up; its fd, or -1. Its files are kept from its
 * first check on, not from now: a namespace that comes back to be checked
 * circulates, one made for a session that never ends would hold them for
 * nothing (bench/README.md, "Kept files for what circulates"). */
static int
netpool_make(struct netpool *np)
{
	struct probe p;
	const char *rest;
	size_t len;

	memset(&p, 0, sizeof(p));
	p.make = 1;
	p.nsfd = -1;
	if (probe_run(&p) == -1) {
		int e = errno;

		if (p.nsfd >= 0)
			close(p.nsfd);
		if (!np->warned)
			log_event("netpool-make error=%s", log_quote(
			    strerror(e)));
		np->warned = 1;
		return -1;
	}
	rest = snap_rest(&p, &len);
	if (np->base == NULL) {
		if ((np->base = malloc(len + 1)) == NULL) {
			close(p.nsfd);
			return -1;
		}
		memcpy(np->base, rest, len);
		np->baselen = len;
	} else if (len != np->baselen || memcmp(rest, np->base, len) != 0)
		/* Fresh all the same, so usable; its check will not pass. */
		log_debug("netpool-make differs");
	np->made++;
	return p.nsfd;
}

/* 1 when the namespace of fd is as fresh as the first one was. */
static int
netpool_clean(struct netpool *np, int fd)
{
	struct probe p;
	const char *rest;
	size_t len;

	struct netkept *k;
	int r;

	if (np->base == NULL)
		return 0;
	memset(&p, 0, sizeof(p));
	p.nsfd = fd;
	if ((k = kept_find(np, fd)) != NULL)
		r = kept_read(k, &p);
	else {
		/* Inside anyway: its files are kept from now on if they may. */
		if ((k = kept_slot(np)) != NULL)
			p.keep = k->files;
		if ((r = probe_run(&p)) == -1)
			kept_free(np, k);
		else if (k != NULL)
			k->nsfd = fd;
	}
	if (r == -1) {
		log_debug("netpool-check error=%s", log_quote(strerror(errno)));
		return 0;
	}
	if (!netsnap_idle(p.buf, p.len[0])) {
		log_debug("netpool-dirty what=sockets");
		return 0;
	}
	rest = snap_rest(&p, &len);
	if (len != np->baselen || memcmp(rest, np->base, len) != 0) {
		for (size_t i = 0; i < len && i < np->baselen; i++)
			if (rest[i] != np->base[i]) {
				char at[81];

				snprintf(at, sizeof(at), "%.80s", rest + (i > 40 ?
				    i - 40 : 0));
				log_debug("netpool-dirty what=counters at=%s",
				    log_quote(at));
				break;
			}
		return 0;
	}
	return 1;
}

static void
netpool_drop(struct netpool *np, int fd)
{
	kept_free(np, kept_find(np, fd));
	close(fd);
	np->dropped++;
}

/*
 * A namespace for a new jail: a ready one, else one that has cooled and is
 * clean, else a new one; -1 when none can be had (the jail gets a fresh
 * one by CLONE_NEWNET).
 */
int
netpool_take(struct netpool *np)
{
	int64_t now = now_ms();
	int tries = 0;

	np->used = 1;
	if (np->nready > 0) {
		kept_held(np, np->ready[np->nready - 1], now);
		return np->ready[--np->nready];
	}
	while (np->ncool > 0 && tries++ < 4) {
		struct netcool *c = &np->cool[np->chead];

		if (now - c->at < NETPOOL_COOL_MS)
			break;
		np->chead = (np->chead + 1) % NETPOOL_SPARES;
		np->ncool--;
		if (netpool_clean(np, c->fd)) {
			np->reused++;
			kept_held(np, c->fd, now);
			return c->fd;
		}
		netpool_drop(np, c->fd);
	}
	return netpool_make(np);
}

/*
 * The namespace of a jail whose processes are all gone (its init was
 * reaped: the kernel had killed the rest of its pid namespace first).
 * recycle is 0 when it may not be used again at all.
 */
void
netpool_give(struct netpool *np, int fd, int recycle)
{
	int tail;

	if (fd < 0)
		return;
	kept_held(np, fd, 0);
	if (!recycle || np->ncool + np->nready >= NETPOOL_SPARES) {
		netpool_drop(np, fd);
		return;
	}
	tail = (np->chead + np->ncool) % NETPOOL_SPARES;
	np->cool[tail].fd = fd;
	np->cool[tail].at = now_ms();
	np->ncool++;
}

/*
 * Off the players' path (the loop's idle turns): namespaces that have
 * cooled are checked, and the ready ones topped up to NETPOOL_READY.
 */
void
netpool_idle(struct netpool *np)
{
	int64_t now = now_ms();
	int fd;

	if (!np->used)
		return;
	/* One namespace per turn, checked or made. */
	if (np->ncool > 0 && now - np->cool[np->chead].at >= NETPOOL_COOL_MS) {
		fd = np->cool[np->chead].fd;
		np->chead = (np->chead + 1) % NETPOOL_SPARES;
		np->ncool--;
		if (netpool_clean(np, fd)) {
			np->reused++;
			np->ready[np->nready++] = fd;
		} else
			netpool_drop(np, fd);
		return;
	}
	if (np->nready + np->ncool < NETPOOL_READY &&
	    (fd = netpool_make(np)) >= 0)
		np->ready[np->nready++] = fd;
}

/* When netpool_idle has work next (a namespace cools), or -1. */
int64_t
netpool_next_ms(const struct netpool *np)
{
	if (np->ncool > 0)
		return np->cool[np->chead].at + NETPOOL_COOL_MS;
	if (np->used && np->nready < NETPOOL_READY && !np->warned)
		return 0;
	return -1;
}

/* Closes every namespace the pool holds (shutdown, or no jail needs one). */
void
netpool_free(struct netpool *np)
{
	if (np->used)
		log_event("netpool made=%llu reused=%llu dropped=%llu "
		    "evicted=%llu", np->made, np->reused, np->dropped,
		    np->evicted);
	while (np->nready > 0)
		close(np->ready[--np->nready]);
	while (np->ncool > 0) {
		close(np->cool[np->chead].fd);
		np->chead = (np->chead + 1) % NETPOOL_SPARES;
		np->ncool--;
	}
	/* Those of sessions' namespaces too: they are checked the long way
	 * when they come back. */
	for (int i = 0; np->kept != NULL && i < np->kept_max; i++)
		if (np->kept[i].nsfd != -1)
			kept_free(np, &np->kept[i]);
	np->chead = 0;
	np->used = 0;
}
