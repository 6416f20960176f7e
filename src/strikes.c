/*
 * strikes.c: which sources sent a wrong proof of work lately, so that the
 * gate checks theirs last and only with CPU time nobody else wants
 * (gate.c). No I/O.
 *
 * A fixed table, direct-mapped by a hash of the source prefix: O(1) per
 * look-up and bounded memory, however many sources flood. A collision
 * only ever forgets a strike (the key is compared), so an attacker who
 * picks colliding addresses can make itself look new again, never make
 * another source look suspect. A strike is forgotten after STRIKES_FORGET_MS
 * without another one, or at the source's next right solution.
 */
#include <stdlib.h>
#include <string.h>

#include "chald.h"

static size_t
strikes_slot(const struct strikes *t, const struct srckey *k)
{
	uint32_t h = 2166136261u;

	h = (h ^ k->fam) * 16777619u;
	for (size_t i = 0; i < sizeof(k->bytes); i++)
		h = (h ^ k->bytes[i]) * 16777619u;
	return h % t->n;
}

static int
key_same(const struct srckey *a, const struct srckey *b)
{
	return a->fam == b->fam && memcmp(a->bytes, b->bytes,
	    sizeof(a->bytes)) == 0;
}

/* n entries, 0 for the default; -1 when out of memory. */
int
strikes_init(struct strikes *t, size_t n)
{
	t->n = n > 0 ? n : STRIKES_SLOTS;
	t->ents = calloc(t->n, sizeof(*t->ents));
	return t->ents != NULL ? 0 : -1;
}

void
strikes_free(struct strikes *t)
{
	free(t->ents);
	t->ents = NULL;
	t->n = 0;
}

/* The wrong solutions in a row from k, counting only recent ones. */
unsigned
strikes_count(const struct strikes *t, const struct srckey *k, int64_t now)
{
	const struct strike *e;

	if (t->n == 0)
		return 0;
	e = &t->ents[strikes_slot(t, k)];
	if (e->count == 0 || !key_same(&e->key, k) ||
	    now - e->last_ms >= STRIKES_FORGET_MS)
		return 0;
	return e->count;
}

/* k sent a wrong solution at now. */
void
strikes_fail(struct strikes *t, const struct srckey *k, int64_t now)
{
	struct strike *e;

	if (t->n == 0)
		return;
	e = &t->ents[strikes_slot(t, k)];
	if (!key_same(&e->key, k) || now - e->last_ms >= STRIKES_FORGET_MS) {
		e->key = *k;
		e->count = 0;
	}
	if (e->count < UINT32_MAX)
		e->count++;
	e->last_ms = now;
}

/* k sent a right one: its slate is clean. */
void
strikes_pass(struct strikes *t, const struct srckey *k)
{
	struct strike *e;

	if (t->n == 0)
		return;
	e = &t->ents[strikes_slot(t, k)];
	if (key_same(&e->key, k))
		e->count = 0;
}
