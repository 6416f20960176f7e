/*
 * test_strikes.c: the table of sources that sent wrong proofs of work
 * (strikes.c): counting, forgetting with time and at a right answer, the
 * prefix as the key, and collisions, which may only ever forget.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "chald.h"
#include "t.h"

static struct srckey
key4(const char *ip, int prefix)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct srckey k;

	inet_pton(AF_INET, ip, &sin.sin_addr);
	srckey_make(&k, (struct sockaddr *)&sin, prefix, 64);
	return k;
}

static struct srckey
key6(const char *ip)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct srckey k;

	inet_pton(AF_INET6, ip, &sin6.sin6_addr);
	srckey_make(&k, (struct sockaddr *)&sin6, 32, 64);
	return k;
}

static void
test_count(void)
{
	struct strikes t;
	struct srckey a = key4("192.0.2.1", 32), b = key4("192.0.2.2", 32);
	int64_t now = 1000000;

	CHECK(strikes_init(&t, 0) == 0 && t.n == STRIKES_SLOTS);
	CHECK(strikes_count(&t, &a, now) == 0);
	strikes_fail(&t, &a, now);
	CHECK(strikes_count(&t, &a, now) == 1);
	CHECK(strikes_count(&t, &b, now) == 0);
	for (int i = 0; i < 9; i++)
		strikes_fail(&t, &a, now + i);
	CHECK(strikes_count(&t, &a, now + 9) == 10);
	/* a right answer wipes the slate */
	strikes_pass(&t, &a);
	CHECK(strikes_count(&t, &a, now + 9) == 0);
	/* and one from another source does not */
	strikes_fail(&t, &a, now + 10);
	strikes_pass(&t, &b);
	CHECK(strikes_count(&t, &a, now + 10) == 1);
	strikes_free(&t);
	CHECK(t.ents == NULL && t.n == 0);
	/* a freed (or never made) table knows no one and takes nothing */
	strikes_fail(&t, &a, now);
	strikes_pass(&t, &a);
	CHECK(strikes_count(&t, &a, now) == 0);
}

/* Forgotten STRIKES_FORGET_MS after the last one, not after the first. */
static void
test_forget(void)
{
	struct strikes t;
	struct srckey a = key4("198.51.100.7", 32);
	int64_t now = 5000000;

	strikes_init(&t, 0);
	strikes_fail(&t, &a, now);
	strikes_fail(&t, &a, now + STRIKES_FORGET_MS / 2);
	CHECK(strikes_count(&t, &a, now + STRIKES_FORGET_MS) == 2);
	CHECK(strikes_count(&t, &a, now + STRIKES_FORGET_MS / 2 +
	    STRIKES_FORGET_MS - 1) == 2);
	CHECK(strikes_count(&t, &a, now + STRIKES_FORGET_MS / 2 +
	    STRIKES_FORGET_MS) == 0);
	/* a strike after the forgetting starts again from one */
	strikes_fail(&t, &a, now + 3 * STRIKES_FORGET_MS);
	CHECK(strikes_count(&t, &a, now + 3 * STRIKES_FORGET_MS) == 1);
	strikes_free(&t);
}

/* The key is the prefix: one /24, one /64, IPv4 and IPv6 apart. */
static void
test_prefix(void)
{
	struct strikes t;
	struct srckey a = key4("203.0.113.5", 24), b = key4("203.0.113.200", 24),
	    c = key4("203.0.114.5", 24);
	struct srckey x = key6("2001:db8:1:2::1"), y = key6("2001:db8:1:2::ffff"),
	    z = key6("2001:db8:1:3::1");
	int64_t now = 777777;

	strikes_init(&t, 0);
	strikes_fail(&t, &a, now);
	CHECK(strikes_count(&t, &b, now) == 1);
	CHECK(strikes_count(&t, &c, now) == 0);
	strikes_fail(&t, &x, now);
	CHECK(strikes_count(&t, &y, now) == 1);
	CHECK(strikes_count(&t, &z, now) == 0);
	strikes_free(&t);
}

/*
 * In a table of one slot every source collides: the newest one holds it,
 * and no source is ever charged with another's strikes.
 */
static void
test_collide(void)
{
	struct strikes t;
	struct srckey a = key4("10.0.0.1", 32), b = key4("10.0.0.2", 32);
	int64_t now = 424242;

	CHECK(strikes_init(&t, 1) == 0 && t.n == 1);
	for (int i = 0; i < 5; i++)
		strikes_fail(&t, &a, now);
	CHECK(strikes_count(&t, &b, now) == 0);
	strikes_fail(&t, &b, now);
	CHECK(strikes_count(&t, &b, now) == 1);
	CHECK(strikes_count(&t, &a, now) == 0);	/* forgotten, not shared */
	strikes_pass(&t, &a);			/* not a's slot any more */
	CHECK(strikes_count(&t, &b, now) == 1);
	strikes_free(&t);

	/* Many sources in the default table: each counts only its own. */
	strikes_init(&t, 0);
	{
		int wrong = 0;

		for (int i = 0; i < 20000; i++) {
			struct sockaddr_in sin = { .sin_family = AF_INET };
			struct srckey k;

			sin.sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)i);
			srckey_make(&k, (struct sockaddr *)&sin, 32, 64);
			strikes_fail(&t, &k, now);
			if (strikes_count(&t, &k, now) != 1)
				wrong++;
		}
		CHECK(wrong == 0);
	}
	strikes_free(&t);
}

int
main(void)
{
	test_count();
	test_forget();
	test_prefix();
	test_collide();
	T_DONE();
}
