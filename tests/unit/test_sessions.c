/*
 * test_sessions.c: the parent's pure bookkeeping: source prefixes, per-source
 * counts and token buckets, sessions by pid and deadline order.
 */
#include <arpa/inet.h>

#include <stdint.h>
#include <stdlib.h>

#include "chald.h"
#include "t.h"

static struct sockaddr_storage
addr(const char *s)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, s,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	return ss;
}

static int
same_source(const char *a, const char *b, int v4, int v6)
{
	struct sockaddr_storage sa = addr(a), sb = addr(b);
	struct srckey ka, kb;

	srckey_make(&ka, (struct sockaddr *)&sa, v4, v6);
	srckey_make(&kb, (struct sockaddr *)&sb, v4, v6);
	return memcmp(&ka, &kb, sizeof(ka)) == 0;
}

static void
test_prefixes(void)
{
	CHECK(same_source("203.0.113.7", "203.0.113.7", 32, 64));
	CHECK(!same_source("203.0.113.7", "203.0.113.8", 32, 64));
	CHECK(same_source("203.0.113.7", "203.0.113.200", 24, 64));
	CHECK(!same_source("203.0.113.7", "203.0.114.7", 24, 64));
	CHECK(same_source("10.1.2.3", "10.200.2.3", 8, 64));
	CHECK(same_source("10.1.2.3", "99.1.2.3", 0, 64));
	CHECK(same_source("10.1.2.3", "10.1.2.2", 31, 64));
	CHECK(!same_source("10.1.2.3", "10.1.2.4", 31, 64));
	/* IPv6 /64: the interface id is the player's to choose. */
	CHECK(same_source("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", 32, 64));
	CHECK(!same_source("2001:db8:1:2::1", "2001:db8:1:3::1", 32, 64));
	CHECK(same_source("2001:db8:1:2::1", "2001:db8:1:3::1", 32, 48));
	CHECK(!same_source("2001:db8::1", "2001:db8::2", 32, 128));
	CHECK(same_source("2001:db8::1", "2001:db8::1", 32, 128));
	/* A v4-mapped peer on a dual-stack listener is the same IPv4 host. */
	CHECK(same_source("::ffff:198.51.100.4", "198.51.100.4", 32, 64));
	CHECK(!same_source("::ffff:198.51.100.4", "198.51.100.5", 32, 64));
	/* Families never mix, even with zero-length prefixes. */
	CHECK(!same_source("0.0.0.0", "::", 0, 0));
}

static void
test_sources(void)
{
	struct srctable t;
	struct srckey k;
	struct sockaddr_storage ss = addr("192.0.2.1");
	struct source *s;

	CHECK(srctable_init(&t) == 0);
	srckey_make(&k, (struct sockaddr *)&ss, 32, 64);
	CHECK(srctable_get(&t, &k, 0) == NULL);
	s = srctable_get(&t, &k, 1);
	CHECK(s != NULL && s->conns == 0);
	CHECK(srctable_get(&t, &k, 1) == s);
	CHECK(t.count == 1);
	s->conns = 2;
	srctable_release(&t, &k, 0, 0, 0);
	CHECK(srctable_get(&t, &k, 0) == s && s->conns == 1);
	srctable_release(&t, &k, 0, 0, 0);
	/* No session and no rate: nothing to remember. */
	CHECK(srctable_get(&t, &k, 0) == NULL);
	CHECK(t.count == 0);

	/* Many sources: the table grows and finds each again. */
	for (int i = 0; i < 5000; i++) {
		struct sockaddr_in sin = { .sin_family = AF_INET };

		sin.sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)i);
		srckey_make(&k, (struct sockaddr *)&sin, 32, 64);
		s = srctable_get(&t, &k, 1);
		if (s != NULL)
			s->conns = i % 2;
	}
	CHECK(t.count == 5000);
	CHECK(t.nbuckets >= 4096);
	{
		struct sockaddr_in sin = { .sin_family = AF_INET };
		int found = 1;

		for (int i = 0; i < 5000; i++) {
			sin.sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)i);
			srckey_make(&k, (struct sockaddr *)&sin, 32, 64);
			s = srctable_get(&t, &k, 0);
			found &= s != NULL && s->conns == i % 2;
		}
		CHECK(found);
	}
	/* The sweep drops exactly the idle half. */
	CHECK(srctable_expire(&t, 0, 0, 0) == 2500);
	CHECK(t.count == 2500);
	srctable_free(&t);
}

