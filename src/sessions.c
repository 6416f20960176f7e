/*
 * sessions.c: the parent's bookkeeping, with no I/O so it can be unit
 * tested: live sessions by pid, their deadlines in a min-heap, and per-source
 * counts and token buckets keyed by address prefix. Every operation on the
 * accept and reap paths is O(1) on average or O(log n), so the parent's cost
 * per connection does not grow with the number of live sessions.
 */
#include <arpa/inet.h>

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
	free(t->heap);
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

static void
heap_swap(struct sesstable *t, size_t a, size_t b)
{
	struct session *tmp = t->heap[a];

	t->heap[a] = t->heap[b];
	t->heap[b] = tmp;
	t->heap[a]->heap_idx = a;
	t->heap[b]->heap_idx = b;
}

static void
heap_up(struct sesstable *t, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (t->heap[p]->deadline_ms <= t->heap[i]->deadline_ms)
			break;
		heap_swap(t, i, p);
		i = p;
	}
}

static void
heap_down(struct sesstable *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < t->heaplen &&
		    t->heap[l]->deadline_ms < t->heap[m]->deadline_ms)
			m = l;
		if (r < t->heaplen &&
		    t->heap[r]->deadline_ms < t->heap[m]->deadline_ms)
			m = r;
		if (m == i)
			break;
		heap_swap(t, i, m);
		i = m;
	}
}

/* Gives a session (a pooled jail being handed out) its deadline. */
int
sesstable_set_deadline(struct sesstable *t, struct session *s,
    int64_t deadline_ms)
{
	sesstable_clear_deadline(t, s);
	s->deadline_ms = deadline_ms;
	if (deadline_ms <= 0)
		return 0;
	if (t->heaplen == t->heapcap) {
		size_t cap = t->heapcap ? t->heapcap * 2 : 64;
		struct session **n = realloc(t->heap, cap * sizeof(*n));

		if (n == NULL)
			return -1;
		t->heap = n;
		t->heapcap = cap;
	}
	s->heap_idx = t->heaplen;
	t->heap[t->heaplen++] = s;
	heap_up(t, s->heap_idx);
	return 0;
}

int
sesstable_add(struct sesstable *t, struct session *s)
{
	size_t h;

	s->heap_idx = SIZE_MAX;
	if (sesstable_set_deadline(t, s, s->deadline_ms) == -1)
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
	size_t i = s->heap_idx;

	if (i == SIZE_MAX)
		return;
	s->heap_idx = SIZE_MAX;
	t->heaplen--;
	if (i == t->heaplen)
		return;
	t->heap[i] = t->heap[t->heaplen];
	t->heap[i]->heap_idx = i;
	heap_up(t, i);
	heap_down(t, t->heap[i]->heap_idx);
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
	return t->heaplen > 0 ? t->heap[0] : NULL;
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
