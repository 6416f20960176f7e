/*
 * sessions.c: the parent's bookkeeping, with no I/O so it can be unit
 * tested: live sessions by pid, their deadlines in a min-heap, and per-source
 * counts and token buckets keyed by address prefix. Every operation on the
 * accept and reap paths is O(1) on average or O(log n), so the parent's cost
 * per connection does not grow with the number of live sessions.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chald.h"

#define INITIAL_BUCKETS	64

/* Source prefixes. */

static void
mask_bits(uint8_t *b, size_t len, int prefix)
{
	for (size_t i = 0; i < len; i++) {
		int keep = prefix - (int)i * 8;

		if (keep >= 8)
			continue;
		b[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
	}
}

/* IPv4-mapped IPv6 peers (a dual-stack listener) count as IPv4. */
void
srckey_make(struct srckey *k, const struct sockaddr *sa, int v4_prefix,
    int v6_prefix)
{
	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		k->fam = 4;
		memcpy(k->bytes, &sin->sin_addr, 4);
		mask_bits(k->bytes, 4, v4_prefix);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			k->fam = 4;
			memcpy(k->bytes, &sin6->sin6_addr.s6_addr[12], 4);
			mask_bits(k->bytes, 4, v4_prefix);
		} else {
			k->fam = 6;
			memcpy(k->bytes, &sin6->sin6_addr, 16);
			mask_bits(k->bytes, 16, v6_prefix);
		}
	}
}