static void
test_bucket(void)
{
	struct srctable t;
	struct srckey k;
	struct sockaddr_storage ss = addr("192.0.2.9");
	struct source *s;
	int64_t now = 1000000;

	srctable_init(&t);
	srckey_make(&k, (struct sockaddr *)&ss, 32, 64);
	s = srctable_get(&t, &k, 1);
	/* rate 2/s, burst 3: three at once, then one per 500 ms. */
	CHECK(source_take_token(s, 2, 3, now));
	CHECK(source_take_token(s, 2, 3, now));
	CHECK(source_take_token(s, 2, 3, now));
	CHECK(!source_take_token(s, 2, 3, now));
	CHECK(!source_take_token(s, 2, 3, now + 400));
	CHECK(source_take_token(s, 2, 3, now + 500));
	CHECK(!source_take_token(s, 2, 3, now + 600));
	/* A long pause refills only up to the burst. */
	now += 3600 * 1000;
	CHECK(source_take_token(s, 2, 3, now));
	CHECK(source_take_token(s, 2, 3, now));
	CHECK(source_take_token(s, 2, 3, now));
	CHECK(!source_take_token(s, 2, 3, now));
	/* Rate 0 never refuses. */
	{
		int all = 1;

		for (int i = 0; i < 100; i++)
			all &= source_take_token(s, 0, 0, now);
		CHECK(all);
	}
	/* Not idle while its bucket is refilling, idle once full. */
	CHECK(srctable_expire(&t, 2, 3, now) == 0);
	CHECK(srctable_expire(&t, 2, 3, now + 1499) == 0);
	CHECK(srctable_expire(&t, 2, 3, now + 1500) == 1);
	/* Time going backwards (it can't, but) does not mint tokens. */
	s = srctable_get(&t, &k, 1);
	CHECK(source_take_token(s, 1, 1, now));
	CHECK(!source_take_token(s, 1, 1, now - 5000));
	srctable_free(&t);
}

static void
test_table(void)
{
	struct sesstable t;
	struct session *s = calloc(3000, sizeof(*s));
	unsigned seed = 12345;
	int64_t last;
	int ordered = 1, n = 0, added = 1;

	CHECK(sesstable_init(&t) == 0);
	for (int i = 0; i < 3000; i++) {
		seed = seed * 1103515245u + 12345u;
		s[i].pid = 1000 + i * 7;
		/* A third of the sessions have no deadline. */
		s[i].deadline.at = i % 3 == 0 ? 0 : 1 + (seed >> 8) % 100000;
		added &= sesstable_add(&t, &s[i]) == 0;
	}
	CHECK(added);
	CHECK(t.count == 3000);
	CHECK(t.deadlines.len == 2000);
	CHECK(sesstable_find(&t, 1000 + 5 * 7) == &s[5]);
	CHECK(sesstable_find(&t, 999) == NULL);
	/* Remove every fifth from the middle of the heap. */
	for (int i = 0; i < 3000; i += 5)
		sesstable_remove(&t, &s[i]);
	CHECK(t.count == 2400);
	CHECK(sesstable_find(&t, 1000) == NULL);
	CHECK(sesstable_find(&t, 1000 + 7) == &s[1]);
	/* What is left comes out in deadline order. */
	last = 0;
	while (sesstable_next_deadline(&t) != NULL) {
		struct session *d = sesstable_next_deadline(&t);

		ordered &= d->deadline.at >= last;
		last = d->deadline.at;
		sesstable_clear_deadline(&t, d);
		n++;
	}
	CHECK(ordered);
	CHECK(n == 1600);
	/* Clearing the deadline keeps the session findable by pid. */
	CHECK(sesstable_find(&t, 1000 + 7) == &s[1]);
	CHECK(t.count == 2400);
	sesstable_free(&t);
	free(s);
}

