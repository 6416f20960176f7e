/*
 * gate.c: a connection before its session, the one place where the parent
 * reads a player's bytes. A PROXY header, from a peer in "proxy-from" only;
 * then the caps and the rate on the real client; then, with "pow", kCTF's
 * proof of work. Only then is a process made.
 *
 * It is built so that no player can stall the loop or make it grow:
 * - a pending connection is a small record with a deadline, its socket is
 *   non-blocking and edge-triggered, and every step is done the moment its
 *   bytes are there;
 * - pending connections are capped in all ("pending-max") and per source
 *   ("pending-per-ip");
 * - bytes are only peeked at (into one scratch buffer), and exactly the
 *   header or the solution line is then read: whatever follows reaches the
 *   challenge intact;
 * - a solution is never checked on the loop: two checker threads square,
 *   and the loop hands them work and takes their answers (an eventfd);
 * - who is checked first is fair: a source whose last solution was wrong
 *   (strikes.c) waits for the second checker, which runs at SCHED_IDLE, so
 *   a flood of wrong answers is verified only with CPU time that no session
 *   and no new player wants. Other players' solutions go to the first one,
 *   at the daemon's own priority, in their order.
 * proxy.c, pow.c and strikes.c, which do the parsing, the arithmetic and
 * the accounting, do no I/O.
 *
 * The threads share nothing with the loop but their slots (handed over by
 * an atomic state, no lock) and two eventfds; they allocate nothing once
 * started, call nothing in libc that takes a lock, and block every signal:
 * the daemon's clones (CLONE_VM), its signal handlers and its
 * single-threaded stages see no difference.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"
#include "pow.h"
#include "proxy.h"

#define GATE_PEEK	4096	/* the most a header or a line may take */
#define POW_SLICE	2000	/* squarings between looks at a check's
				   cancel flag: about half a millisecond */
#define CHECK_SLOTS	2	/* checks a checker holds: one squared, one
				   ready to start */
#define CHECK_STACK	(256 * 1024)
#define SUSPECT_SHARE	10	/* % of one CPU the suspects' checker may
				   take, whoever else wants it */

enum { CHECKER_FRESH, CHECKER_SUSPECT, NCHECKERS };

/*
 * Who owns a slot. Only the loop moves FREE to QUEUED and DONE to FREE,
 * only the checker QUEUED to RUNNING to DONE; each store releases what
 * the owner wrote (v, seq; result) to the one who loads the new state. No
 * lock: the loop never waits on a thread that may be the last to get a CPU.
 */
enum slot_state {
	SLOT_FREE,		/* the loop's */
	SLOT_QUEUED,		/* the checker's, from here */
	SLOT_RUNNING,
	SLOT_DONE,		/* the loop's again: result is set */
};

/* A check handed to a checker: v is allocated once, then loaded. */
struct check_slot {
	struct pow_verify v;
	atomic_int	 state;		/* enum slot_state */
	int		 result;	/* of pow_verify_step */
	uint64_t	 seq;		/* the checker takes the oldest */
	atomic_int	 cancel;	/* the connection went: stop */
	struct pending	*p;		/* the loop's only: NULL once
					   cancelled */
};

struct checker {
	pthread_t	 thr;
	int		 idle;		/* SCHED_IDLE, and SUSPECT_SHARE */
	atomic_int	 stop;
	int		 wake;		/* eventfd: the loop queued a slot */
	struct check_slot slots[CHECK_SLOTS];
	/* the loop's only: waiting for a slot, in arrival order */
	struct pending	*head, *tail;
};

/* The one set of checkers, started at the first solution. */
static struct {
	enum evkind	 kind;		/* EV_POW, for the eventfd */
	int		 started;
	int		 efd;		/* a check is done */
	uint64_t	 seq;
	struct checker	 c[NCHECKERS];
} checkers = { .kind = EV_POW, .efd = -1 };

enum gate_step {
	GATE_PROXY,		/* waiting for the header */
	GATE_POW,		/* prompt sent, waiting for the solution */
	GATE_CHECK,		/* solution read, being verified */
};

