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
 * - a solution is checked in slices of squarings between loop turns
 *   (gate_work), so a flood of wrong answers delays nobody's accept.
 * proxy.c and pow.c, which do the parsing and the arithmetic, do no I/O.
 */
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"
#include "pow.h"
#include "proxy.h"

#define GATE_PEEK	4096	/* the most a header or a line may take */
#define POW_SLICE	2000	/* squarings per loop turn, for all checks:
				   about a millisecond here */

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
	struct pow_chal	 chal;
	struct pow_verify check;
	struct pending	*prev, *next;	/* all pending, or those checking */
	struct pending	*cnext;
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
	if (p->step == GATE_CHECK) {
		struct pending **pp;

		for (pp = &d->gate_checking; *pp != NULL; pp = &(*pp)->cnext)
			if (*pp == p) {
				*pp = p->cnext;
				break;
			}
	}
}

/* Forgets p; its socket goes to the caller when keep_fd, else is closed. */
static void
gate_free(struct daemon *d, struct pending *p, int keep_fd)
{
	gate_unlink(d, p);
	dheap_remove(&d->gate_deadlines, &p->deadline);
	/* epoll watches the file, which a session may keep: leave it first */
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, p->fd, NULL);
	if (!keep_fd)
		close(p->fd);
	if (p->counted)
		srctable_release(&d->gate_sources, &p->srckey, 0, 0, now_ms());
	if (p->check.live)
		pow_verify_free(&p->check);
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
	log_event("reject service=%s ip=%s port=%d%s reason=%s pending=%d",
	    p->st->name, ip, port, via, reject_name(reason), d->npending);
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

/* The checks take turns: a new one, or one not done, goes last. */
static void
check_append(struct daemon *d, struct pending *p)
{
	struct pending **pp = &d->gate_checking;

	while (*pp != NULL)
		pp = &(*pp)->cnext;
	p->cnext = NULL;
	*pp = p;
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
	if (pow_verify_start(&p->check, &p->chal, scratch, len, err,
	    sizeof(err)) == -1) {
		metrics_inc(&p->st->metrics, M_POW_FAILED);
		gate_refuse(d, p, REJ_POW_FAILED);
		return -1;
	}
	p->step = GATE_CHECK;
	check_append(d, p);
	return 0;
}

void
gate_event(struct daemon *d, void *tag)
{
	struct pending *p = tag;

	/* A reload dropped the service while the connection waited. */
	if (p->st->removed || p->st->svc == NULL) {
		gate_refuse(d, p, REJ_SHUTDOWN);
		return;
	}
	if (p->step == GATE_PROXY && gate_proxy(d, p) == -1)
		return;
	if (p->step == GATE_POW)
		gate_solution(d, p);
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
	ev.data.ptr = p;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		gate_refuse(d, p, REJ_NO_MEMORY);
		return;
	}
	if (d->conf->pending_max > 0 && d->npending > d->conf->pending_max) {
		gate_refuse(d, p, REJ_PENDING);
		return;
	}
	/* A balancer's connections are many players: counted after the
	 * header, by the client it names. */
	if (!p->via && gate_count(d, p) == -1) {
		gate_refuse(d, p, REJ_PENDING_PER_IP);
		return;
	}
	if (p->via) {
		gate_deadline(d, p, g->proxy_timeout_ms);
		gate_event(d, p);
	} else if (gate_admitted(d, p) == 0)
		gate_solution(d, p);
}

/* Slices of the checks under way; returns 1 while some remain. */
int
gate_work(struct daemon *d)
{
	uint32_t budget = POW_SLICE;

	while (d->gate_checking != NULL && budget > 0) {
		struct pending *p = d->gate_checking;
		uint32_t slice = p->check.left < budget ? p->check.left :
		    budget;
		int r = pow_verify_step(&p->check, slice);

		budget -= slice > 0 ? slice : 1;
		d->gate_checking = p->cnext;
		if (r == 0) {
			/* not done: the next turn starts with the next one */
			check_append(d, p);
			continue;
		}
		p->step = GATE_POW;	/* out of the checking list */
		if (r == 1) {
			metrics_inc(&p->st->metrics, M_POW_PASSED);
			if (send(p->fd, POW_TEXT_OK, strlen(POW_TEXT_OK),
			    MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
				/* the session will find out */
			}
			gate_pass(d, p);
		} else {
			metrics_inc(&p->st->metrics, M_POW_FAILED);
			gate_refuse(d, p, REJ_POW_FAILED);
		}
	}
	return d->gate_checking != NULL;
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
}