static void
test_uids(void)
{
	struct uidset u;
	struct uidturn *turns = NULL, *t;
	uid_t uid, got[10];
	int distinct = 1;

	CHECK(uidset_init(&u) == 0);
	t = uid_turn(&turns, 1000, 1009);
	CHECK(t != NULL);
	/* One turn per range: services that share a range share it. */
	CHECK(uid_turn(&turns, 1000, 1009) == t);
	CHECK(uid_turn(&turns, 1000, 1019) != t);
	CHECK(uid_turn(&turns, 1009, 1000) == NULL);
	/* A range of 10: ten distinct uids, then none. */
	for (int i = 0; i < 10; i++) {
		CHECK(uid_alloc(&u, t, 0, &got[i]) == 0);
		for (int j = 0; j < i; j++)
			distinct &= got[i] != got[j];
	}
	CHECK(distinct);
	CHECK(got[0] == 1000 && got[9] == 1009);
	CHECK(uid_alloc(&u, t, 0, &uid) == -1);
	/* A freed uid is found again, and only that one. */
	uidset_del(&u, 1004);
	CHECK(!uidset_has(&u, 1004));
	CHECK(uid_alloc(&u, t, 0, &uid) == 0 && uid == 1004);
	/* In turn: a just-freed uid is not reused while others are free. */
	uidset_del(&u, 1004);
	uidset_del(&u, 1005);
	CHECK(uid_alloc(&u, t, 0, &uid) == 0 && uid == 1005);
	for (uid_t i = 1000; i <= 1009; i++)
		uidset_del(&u, i);
	/* Each session ends before the next starts: still every uid of the
	 * range once before the first comes back. */
	{
		struct uidturn *w = uid_turn(&turns, 2000, 2099);
		int seen[100] = { 0 }, once = 1;

		for (int i = 0; i < 100; i++) {
			once &= uid_alloc(&u, w, 0, &uid) == 0;
			once &= uid >= 2000 && uid <= 2099 && !seen[uid - 2000]++;
			uidset_del(&u, uid);
		}
		CHECK(once);
		CHECK(uid_alloc(&u, w, 0, &uid) == 0 && uid == 2000);
		uidset_del(&u, uid);
	}
	/* The clock's mark: a new turn (a restart) starts a minute of the
	 * mark's way ahead of it, past what a life before it used at no more
	 * than the sweep rate; it moves half the range in a day, and all of
	 * it in UID_SWEEP_SECS. Times in ms. */
	{
		struct uidturn *a = NULL, *b = NULL;
		const uint64_t t0 = 1700000000000ULL, width = 100000000;
		const uint64_t day = 86400000ULL;
		uid_t first, last = 0, after;
		int ahead = 1;

		first = 0;
		CHECK(uid_alloc(&u, uid_turn(&a, UID_DEFAULT_MIN,
		    UID_DEFAULT_MAX), t0, &first) == 0);
		uidset_del(&u, first);
		/* 300 sessions a second for a minute: below 578/s. */
		for (uint64_t ms = 0; ms < 60000; ms += 1000)
			for (int i = 0; i < 300; i++) {
				uid_t prev = last;

				ahead &= uid_alloc(&u, a, t0 + ms, &last) == 0;
				ahead &= prev == 0 || last == prev + 1;
				uidset_del(&u, last);
			}
		CHECK(ahead);
		/* restarted a second later */
		CHECK(uid_alloc(&u, uid_turn(&b, UID_DEFAULT_MIN,
		    UID_DEFAULT_MAX), t0 + 61000, &after) == 0);
		CHECK(after > last && after - last < 40000);
		uidset_del(&u, after);
		uid_turns_free(&b);
		/* restarted a day later, and two */
		CHECK(uid_alloc(&u, uid_turn(&b, UID_DEFAULT_MIN,
		    UID_DEFAULT_MAX), t0 + day, &after) == 0);
		CHECK(((int64_t)after - first + (int64_t)width) %
		    (int64_t)width == (int64_t)width / 2);
		uidset_del(&u, after);
		uid_turns_free(&b);
		CHECK(uid_alloc(&u, uid_turn(&b, UID_DEFAULT_MIN,
		    UID_DEFAULT_MAX), t0 + UID_SWEEP_SECS * 1000ULL, &after) ==
		    0);
		CHECK(after == first);
		uidset_del(&u, after);
		/* idle for an hour: the turn moves up to the mark */
		CHECK(uid_alloc(&u, a, t0 + 3600000, &after) == 0);
		CHECK(after > last + 1);
		uidset_del(&u, after);
		uid_turns_free(&a);
		uid_turns_free(&b);
	}
	/* The default range holds a day of sessions at 1000 a second. */
	CHECK((uint64_t)UID_DEFAULT_MAX - UID_DEFAULT_MIN + 1 >=
	    86400ULL * 1000);
	CHECK(UID_DEFAULT_MAX < 0x7FFE0000U);	/* systemd's foreign range */
	/* Growth and tombstones: many adds and deletes stay consistent. */
	{
		int ok = 1;

		for (uid_t i = 0; i < 20000; i++)
			ok &= uidset_add(&u, 500000 + i) == 0;
		for (uid_t i = 0; i < 20000; i += 2)
			uidset_del(&u, 500000 + i);
		for (uid_t i = 0; i < 20000; i++)
			ok &= uidset_has(&u, 500000 + i) == (i % 2 == 1);
		CHECK(ok);
		CHECK(u.count == 10000);
	}
	uid_turns_free(&turns);
	uidset_free(&u);
}