struct pending {
	enum evkind	 kind;		/* EV_GATE */
	int		 fd;
	struct svcstate	*st;
	enum gate_step	 step;
	struct dnode	 deadline;
	struct sockaddr_storage peer;	/* the TCP peer */
	struct sockaddr_storage client;	/* the player: from the header, or
					   the peer */
	int		 via;		/* the peer is a balancer */
	struct srckey	 srckey;	/* counted in d->gate_sources */
	int		 counted;
	int		 watched;	/* in epoll */
	struct pow_chal	 chal;
	unsigned char	 y[POW_NUM_MAX];	/* the solution, read */
	size_t		 ylen;
	struct srckey	 strikekey;	/* for the strikes, by its prefix */
	unsigned	 strikes;	/* its source's, with this wrong one */
	struct checker	*waiting;	/* in its wait list */
	struct check_slot *slot;	/* handed to a checker */
	struct pending	*prev, *next;	/* all pending */
	struct pending	*cprev, *cnext;	/* in a checker's wait list */
};

static unsigned char	 scratch[GATE_PEEK];

static struct pending *
gate_of(struct dnode *n)
{
	return (struct pending *)((char *)n - offsetof(struct pending,
	    deadline));
}

/* Whether a connection from peer must pass the gate at all. */
int
gate_wants(const struct svcstate *st, const struct sockaddr *peer)
{
	const struct gatecfg *g = &st->svc->gate;

	if (g->nproxy_from > 0 &&
	    cidr_match(g->proxy_from, g->nproxy_from, peer))
		return 1;
	return g->pow > 0 &&
	    !cidr_match(g->pow_exempt, g->npow_exempt, peer);
}

static void
gate_unlink(struct daemon *d, struct pending *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		d->gate_all = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	if (p->waiting != NULL) {
		struct checker *c = p->waiting;

		if (p->cprev != NULL)
			p->cprev->cnext = p->cnext;
		else
			c->head = p->cnext;
		if (p->cnext != NULL)
			p->cnext->cprev = p->cprev;
		else
			c->tail = p->cprev;
		p->waiting = NULL;
	}
	if (p->slot != NULL) {
		/* The checker finds out between slices; its answer is
		 * dropped. */
		atomic_store(&p->slot->cancel, 1);
		p->slot->p = NULL;
		p->slot = NULL;
	}
}

/* Forgets p; its socket goes to the caller when keep_fd, else is closed. */
static void
gate_free(struct daemon *d, struct pending *p, int keep_fd)
{
	gate_unlink(d, p);
	dheap_remove(&d->gate_deadlines, &p->deadline);
	/* epoll watches the file, which a session may keep: leave it first */
	if (p->watched)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, p->fd, NULL);
	if (!keep_fd)
		close(p->fd);
	if (p->counted)
		srctable_release(&d->gate_sources, &p->srckey, 0, 0, now_ms());
	d->npending--;
	p->st->gating--;
	listener_free_unused(d, p->st);
	free(p);
}

/*
 * The reason's line goes to the player, never to a balancer (a refusal of
 * the header itself); a wrong proof of work gets kCTF's own words, which
 * solvers and healthchecks look for.
 */