/* FNV-1a: keys are short and chosen by the kernel's peer, not hashed twice. */
static size_t
srckey_hash(const struct srckey *k)
{
	uint64_t h = 1469598103934665603ULL;

	h = (h ^ k->fam) * 1099511628211ULL;
	for (int i = 0; i < 16; i++)
		h = (h ^ k->bytes[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

int
srctable_init(struct srctable *t)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = INITIAL_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets == NULL ? -1 : 0;
}

void
srctable_free(struct srctable *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct source *s, *n;

		for (s = t->buckets[i]; s != NULL; s = n) {
			n = s->next;
			free(s);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

static void
srctable_grow(struct srctable *t)
{
	size_t n = t->nbuckets * 2;
	struct source **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;		/* longer chains, still correct */
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct source *s, *next;

		for (s = t->buckets[i]; s != NULL; s = next) {
			size_t h = srckey_hash(&s->key) & (n - 1);

			next = s->next;
			s->next = b[h];
			b[h] = s;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

struct source *
srctable_get(struct srctable *t, const struct srckey *k, int create)
{
	size_t h = srckey_hash(k) & (t->nbuckets - 1);
	struct source *s;

	for (s = t->buckets[h]; s != NULL; s = s->next)
		if (memcmp(&s->key, k, sizeof(*k)) == 0)
			return s;
	if (!create)
		return NULL;
	if (t->count >= t->nbuckets) {
		srctable_grow(t);
		h = srckey_hash(k) & (t->nbuckets - 1);
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->key = *k;
	s->tokens = -1;		/* full, set on first use */
	s->next = t->buckets[h];
	t->buckets[h] = s;
	t->count++;
	return s;
}

static void
bucket_refill(struct source *s, double rate, int burst, int64_t now)
{
	if (s->tokens < 0) {
		s->tokens = burst;
	} else if (now > s->last_ms) {
		s->tokens += (double)(now - s->last_ms) * rate / 1000.0;
		if (s->tokens > burst)
			s->tokens = burst;
	}
	s->last_ms = now;
}

/* Returns 1 and takes a token when the source may connect now. */
int
source_take_token(struct source *s, double rate, int burst, int64_t now)
{
	if (rate <= 0)
		return 1;
	bucket_refill(s, rate, burst, now);
	if (s->tokens < 1)
		return 0;
	s->tokens -= 1;
	return 1;
}

/* A source with no session and a full bucket carries no state: drop it. */
static int
source_idle(struct source *s, double rate, int burst, int64_t now)
{
	if (s->conns > 0)
		return 0;
	if (rate <= 0)
		return 1;
	bucket_refill(s, rate, burst, now);
	return s->tokens >= burst;
}

static void
srctable_unlink(struct srctable *t, struct source **pp)
{
	struct source *s = *pp;

	*pp = s->next;
	free(s);
	t->count--;
}

void
srctable_release(struct srctable *t, const struct srckey *k, double rate,
    int burst, int64_t now)
{
	size_t h = srckey_hash(k) & (t->nbuckets - 1);
	struct source **pp;

	for (pp = &t->buckets[h]; *pp != NULL; pp = &(*pp)->next) {
		if (memcmp(&(*pp)->key, k, sizeof(*k)) != 0)
			continue;
		if ((*pp)->conns > 0)
			(*pp)->conns--;
		if (source_idle(*pp, rate, burst, now))
			srctable_unlink(t, pp);
		return;
	}
}

/* Drops every idle source; called now and then, not per connection. */
size_t
srctable_expire(struct srctable *t, double rate, int burst, int64_t now)
{
	size_t dropped = 0;

	for (size_t i = 0; i < t->nbuckets; i++) {
		struct source **pp = &t->buckets[i];

		while (*pp != NULL) {
			if (source_idle(*pp, rate, burst, now)) {
				srctable_unlink(t, pp);
				dropped++;
			} else
				pp = &(*pp)->next;
		}
	}
	return dropped;
}

/* Sessions by pid. */

int
sesstable_init(struct sesstable *t)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = INITIAL_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets == NULL ? -1 : 0;
}

void
sesstable_free(struct sesstable *t)
{
	free(t->buckets);
	dheap_free(&t->deadlines);
	memset(t, 0, sizeof(*t));
}

static size_t
pid_hash(pid_t pid, size_t n)
{
	return ((size_t)pid * 2654435761u) & (n - 1);
}

static void
sesstable_grow(struct sesstable *t)
{
	size_t n = t->nbuckets * 2;
	struct session **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct session *s, *next;

		for (s = t->buckets[i]; s != NULL; s = next) {
			size_t h = pid_hash(s->pid, n);

			next = s->hnext;
			s->hnext = b[h];
			b[h] = s;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

/* Gives a session (a pooled jail being handed out) its deadline. */
int
sesstable_set_deadline(struct sesstable *t, struct session *s,
    int64_t deadline_ms)
{
	sesstable_clear_deadline(t, s);
	s->deadline.at = deadline_ms;
	if (deadline_ms <= 0)
		return 0;
	return dheap_push(&t->deadlines, &s->deadline, deadline_ms);
}

int
sesstable_add(struct sesstable *t, struct session *s)
{
	size_t h;

	s->deadline.idx = SIZE_MAX;
	if (sesstable_set_deadline(t, s, s->deadline.at) == -1)
		return -1;
	if (t->count >= t->nbuckets)
		sesstable_grow(t);
	h = pid_hash(s->pid, t->nbuckets);
	s->hnext = t->buckets[h];
	t->buckets[h] = s;
	t->count++;
	return 0;
}

struct session *
sesstable_find(struct sesstable *t, pid_t pid)
{
	struct session *s;

	for (s = t->buckets[pid_hash(pid, t->nbuckets)]; s != NULL;
	    s = s->hnext)
		if (s->pid == pid)
			return s;
	return NULL;
}

void
sesstable_clear_deadline(struct sesstable *t, struct session *s)
{
	dheap_remove(&t->deadlines, &s->deadline);
}

void
sesstable_remove(struct sesstable *t, struct session *s)
{
	struct session **pp;

	sesstable_clear_deadline(t, s);
	for (pp = &t->buckets[pid_hash(s->pid, t->nbuckets)]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			t->count--;
			return;
		}
	}
}

struct session *
sesstable_next_deadline(struct sesstable *t)
{
	struct dnode *n = dheap_top(&t->deadlines);

	return n == NULL ? NULL : (struct session *)((char *)n -
	    offsetof(struct session, deadline));
}

/*
 * uids in use by jailed sessions: open addressing with tombstones, so that
 * allocation and release stay O(1) with thousands of live sessions.
 */

int
uidset_init(struct uidset *u)
{
	memset(u, 0, sizeof(*u));
	u->cap = 256;
	u->slots = calloc(u->cap, sizeof(*u->slots));
	return u->slots == NULL ? -1 : 0;
}

void
uidset_free(struct uidset *u)
{
	free(u->slots);
	memset(u, 0, sizeof(*u));
}

static size_t
uid_slot(const struct uidset *u, uid_t uid)
{
	return ((size_t)uid * 2654435761u) & (u->cap - 1);
}

int
uidset_has(const struct uidset *u, uid_t uid)
{
	if (u->cap == 0)
		return 0;
	for (size_t i = uid_slot(u, uid), n = 0; n < u->cap;
	    i = (i + 1) & (u->cap - 1), n++) {
		if (u->slots[i] == 0)
			return 0;
		if (u->slots[i] == (uint32_t)uid + 2)
			return 1;
	}
	return 0;
}

static int
uidset_rehash(struct uidset *u, size_t cap)
{
	struct uidset n = { .cap = cap };

	n.slots = calloc(cap, sizeof(*n.slots));
	if (n.slots == NULL)
		return -1;
	for (size_t i = 0; i < u->cap; i++)
		if (u->slots[i] > 1) {
			size_t j = uid_slot(&n, u->slots[i] - 2);

			while (n.slots[j] != 0)
				j = (j + 1) & (cap - 1);
			n.slots[j] = u->slots[i];
			n.used++;
			n.count++;
		}
	free(u->slots);
	*u = n;
	return 0;
}

int
uidset_add(struct uidset *u, uid_t uid)
{
	size_t i;

	if (uid > UINT32_MAX - 2)
		return -1;
	if (uidset_has(u, uid))
		return 0;
	if ((u->used + 1) * 4 >= u->cap * 3 &&
	    uidset_rehash(u, u->count * 4 >= u->cap ? u->cap * 2 : u->cap)
	    == -1)
		return -1;
	for (i = uid_slot(u, uid); u->slots[i] > 1; i = (i + 1) & (u->cap - 1))
		;
	if (u->slots[i] == 0)
		u->used++;
	u->slots[i] = (uint32_t)uid + 2;
	u->count++;
	return 0;
}

void
uidset_del(struct uidset *u, uid_t uid)
{
	if (u->cap == 0)
		return;
	for (size_t i = uid_slot(u, uid), n = 0; n < u->cap;
	    i = (i + 1) & (u->cap - 1), n++) {
		if (u->slots[i] == 0)
			return;
		if (u->slots[i] == (uint32_t)uid + 2) {
			u->slots[i] = 1;
			u->count--;
			return;
		}
	}
}

/* The turn of range [lo, hi]: found, or made at the clock's mark. */
struct uidturn *
uid_turn(struct uidturn **list, uid_t lo, uid_t hi)
{
	struct uidturn *t;

	for (t = *list; t != NULL; t = t->link)
		if (t->lo == lo && t->hi == hi)
			return t;
	if (hi < lo || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->lo = lo;
	t->hi = hi;
	t->link = *list;
	*list = t;
	return t;
}

void
uid_turns_free(struct uidturn **list)
{
	while (*list != NULL) {
		struct uidturn *t = *list;

		*list = t->link;
		free(t);
	}
}

/* A time (ms since the epoch) as a position in a range of width uids: the
 * mark goes through the range once every UID_SWEEP_SECS. */
static uint64_t
uid_mark(uint64_t ms, uint64_t width)
{
	const uint64_t sweep = UID_SWEEP_SECS * 1000ULL;

	return ms / sweep * width + ms % sweep * width / sweep;
}

/*
 * Takes the first free uid of t's range at or after its turn, the turn
 * brought up to the clock's mark first. So uids are handed out in turn
 * (a freed one comes back only after the rest of the range), a restart
 * goes on past them, and where they are says little of how many sessions
 * came before.
 */
int
uid_alloc(struct uidset *u, struct uidturn *t, uint64_t now_ms, uid_t *out)
{
	uint64_t width = (uint64_t)t->hi - t->lo + 1;
	uint64_t mark = uid_mark(now_ms, width);

	if (t->hi < t->lo)
		return -1;
	if (!t->started) {
		t->next = uid_mark(now_ms + UID_AHEAD_SECS * 1000ULL, width);
		t->started = 1;
	} else if (t->next < mark)
		t->next = mark;
	for (uint64_t k = 0; k < width; k++) {
		uid_t uid = (uid_t)(t->lo + (t->next + k) % width);

		if (!uidset_has(u, uid)) {
			if (uidset_add(u, uid) == -1)
				return -1;
			t->next += k + 1;
			*out = uid;
			return 0;
		}
	}
	return -1;
}

/*
 * Deadlines (of sessions, and of the gate's pending connections): a
 * min-heap of nodes embedded in their owners, each knowing its index so
 * that it can leave in O(log n) when its owner goes first.
 */
static void
dheap_swap(struct dheap *h, size_t a, size_t b)
{
	struct dnode *t = h->v[a];

	h->v[a] = h->v[b];
	h->v[b] = t;
	h->v[a]->idx = a;
	h->v[b]->idx = b;
}

static void
dheap_up(struct dheap *h, size_t i)
{
	while (i > 0 && h->v[(i - 1) / 2]->at > h->v[i]->at) {
		dheap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
dheap_down(struct dheap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->len && h->v[l]->at < h->v[m]->at)
			m = l;
		if (r < h->len && h->v[r]->at < h->v[m]->at)
			m = r;
		if (m == i)
			return;
		dheap_swap(h, i, m);
		i = m;
	}
}

int
dheap_push(struct dheap *h, struct dnode *n, int64_t at)
{
	if (h->len == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct dnode **v = realloc(h->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	n->at = at;
	n->idx = h->len;
	h->v[h->len++] = n;
	dheap_up(h, n->idx);
	return 0;
}

void
dheap_remove(struct dheap *h, struct dnode *n)
{
	size_t i = n->idx;

	if (i >= h->len || h->v[i] != n)
		return;
	n->idx = SIZE_MAX;
	if (i == --h->len)
		return;
	h->v[i] = h->v[h->len];
	h->v[i]->idx = i;
	dheap_up(h, i);
	dheap_down(h, h->v[i]->idx);
}

struct dnode *
dheap_top(const struct dheap *h)
{
	return h->len > 0 ? h->v[0] : NULL;
}

void
dheap_free(struct dheap *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}

/* Address ranges ("proxy-from", "pow-exempt"). */

int
cidr_parse(const char *s, struct cidr *out)
{
	char addr[INET6_ADDRSTRLEN + 1], *end;
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int max;
	long bits;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(addr))
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, out->bytes) == 1) {
		out->fam = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, out->bytes) == 1) {
		out->fam = 6;
		max = 128;
	} else
		return -1;
	bits = max;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9' ||
		    (slash[1] == '0' && slash[2] != '\0'))
			return -1;
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || bits > max)
			return -1;
	}
	out->prefix = (uint8_t)bits;
	mask_bits(out->bytes, sizeof(out->bytes), (int)bits);
	return 0;
}

/* Whether sa is in one of the n ranges; IPv4-mapped IPv6 counts as IPv4. */
int
cidr_match(const struct cidr *v, int n, const struct sockaddr *sa)
{
	for (int i = 0; i < n; i++) {
		struct srckey k;

		srckey_make(&k, sa, v[i].prefix, v[i].prefix);
		if (k.fam == v[i].fam &&
		    memcmp(k.bytes, v[i].bytes, sizeof(k.bytes)) == 0)
			return 1;
	}
	return 0;
}

void
cidr_format(const struct cidr *c, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->fam == 4 ? AF_INET : AF_INET6, c->bytes, a, sizeof(a));
	snprintf(out, len, "%s/%d", a, c->prefix);
}