/* The gate's deadlines: pushed in any order, removed from the middle,
 * taken out in order. */
static void
test_dheap(void)
{
	struct dheap h = { 0 };
	struct dnode n[500];
	uint32_t seed = 7;
	int64_t last = 0;
	int ordered = 1;
	size_t left = 0;

	CHECK(dheap_top(&h) == NULL);
	for (int i = 0; i < 500; i++) {
		seed = seed * 1103515245u + 12345u;
		CHECK(dheap_push(&h, &n[i], 1 + (seed >> 8) % 1000) == 0);
	}
	for (int i = 0; i < 500; i += 3)
		dheap_remove(&h, &n[i]);
	dheap_remove(&h, &n[0]);	/* twice: nothing happens */
	CHECK(h.len == 500 - 167);
	for (struct dnode *t; (t = dheap_top(&h)) != NULL; left++) {
		ordered &= t->at >= last;
		last = t->at;
		dheap_remove(&h, t);
		CHECK(t->idx == SIZE_MAX);
	}
	CHECK(ordered);
	CHECK(left == 500 - 167);
	dheap_free(&h);
}

static void
test_cidrs(void)
{
	struct cidr c[3];
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	char buf[64];

	CHECK(cidr_parse("10.1.0.0/16", &c[0]) == 0);
	CHECK(cidr_parse("2001:db8::/32", &c[1]) == 0);
	CHECK(cidr_parse("192.0.2.7", &c[2]) == 0);
	cidr_format(&c[0], buf, sizeof(buf));
	CHECK_STR(buf, "10.1.0.0/16");
	cidr_format(&c[2], buf, sizeof(buf));
	CHECK_STR(buf, "192.0.2.7/32");
	CHECK(cidr_parse("10.1.2.3/16", &c[0]) == 0);	/* masked */
	cidr_format(&c[0], buf, sizeof(buf));
	CHECK_STR(buf, "10.1.0.0/16");
	CHECK(cidr_parse("10.0.0.0/33", &c[0]) == -1);
	CHECK(cidr_parse("10.0.0.0/", &c[0]) == -1);
	CHECK(cidr_parse("10.0.0.0/08", &c[0]) == -1);
	CHECK(cidr_parse("10.0.0.0/-1", &c[0]) == -1);
	CHECK(cidr_parse("::/129", &c[0]) == -1);
	CHECK(cidr_parse("example.com", &c[0]) == -1);
	CHECK(cidr_parse("", &c[0]) == -1);
	CHECK(cidr_parse("10.1.0.0/16", &c[0]) == 0);

	inet_pton(AF_INET, "10.1.200.9", &a4.sin_addr);
	CHECK(cidr_match(c, 3, (struct sockaddr *)&a4));
	inet_pton(AF_INET, "10.2.0.1", &a4.sin_addr);
	CHECK(!cidr_match(c, 3, (struct sockaddr *)&a4));
	CHECK(!cidr_match(c, 0, (struct sockaddr *)&a4));
	/* a dual-stack listener's IPv4 peer is IPv4-mapped */
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &a6.sin6_addr);
	CHECK(cidr_match(c, 3, (struct sockaddr *)&a6));
	inet_pton(AF_INET6, "2001:db8:ffff::1", &a6.sin6_addr);
	CHECK(cidr_match(c, 3, (struct sockaddr *)&a6));
	inet_pton(AF_INET6, "2001:db9::1", &a6.sin6_addr);
	CHECK(!cidr_match(c, 3, (struct sockaddr *)&a6));
}

int
main(void)
{
	test_dheap();
	test_cidrs();
	test_uids();
	test_prefixes();
	test_sources();
	test_bucket();
	test_table();
	T_DONE();
}