static void
gate_refuse(struct daemon *d, struct pending *p, enum reject_reason reason)
{
	char ip[INET6_ADDRSTRLEN], via[INET6_ADDRSTRLEN + 16] = "";
	char strikes[32] = "";
	char line[MAX_REJECT_LINE];
	int port, vport, n = 0;

	if (reason == REJ_POW_FAILED)
		n = snprintf(line, sizeof(line), "%s", POW_TEXT_FAIL);
	else if (p->st->svc != NULL && reason != REJ_PROXY_MISSING &&
	    reason != REJ_PROXY_BAD && reason != REJ_PROXY_TIMEOUT)
		n = snprintf(line, sizeof(line), "%s\n",
		    reject_text(p->st->svc, reason));
	if (n > 0 && send(p->fd, line, (size_t)n < sizeof(line) ? (size_t)n :
	    sizeof(line) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
		/* gone already */
	}
	addr_format((struct sockaddr *)&p->client, ip, sizeof(ip), &port);
	if (p->via) {
		char vip[INET6_ADDRSTRLEN];

		addr_format((struct sockaddr *)&p->peer, vip, sizeof(vip),
		    &vport);
		snprintf(via, sizeof(via), " via=%s", vip);
	}
	if (p->strikes > 0)
		snprintf(strikes, sizeof(strikes), " strikes=%u", p->strikes);
	log_event("reject service=%s ip=%s port=%d%s reason=%s pending=%d%s",
	    p->st->name, ip, port, via, reject_name(reason), d->npending,
	    strikes);
	metrics_refused(&p->st->metrics, reason);
	gate_free(d, p, 0);
}

/* Counts p against its source's pending cap: -1 when over it. */
static int
gate_count(struct daemon *d, struct pending *p)
{
	const struct service *s = p->st->svc;
	struct source *src;

	if (s->gate.pending_per_ip == 0)
		return 0;
	srckey_make(&p->srckey, (struct sockaddr *)&p->client, s->v4_prefix,
	    s->v6_prefix);
	src = srctable_get(&d->gate_sources, &p->srckey, 1);
	if (src == NULL || src->conns >= s->gate.pending_per_ip)
		return -1;
	src->conns++;
	p->counted = 1;
	return 0;
}

static void
gate_deadline(struct daemon *d, struct pending *p, int64_t ms)
{
	dheap_remove(&d->gate_deadlines, &p->deadline);
	if (dheap_push(&d->gate_deadlines, &p->deadline, now_ms() + ms) == -1)
		p->deadline.at = 0;	/* expired at once by gate_expire */
}

/* Peeks at what the player sent; -1 after EOF or an error. */
static ssize_t
gate_peek(struct pending *p)
{
	ssize_t n = recv(p->fd, scratch, sizeof(scratch),
	    MSG_PEEK | MSG_DONTWAIT);

	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return n > 0 ? n : -1;
}

/* Reads exactly n bytes that a peek showed were there. */
static int
gate_consume(struct pending *p, size_t n)
{
	return recv(p->fd, scratch, n, MSG_DONTWAIT) == (ssize_t)n ? 0 : -1;
}

static int
gate_prompt(struct daemon *d, struct pending *p)
{
	const struct gatecfg *g = &p->st->svc->gate;
	unsigned char rnd[POW_RANDOM];
	char text[2048], err[CHALD_ERRLEN];
	int n;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd) ||
	    pow_chal_make(&p->chal, g->pow, rnd, err, sizeof(err)) == -1 ||
	    (n = pow_prompt(text, sizeof(text), g->pow_prompt, &p->chal, err,
	    sizeof(err))) < 0) {
		log_warnx("service %s: pow: %s", p->st->name, err);
		return -1;
	}
	/* A fresh socket's send buffer takes a prompt whole. */
	if (send(p->fd, text, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n)
		return -1;
	p->step = GATE_POW;
	gate_deadline(d, p, g->pow_timeout_ms);
	metrics_inc(&p->st->metrics, M_POW_ISSUED);
	return 0;
}

/* Through the gate: the session starts with the player's own address. */
static void
gate_pass(struct daemon *d, struct pending *p)
{
	struct svcstate *st = p->st;
	struct sockaddr_storage client = p->client, peer = p->peer;
	int fd = p->fd, via = p->via;

	if (st->removed || st->svc == NULL) {
		gate_refuse(d, p, REJ_SHUTDOWN);
		return;
	}
	gate_free(d, p, 1);
	session_start(d, st, fd, (struct sockaddr *)&client,
	    via ? (struct sockaddr *)&peer : NULL, 1);
}

/* After the header, or at once for a direct client. */
static int
gate_admitted(struct daemon *d, struct pending *p)
{
	const struct gatecfg *g = &p->st->svc->gate;
	int reason = session_admit(d, p->st, (struct sockaddr *)&p->client);

	if (reason != -1) {
		gate_refuse(d, p, (enum reject_reason)reason);
		return -1;
	}
	if (g->pow == 0 ||
	    cidr_match(g->pow_exempt, g->npow_exempt,
	    (struct sockaddr *)&p->client)) {
		gate_pass(d, p);
		return -1;
	}
	if ((!p->counted && gate_count(d, p) == -1)) {
		gate_refuse(d, p, REJ_PENDING_PER_IP);
		return -1;
	}
	if (gate_prompt(d, p) == -1) {
		gate_refuse(d, p, REJ_POW_FAILED);
		return -1;
	}
	return 0;
}

/* Returns 0 to wait for more bytes, -1 when p is gone. */
static int
gate_proxy(struct daemon *d, struct pending *p)
{
	struct proxy_hdr h;
	char err[CHALD_ERRLEN];
	ssize_t n = gate_peek(p);
	int r;

	if (n == 0)
		return 0;
	if (n < 0) {
		gate_refuse(d, p, REJ_PROXY_MISSING);
		return -1;
	}
	r = proxy_parse(scratch, (size_t)n, &h, err, sizeof(err));
	if (r == 0 && (size_t)n >= sizeof(scratch))
		r = -1;
	if (r == 0)
		return 0;
	if (r < 0) {
		/* Not even the start of one: a client talking directly. */
		gate_refuse(d, p, scratch[0] == 'P' || scratch[0] == '\r' ?
		    REJ_PROXY_BAD : REJ_PROXY_MISSING);
		return -1;
	}
	if (gate_consume(p, (size_t)r) == -1) {
		gate_refuse(d, p, REJ_PROXY_BAD);
		return -1;
	}
	if (!h.local)
		p->client = h.src;
	return gate_admitted(d, p);
}

static int64_t
thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * One slice for the suspects, then a sleep SUSPECT_SHARE makes of it. A
 * lower priority is not enough: with autogroups (or a cgroup per jail) the
 * kernel weighs the daemon's group against each session's, and a thread
 * at SCHED_IDLE in it still takes its group's share from the others.
 */
static int
checker_slice_capped(struct check_slot *sl)
{
	int64_t t0 = thread_cpu_ns(), used;
	int r = pow_verify_step(&sl->v, POW_SLICE);
	struct timespec ts;

	used = thread_cpu_ns() - t0;
	used = used * (100 - SUSPECT_SHARE) / SUSPECT_SHARE;
	ts.tv_sec = used / 1000000000;
	ts.tv_nsec = used % 1000000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	return r;
}

/*
 * A checker: takes its oldest queued slot and squares it through, looking
 * at the cancel flag between slices; sleeps in read(2) on its eventfd when
 * it has none. Besides its slots it touches only the two eventfds.
 */
static void *
checker_main(void *arg)
{
	struct checker *c = arg;
	const uint64_t one = 1;
	uint64_t n;

	if (c->idle) {
		struct sched_param sp = { 0 };

		/* Best effort: at worst it runs like the daemon. */
		pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	}
	while (!atomic_load(&c->stop)) {
		struct check_slot *sl = NULL;
		int r;

		for (int k = 0; k < CHECK_SLOTS; k++)
			if (atomic_load(&c->slots[k].state) == SLOT_QUEUED &&
			    (sl == NULL || c->slots[k].seq < sl->seq))
				sl = &c->slots[k];
		if (sl == NULL) {
			/* A slot queued after the look has written: no
			 * wake-up is lost. */
			if (read(c->wake, &n, sizeof(n)) == -1 &&
			    errno != EINTR)
				break;
			continue;
		}
		atomic_store(&sl->state, SLOT_RUNNING);
		do
			r = atomic_load(&sl->cancel) ? -1 : c->idle ?
			    checker_slice_capped(sl) :
			    pow_verify_step(&sl->v, POW_SLICE);
		while (r == 0);
		sl->result = r;
		atomic_store(&sl->state, SLOT_DONE);
		if (write(checkers.efd, &one, sizeof(one)) == -1) {
			/* the counter is full: the loop has a reason to look */
		}
	}
	return NULL;
}

static void
checker_wake(struct checker *c)
{
	const uint64_t one = 1;

	if (write(c->wake, &one, sizeof(one)) == -1) {
		/* full: it is awake */
	}
}

/* Hands waiting connections to the checker's free slots. */
static void
checker_fill(struct checker *c)
{
	int handed = 0;

	for (int k = 0; k < CHECK_SLOTS && c->head != NULL; k++) {
		struct check_slot *sl = &c->slots[k];
		struct pending *p = c->head;

		if (atomic_load(&sl->state) != SLOT_FREE)
			continue;
		c->head = p->cnext;
		if (c->head != NULL)
			c->head->cprev = NULL;
		else
			c->tail = NULL;
		p->waiting = NULL;
		p->cnext = NULL;
		pow_verify_load(&sl->v, &p->chal, p->y, p->ylen);
		atomic_store(&sl->cancel, 0);
		sl->seq = checkers.seq++;
		sl->p = p;
		p->slot = sl;
		atomic_store(&sl->state, SLOT_QUEUED);
		handed = 1;
	}
	if (handed)
		checker_wake(c);
}

/* p's solution waits for the checker its source deserves. */
static void
check_queue(struct daemon *d, struct pending *p)
{
	const struct service *s = p->st->svc;
	struct checker *c;

	srckey_make(&p->strikekey, (struct sockaddr *)&p->client,
	    s->v4_prefix, s->v6_prefix);
	c = &checkers.c[strikes_count(&d->gate_strikes, &p->strikekey,
	    now_ms()) > 0 ? CHECKER_SUSPECT : CHECKER_FRESH];
	p->cnext = NULL;
	p->cprev = c->tail;
	if (c->tail != NULL)
		c->tail->cnext = p;
	else
		c->head = p;
	c->tail = p;
	p->waiting = c;
	checker_fill(c);
}

static void
checker_free(struct checker *c)
{
	for (int k = 0; k < CHECK_SLOTS; k++)
		pow_verify_free(&c->slots[k].v);
	close(c->wake);
	c->wake = -1;
}

/* Stops and joins a started checker: within a slice (and its sleep). */
static void
checker_end(struct checker *c)
{
	atomic_store(&c->stop, 1);
	checker_wake(c);
	pthread_join(c->thr, NULL);
	checker_free(c);
}

/*
 * Once, at the first solution (never before the loop runs: startup's
 * unshare() wants a single thread). -1 when the threads cannot be made;
 * the next solution tries again.
 */
static int
checkers_start(struct daemon *d)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int n = 0, e = 0;

	if (checkers.started)
		return 0;
	if (d->gate_strikes.ents == NULL &&
	    strikes_init(&d->gate_strikes, 0) == -1) {
		log_warnx("pow: no memory for the strikes table");
		return -1;
	}
	if (checkers.efd == -1) {
		checkers.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (checkers.efd == -1) {
			log_warn("pow: eventfd");
			return -1;
		}
		watch_fd(d, checkers.efd, &checkers.kind, 1);
	}
	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, CHECK_STACK);
	/* The threads inherit the mask: signals stay the loop's. */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; n < NCHECKERS; n++) {
		struct checker *c = &checkers.c[n];

		c->idle = n == CHECKER_SUSPECT;
		atomic_store(&c->stop, 0);
		c->wake = eventfd(0, EFD_CLOEXEC);
		if (c->wake == -1) {
			e = errno;
			break;
		}
		for (int k = 0; k < CHECK_SLOTS; k++) {
			pow_verify_init(&c->slots[k].v);
			atomic_store(&c->slots[k].state, SLOT_FREE);
		}
		if ((e = pthread_create(&c->thr, &attr, checker_main, c)) != 0) {
			checker_free(c);
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (n < NCHECKERS) {
		log_warnx("pow: cannot start a checker thread: %s",
		    strerror(e));
		for (int i = 0; i < n; i++)
			checker_end(&checkers.c[i]);
		return -1;
	}
	checkers.started = 1;
	return 0;
}

/* At shutdown, once nothing waits for them: the threads end. */
static void
checkers_stop(struct daemon *d)
{
	if (!checkers.started)
		return;
	for (int i = 0; i < NCHECKERS; i++)
		checker_end(&checkers.c[i]);
	watch_fd(d, checkers.efd, &checkers.kind, 0);
	close(checkers.efd);
	checkers.efd = -1;
	checkers.started = 0;
	strikes_free(&d->gate_strikes);
}

/* Whether the line, less blanks around it, is the word (not empty). */
static int
line_is(const unsigned char *b, size_t len, const char *word)
{
	size_t n = strlen(word);
	unsigned char diff = 0;

	while (len > 0 && (b[0] == '\r' || b[0] == '\n' || b[0] == ' ')) {
		b++;
		len--;
	}
	while (len > 0 && (b[len - 1] == '\r' || b[len - 1] == '\n' ||
	    b[len - 1] == ' '))
		len--;
	if (n == 0 || len != n)
		return 0;
	/* In constant time: a player may try guesses at the secret. */
	for (size_t i = 0; i < n; i++)
		diff |= b[i] ^ (unsigned char)word[i];
	return diff == 0;
}

static int
gate_solution(struct daemon *d, struct pending *p)
{
	char err[CHALD_ERRLEN];
	size_t len;
	ssize_t n = gate_peek(p);
	int r;

	if (n == 0)
		return 0;
	if (n < 0) {
		gate_refuse(d, p, REJ_POW_FAILED);
		return -1;
	}
	r = pow_line_scan(scratch, (size_t)n, &len, err, sizeof(err));
	if (r == 0)
		return 0;
	if (r < 0 || gate_consume(p, len) == -1) {
		metrics_inc(&p->st->metrics, M_POW_FAILED);
		gate_refuse(d, p, REJ_POW_FAILED);
		return -1;
	}
	if (line_is(scratch, len, d->pow_secret)) {
		gate_pass(d, p);	/* the health check */
		return -1;
	}
	if (pow_solution_parse(scratch, len, p->y, &p->ylen, err,
	    sizeof(err)) == -1) {
		metrics_inc(&p->st->metrics, M_POW_FAILED);
		gate_refuse(d, p, REJ_POW_FAILED);
		return -1;
	}
	if (checkers_start(d) == -1) {
		gate_refuse(d, p, REJ_NO_MEMORY);
		return -1;
	}
	p->step = GATE_CHECK;
	check_queue(d, p);
	return 0;
}

/* What the bytes there allow; 0 to wait for more, -1 when p is gone. */
static int
gate_step(struct daemon *d, struct pending *p)
{
	/* A reload dropped the service while the connection waited. */
	if (p->st->removed || p->st->svc == NULL) {
		gate_refuse(d, p, REJ_SHUTDOWN);
		return -1;
	}
	if (p->step == GATE_PROXY && gate_proxy(d, p) == -1)
		return -1;
	if (p->step == GATE_POW)
		return gate_solution(d, p);
	return 0;
}

void
gate_event(struct daemon *d, void *tag)
{
	(void)gate_step(d, tag);
}

/*
 * The gate is full: the newest connection of a source with strikes whose
 * solution still waits for the slow checker goes, so that a flood's slow
 * checks never keep a new player out. -1 when there is none.
 */
static int
gate_make_room(struct daemon *d)
{
	struct pending *v = checkers.c[CHECKER_SUSPECT].tail;

	if (v == NULL)
		return -1;
	gate_refuse(d, v, REJ_PENDING);
	return 0;
}

void
gate_begin(struct daemon *d, struct svcstate *st, int fd,
    const struct sockaddr_storage *peer)
{
	const struct gatecfg *g = &st->svc->gate;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET };
	struct pending *p;

	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		close(fd);
		return;
	}
	p->kind = EV_GATE;
	p->fd = fd;
	p->st = st;
	p->peer = *peer;
	p->client = *peer;
	p->deadline.idx = SIZE_MAX;
	p->via = g->nproxy_from > 0 &&
	    cidr_match(g->proxy_from, g->nproxy_from,
	    (const struct sockaddr *)peer);
	p->step = p->via ? GATE_PROXY : GATE_POW;
	p->next = d->gate_all;
	if (d->gate_all != NULL)
		d->gate_all->prev = p;
	d->gate_all = p;
	d->npending++;
	st->gating++;
	if (d->conf->pending_max > 0 && d->npending > d->conf->pending_max &&
	    gate_make_room(d) == -1) {
		gate_refuse(d, p, REJ_PENDING);
		return;
	}
	/* A balancer's connections are many players: counted after the
	 * header, by the client it names. */
	if (!p->via && gate_count(d, p) == -1) {
		gate_refuse(d, p, REJ_PENDING_PER_IP);
		return;
	}
	/* A balancer's header is mostly there at the accept: then the
	 * connection passes without ever being in epoll. Edge-triggered, an
	 * ADD still reports bytes that came before it. */
	if (p->via) {
		gate_deadline(d, p, g->proxy_timeout_ms);
		if (gate_step(d, p) == -1)
			return;
	} else if (gate_admitted(d, p) == -1 || gate_solution(d, p) == -1)
		return;
	ev.data.ptr = p;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		gate_refuse(d, p, REJ_NO_MEMORY);
		return;
	}
	p->watched = 1;
}

/* The answer of a check: the player passes, or is refused. */
static void
check_done(struct daemon *d, struct pending *p, int r)
{
	p->step = GATE_POW;
	if (r == 1) {
		strikes_pass(&d->gate_strikes, &p->strikekey);
		metrics_inc(&p->st->metrics, M_POW_PASSED);
		if (send(p->fd, POW_TEXT_OK, strlen(POW_TEXT_OK),
		    MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
			/* the session will find out */
		}
		gate_pass(d, p);
	} else {
		strikes_fail(&d->gate_strikes, &p->strikekey, now_ms());
		p->strikes = strikes_count(&d->gate_strikes, &p->strikekey,
		    now_ms());
		metrics_inc(&p->st->metrics, M_POW_FAILED);
		gate_refuse(d, p, REJ_POW_FAILED);
	}
}

/* The eventfd fired: checks are done. */
void
gate_checked(struct daemon *d)
{
	struct { struct pending *p; int r; } done[NCHECKERS * CHECK_SLOTS];
	size_t ndone = 0;
	uint64_t n;

	if (read(checkers.efd, &n, sizeof(n)) == -1) {
		/* EAGAIN: another turn took them */
	}
	for (int i = 0; i < NCHECKERS; i++) {
		struct checker *c = &checkers.c[i];

		for (int k = 0; k < CHECK_SLOTS; k++) {
			struct check_slot *sl = &c->slots[k];

			if (atomic_load(&sl->state) != SLOT_DONE)
				continue;
			if (sl->p != NULL) {
				done[ndone].p = sl->p;
				done[ndone++].r = sl->result;
				sl->p->slot = NULL;
				sl->p = NULL;
			}
			atomic_store(&sl->state, SLOT_FREE);
		}
		/* The checker goes on before the answers are acted on. */
		checker_fill(c);
	}
	for (size_t i = 0; i < ndone; i++)
		check_done(d, done[i].p, done[i].r);
}

void
gate_expire(struct daemon *d, int64_t now)
{
	struct dnode *n;

	while ((n = dheap_top(&d->gate_deadlines)) != NULL && n->at <= now) {
		struct pending *p = gate_of(n);

		gate_refuse(d, p, p->step == GATE_PROXY ? REJ_PROXY_TIMEOUT :
		    REJ_POW_TIMEOUT);
	}
}

/* The earlier of t and the next pending deadline. */
int64_t
gate_next_deadline(const struct daemon *d, int64_t t)
{
	struct dnode *n = dheap_top(&d->gate_deadlines);

	return n != NULL && n->at < t ? n->at : t;
}

/* At shutdown: nobody gets a session any more. */
void
gate_close_all(struct daemon *d)
{
	while (d->gate_all != NULL)
		gate_refuse(d, d->gate_all, REJ_SHUTDOWN);
	checkers_stop(d);
}
