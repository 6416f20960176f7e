/*
 * test_pow.c: kCTF's proof of work (pow.c): published vectors, challenges
 * solved here with GMP's exponentiation (the solver's side, which pow.c
 * does not have), the squarings compared with GMP's own modular powers,
 * chunked against one-shot checks, the bound on a solution, one check
 * loaded again and again without an allocation, malformed solutions, the line scanner,
 * the prompt, and the answers of tests/integration/powsolve.py, the
 * independent Python solver (run with $PYTHON, from the top of the tree).
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "pow.h"
#include "t.h"

static char err[256];

/* Published with the kctf and kctf-pow solvers (crates.io): a kCTF-encoded
 * challenge (difficulty 1337 in 3 bytes) and a redpwn-encoded one (50 in 4
 * bytes) whose solution squares to p - x. Both solutions are written in as
 * few bytes as they take. */
static const struct {
	const char	*chal, *sol;
	uint32_t	 difficulty;
} vectors[] = {
	{ "s.AAU5.AACV7mM375HM8wElUbxsknqD",
	  "s.LR15WHZE5YO/8EEY9BF7pdvxiJxwkDi7mdS52bg7eVUdHbAwBVxfahl/qxceccZV"
	  "2PHkj4wQTQ9Ng837/KD9IWQL4v2GmRyjc5O9MxiAXBtxn7FYjjA2as/17lF2lEtQtA"
	  "BbSEUgxam+sIsdfDJMAUzn4fYsS7vOarXh7iY6ZYknrwt1S8EHyQeYkoTUzkpUIVAu"
	  "Svl8jExcPzvmuaoM6A==", 1337 },
	{ "s.AAAAMg==.NDtqORW1uZlIgzszbdMGZA==",
	  "s.NUH3arymnKB+ysUGdv+67ypDamn4wOKCPORB2ivWE1Yhinam2v4S6q4nAoC5LP97"
	  "LScdVoq+NuFVF++Win5mNRYZS6bJAs8fk0h8XgvfcC/7JfmFISqeCIo/CIUgIucVAM"
	  "+eGDjqitRULGXqIOyviJoJjW8DMouMRuJM/3eg/z18kutQHkX0N3sqPeF7Nzkk8S3B"
	  "s6aiHUORM30syUKYug==", 50 },
};

/* The solver's side and a reference check, with GMP's modular powers. */

static void
modulus(mpz_t p)
{
	mpz_init(p);
	mpz_setbit(p, 1279);
	mpz_sub_ui(p, p, 1);
}

static void
solve(mpz_t y, const struct pow_chal *c)
{
	mpz_t p, e;

	modulus(p);
	mpz_init(e);
	mpz_setbit(e, 1277);		/* (p + 1) / 4 */
	mpz_import(y, c->xlen, 1, 1, 1, 0, c->x);
	for (uint32_t i = 0; i < c->difficulty; i++) {
		mpz_powm(y, y, e, p);
		mpz_combit(y, 0);
	}
	mpz_clear(p);
	mpz_clear(e);
}

/* kCTF's sloth_square, step by step: y = pow(y ^ 1, 2, p). */
static void
square_ref(mpz_t y, uint32_t rounds)
{
	mpz_t p, two;

	modulus(p);
	mpz_init_set_ui(two, 2);
	for (uint32_t i = 0; i < rounds; i++) {
		mpz_combit(y, 0);
		mpz_powm(y, y, two, p);
	}
	mpz_clear(p);
	mpz_clear(two);
}

/* Base64, written again here rather than taken from pow.c. */
static void
b64(char *out, const unsigned char *in, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0) |
		    (i + 2 < n ? in[i + 2] : 0);

		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? a[v & 63] : '=';
	}
	out[o] = '\0';
}

/* "s.<y>" with y in size bytes (0: as few as it takes). */
static void
sol_text(char *out, const mpz_t y, size_t size)
{
	unsigned char bytes[POW_NUM_MAX + 8];
	size_t n = (mpz_sizeinbase(y, 2) + 7) / 8, off;

	if (size == 0)
		size = n;
	memset(bytes, 0, sizeof(bytes));
	off = size - n;
	mpz_export(bytes + off, &n, 1, 1, 1, 0, y);
	memcpy(out, "s.", 2);
	b64(out + 2, bytes, size);
}

static size_t
kctf_size(const mpz_t y)
{
	return mpz_sizeinbase(y, 2) / 24 * 3 + 3;
}

static int
verify_str(const struct pow_chal *c, const char *line)
{
	err[0] = '\0';
	return pow_verify(c, (const unsigned char *)line, strlen(line), err,
	    sizeof(err));
}

static uint64_t rng = 0x243f6a8885a308d3u;

static void
random_bytes(unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		b[i] = (unsigned char)(rng >> 24);
	}
}

static void
test_vectors(void)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct pow_chal c;
		char line[600];
		mpz_t y;

		CHECK(pow_chal_parse(&c, vectors[i].chal,
		    strlen(vectors[i].chal), err, sizeof(err)) == 0);
		CHECK(c.difficulty == vectors[i].difficulty);
		CHECK_STR(c.text, vectors[i].chal);
		CHECK(verify_str(&c, vectors[i].sol) == 1);
		/* as a terminal sends it */
		snprintf(line, sizeof(line), "  %s\r\n", vectors[i].sol);
		CHECK(verify_str(&c, line) == 1);
		/* the same number in kCTF's encoding */
		mpz_init(y);
		solve(y, &c);
		sol_text(line, y, kctf_size(y));
		CHECK(strlen(line) == 2 + 216 && line[strlen(line) - 1] != '=');
		CHECK(verify_str(&c, line) == 1);
		/* and with leading zero bytes to spare */
		sol_text(line, y, 180);
		CHECK(verify_str(&c, line) == 1);
		/* one character changed, still base64: wrong */
		strcpy(line, vectors[i].sol);
		line[10] = line[10] == 'A' ? 'B' : 'A';
		CHECK(verify_str(&c, line) == 0);
		mpz_clear(y);
	}
}

static void
test_make(void)
{
	static const struct {
		uint32_t	 difficulty;
		unsigned char	 rnd[POW_RANDOM];
		const char	*text;
	} made[] = {
		{ 1337, { 0x95, 0xee, 0x63, 0x37, 0xef, 0x91, 0xcc, 0xf3, 0x01,
		  0x25, 0x51, 0xbc, 0x6c, 0x92, 0x7a, 0x83 },
		  "s.AAU5.AACV7mM375HM8wElUbxsknqD" },
		{ 1, { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
		  "s.AAAB.AQIDBAUGBwgJCgsMDQ4P" },
		{ POW_DIFF_MAX, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		  "s.f///.AAD/////////////////////" },
		{ 50, { 0 }, "s.AAAy.AAAA" },
	};
	struct pow_chal c, c2;

	/* The texts kCTF's encode_challenge() gives for the same numbers. */
	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
		CHECK(pow_chal_make(&c, made[i].difficulty, made[i].rnd, err,
		    sizeof(err)) == 0);
		CHECK_STR(c.text, made[i].text);
		CHECK(pow_chal_parse(&c2, c.text, strlen(c.text), err,
		    sizeof(err)) == 0);
		CHECK(c2.difficulty == c.difficulty);
		CHECK(c2.xlen <= POW_RANDOM + 2);
	}
	/* The first is the published vector's challenge: its answer holds. */
	pow_chal_make(&c, made[0].difficulty, made[0].rnd, err, sizeof(err));
	CHECK(verify_str(&c, vectors[0].sol) == 1);

	CHECK(pow_chal_make(&c, 0, made[0].rnd, err, sizeof(err)) == -1);
	CHECK(strstr(err, "difficulty") != NULL);
	CHECK(pow_chal_make(&c, POW_DIFF_MAX + 1, made[0].rnd, err,
	    sizeof(err)) == -1);
	CHECK(pow_chal_make(&c, UINT32_MAX, made[0].rnd, NULL, 0) == -1);

	/* Challenges that do not parse */
	static const char *const badchal[] = {
		"", "s", "s.", "s.AAAy", "x.AAAy.AAAA", "s.AAAy.", "s..AAAA",
		"s.AAAAAAA=.AAAA", "s.AAAy.AAA", "s.AA!y.AAAA", "S.AAAy.AAAA",
		"s.AAAy.AAAA.AAAA",
	};
	for (size_t i = 0; i < sizeof(badchal) / sizeof(badchal[0]); i++)
		CHECK(pow_chal_parse(&c, badchal[i], strlen(badchal[i]), err,
		    sizeof(err)) == -1 && err[0] != '\0');
}

/* Solved here, checked by pow.c, in both encodings; near misses fail. */
static void
test_solve(void)
{
	static const uint32_t diffs[] = { 1, 2, 3, 10, 100, 257 };

	for (size_t i = 0; i < sizeof(diffs) / sizeof(diffs[0]); i++) {
		for (int k = 0; k < 4; k++) {
			unsigned char rnd[POW_RANDOM];
			struct pow_chal c;
			char line[600];
			mpz_t y;

			random_bytes(rnd, sizeof(rnd));
			if (k == 0)
				memset(rnd, 0, 8);	/* a short x */
			CHECK(pow_chal_make(&c, diffs[i], rnd, err,
			    sizeof(err)) == 0);
			mpz_init(y);
			solve(y, &c);
			sol_text(line, y, kctf_size(y));
			CHECK(verify_str(&c, line) == 1);
			sol_text(line, y, 0);
			CHECK(verify_str(&c, line) == 1);
			mpz_add_ui(y, y, 2);
			sol_text(line, y, 0);
			CHECK(verify_str(&c, line) == 0);
			mpz_combit(y, 1);
			mpz_combit(y, 0);	/* y + 1: the xor's own */
			sol_text(line, y, 0);
			CHECK(verify_str(&c, line) == 0);
			mpz_clear(y);
		}
	}
}

/*
 * pow.c's squarings (with a shift-and-add reduction) against GMP's modular
 * power, after each of several steps, for numbers of every size it takes:
 * below p, p itself and around it, and up to POW_NUM_MAX bytes.
 */
static void
test_squarings(void)
{
	struct pow_chal c;
	int same = 1, cases = 0, big = 0;
	mpz_t p;

	modulus(p);
	pow_chal_make(&c, 40, (const unsigned char *)"0123456789abcdef", err,
	    sizeof(err));
	for (int k = 0; k < 300; k++) {
		unsigned char bytes[POW_NUM_MAX];
		size_t n = 1 + (size_t)k % POW_NUM_MAX;
		char line[600];
		struct pow_verify v;
		mpz_t y;

		mpz_init(y);
		random_bytes(bytes, n);
		mpz_import(y, n, 1, 1, 1, 0, bytes);
		switch (k) {
		case 0: mpz_set(y, p); break;
		case 1: mpz_sub_ui(y, p, 1); break;
		case 2: mpz_add_ui(y, p, 1); break;
		case 3: mpz_set_ui(y, 0); break;
		case 4: mpz_mul_2exp(y, p, 1); break;
		case 5:
			mpz_set_ui(y, 0);
			mpz_setbit(y, POW_NUM_MAX * 8);
			mpz_sub_ui(y, y, 1);
			break;
		}
		sol_text(line, y, 0);
		if (mpz_sizeinbase(y, 2) > 1279) {
			/* no solver sends one: refused before any squaring */
			if (pow_verify_start(&v, &c, (unsigned char *)line,
			    strlen(line), err, sizeof(err)) != -1 ||
			    strcmp(err, "solution is not below 2^1279") != 0)
				same = 0;
			else
				big++;
			mpz_clear(y);
			continue;
		}
		if (pow_verify_start(&v, &c, (unsigned char *)line,
		    strlen(line), err, sizeof(err)) != 0) {
			same = 0;
			mpz_clear(y);
			continue;
		}
		for (uint32_t step = 1; step <= 5; step++) {
			pow_verify_step(&v, step);
			square_ref(y, step);
			if (mpz_cmp(v.y, y) != 0)
				same = 0;
		}
		cases++;
		pow_verify_free(&v);
		mpz_clear(y);
	}
	CHECK(same);
	CHECK(cases + big == 300);
	CHECK(big > 0 && cases > 0);
	mpz_clear(p);
}

/*
 * The bound of pow_solution_parse: 2^1279 - 1 (p, which a solver can send
 * in theory: a root of p - 1 with its bit flipped) passes, in any number of
 * bytes with leading zeros; 2^1279 does not.
 */
static void
test_bound(void)
{
	unsigned char y[POW_NUM_MAX];
	size_t ylen = 0;
	char line[600];
	mpz_t v;

	mpz_init(v);
	modulus(v);
	sol_text(line, v, 0);
	CHECK(pow_solution_parse((unsigned char *)line, strlen(line), y, &ylen,
	    err, sizeof(err)) == 0 && ylen == 160 && y[0] == 0x7f);
	sol_text(line, v, kctf_size(v));
	CHECK(pow_solution_parse((unsigned char *)line, strlen(line), y, &ylen,
	    err, sizeof(err)) == 0 && ylen == 162);
	sol_text(line, v, POW_NUM_MAX);
	CHECK(pow_solution_parse((unsigned char *)line, strlen(line), y, &ylen,
	    err, sizeof(err)) == 0 && ylen == POW_NUM_MAX);
	mpz_add_ui(v, v, 1);
	sol_text(line, v, 0);
	CHECK(pow_solution_parse((unsigned char *)line, strlen(line), y, &ylen,
	    err, sizeof(err)) == -1);
	CHECK_STR(err, "solution is not below 2^1279");
	sol_text(line, v, POW_NUM_MAX);
	CHECK(pow_solution_parse((unsigned char *)line, strlen(line), y, &ylen,
	    err, sizeof(err)) == -1);
	mpz_set_ui(v, 0);
	sol_text(line, v, 1);
	CHECK(pow_solution_parse((unsigned char *)line, strlen(line), y, &ylen,
	    err, sizeof(err)) == 0 && ylen == 1);
	mpz_clear(v);
}

/* GMP's allocator, counted: a loaded check must square without it. */
static size_t allocs;

static void *
count_alloc(size_t n)
{
	allocs++;
	return malloc(n);
}

static void *
count_realloc(void *p, size_t old, size_t n)
{
	(void)old;
	allocs++;
	return realloc(p, n);
}

static void
count_free(void *p, size_t n)
{
	(void)n;
	free(p);
}

/*
 * One pow_verify, loaded again and again (as gate.c's checker slots are),
 * answers like a fresh one-shot check, and allocates nothing after
 * pow_verify_init: the checker threads must not take malloc's locks.
 */
static void
test_reload(void)
{
	struct pow_verify v;
	int agree = 1;
	size_t during = 0;

	mp_set_memory_functions(count_alloc, count_realloc, count_free);
	pow_verify_init(&v);
	for (int k = 0; k < 40; k++) {
		unsigned char rnd[POW_RANDOM], y[POW_NUM_MAX];
		struct pow_chal c;
		char line[600];
		size_t ylen, before;
		mpz_t sol;
		int r, want;

		random_bytes(rnd, sizeof(rnd));
		pow_chal_make(&c, 20 + (uint32_t)k, rnd, err, sizeof(err));
		mpz_init(sol);
		solve(sol, &c);
		if (k % 2 == 1)
			mpz_add_ui(sol, sol, 2);	/* a wrong one */
		sol_text(line, sol, kctf_size(sol));
		mpz_clear(sol);
		want = verify_str(&c, line);
		if (pow_solution_parse((unsigned char *)line, strlen(line), y,
		    &ylen, err, sizeof(err)) == -1) {
			agree = 0;
			continue;
		}
		before = allocs;
		pow_verify_load(&v, &c, y, ylen);
		while ((r = pow_verify_step(&v, 7)) == 0)
			;
		during += allocs - before;
		if ((r == 1) != (want == 1) || want != (k % 2 == 0))
			agree = 0;
	}
	pow_verify_free(&v);
	mp_set_memory_functions(NULL, NULL, NULL);
	CHECK(agree);
	CHECK(during == 0);
}

/* Any chunk size gives the one-shot answer, in ceil(d / chunk) calls. */
static void
test_chunks(void)
{
	static const uint32_t chunks[] = { 1, 2, 7, 33, 99, 100, 101, 5000 };
	unsigned char rnd[POW_RANDOM];
	struct pow_chal c;
	char right[600], wrong[600];
	mpz_t y;

	random_bytes(rnd, sizeof(rnd));
	pow_chal_make(&c, 100, rnd, err, sizeof(err));
	mpz_init(y);
	solve(y, &c);
	sol_text(right, y, 0);
	mpz_add_ui(y, y, 2);
	sol_text(wrong, y, 0);
	mpz_clear(y);
	CHECK(verify_str(&c, right) == 1);
	CHECK(verify_str(&c, wrong) == 0);

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		for (int w = 0; w < 2; w++) {
			const char *line = w ? wrong : right;
			struct pow_verify v;
			uint32_t calls = 0;
			int r;

			CHECK(pow_verify_start(&v, &c,
			    (const unsigned char *)line, strlen(line), err,
			    sizeof(err)) == 0);
			while ((r = pow_verify_step(&v, chunks[i])) == 0)
				calls++;
			CHECK(r == (w ? -1 : 1));
			CHECK(calls + 1 == (100 + chunks[i] - 1) / chunks[i]);
			/* done stays done */
			CHECK(pow_verify_step(&v, chunks[i]) == r);
			CHECK(pow_verify_step(&v, 0) == r);
			pow_verify_free(&v);
			pow_verify_free(&v);	/* twice is harmless */
			CHECK(pow_verify_step(&v, 1) == -1);
		}
	}
	/* no squarings allowed: no progress, no answer */
	{
		struct pow_verify v;

		pow_verify_start(&v, &c, (const unsigned char *)right,
		    strlen(right), err, sizeof(err));
		CHECK(pow_verify_step(&v, 0) == 0 && v.left == 100);
		pow_verify_free(&v);
	}
}

static void
test_malformed(void)
{
	static const char *const bad[] = {
		"", "\r\n", "s", "s.", "s.\n", "S.AAAA", "x.AAAA", ".AAAA",
		"s:AAAA", "s.AAA", "s.AAAAA", "s.AA=A", "s.A===", "s.====",
		"s.=AAA", "s.AAAA.BBBB", "s.AA AA", "s.AA\tAA", "s.AAAA\x01",
		"s.AA-_", "s.AA\xc3\xa9", "b.3045022100abcdef",
		"sAAAA", "s..AAAA", "ss.AAAA",
	};
	struct pow_chal c;
	char line[2048];

	pow_chal_make(&c, 3, (const unsigned char *)"0123456789abcdef", err,
	    sizeof(err));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = verify_str(&c, bad[i]);

		CHECK(r == -1 && err[0] != '\0');
		if (r != -1)
			fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
	}
	/* A NUL inside */
	CHECK(pow_verify(&c, (const unsigned char *)"s.AA\0A", 6, err,
	    sizeof(err)) == -1);
	/* The largest number taken, and one byte more */
	memset(line, 0, sizeof(line));
	memcpy(line, "s.", 2);
	memset(line + 2, 'A', POW_NUM_MAX / 3 * 4);
	CHECK(verify_str(&c, line) == 0);
	memset(line + 2, '/', POW_NUM_MAX / 3 * 4 + 4);
	line[2 + POW_NUM_MAX / 3 * 4 + 2] = '=';
	line[2 + POW_NUM_MAX / 3 * 4 + 3] = '=';
	CHECK(verify_str(&c, line) == -1 && strstr(err, "longer") != NULL);
	/* Padding bits left over are ignored, as Python's and Go's are */
	CHECK(verify_str(&c, "s.AB==") == 0);
	CHECK(verify_str(&c, "s.ABC=") == 0);
	CHECK(pow_verify(&c, (const unsigned char *)"s.AAAA", 6, NULL, 0) ==
	    0);
	CHECK(pow_verify(&c, (const unsigned char *)"s.AA", 4, NULL, 0) == -1);
}

static int
scan(const char *s, size_t *n)
{
	*n = 0;
	return pow_line_scan((const unsigned char *)s, strlen(s), n, err,
	    sizeof(err));
}

static void
test_scan(void)
{
	char buf[POW_LINE_MAX + 16];
	size_t n;

	CHECK(scan("s.AAAA\n", &n) == 1 && n == 7);
	CHECK(scan("s.AAAA\nhello\n", &n) == 1 && n == 7);
	CHECK(scan("s.AAAA\r\nhello\r\n", &n) == 1 && n == 8);
	CHECK(scan("\n\r\n  \n\ts.AAAA\nX", &n) == 1 && n == 14);
	CHECK(scan("s.AAAA", &n) == 0 && n == 0);
	CHECK(scan("s.AAAA\r", &n) == 0);
	CHECK(scan("", &n) == 0);
	CHECK(scan("\n\n\n", &n) == 0);
	CHECK(scan("x\n", &n) == 1 && n == 2);	/* the check refuses it */

	/* The line and its terminator within POW_LINE_MAX */
	memset(buf, 'A', sizeof(buf));
	buf[POW_LINE_MAX - 1] = '\n';
	CHECK(pow_line_scan((unsigned char *)buf, POW_LINE_MAX, &n, err,
	    sizeof(err)) == 1 && n == POW_LINE_MAX);
	CHECK(pow_line_scan((unsigned char *)buf, sizeof(buf), &n, err,
	    sizeof(err)) == 1 && n == POW_LINE_MAX);
	buf[POW_LINE_MAX - 1] = 'A';
	buf[POW_LINE_MAX] = '\n';
	CHECK(pow_line_scan((unsigned char *)buf, POW_LINE_MAX - 1, &n, err,
	    sizeof(err)) == 0);
	CHECK(pow_line_scan((unsigned char *)buf, POW_LINE_MAX, &n, err,
	    sizeof(err)) == -1 && err[0] != '\0');
	CHECK(pow_line_scan((unsigned char *)buf, sizeof(buf), &n, err,
	    sizeof(err)) == -1);
	/* Blank lines count against the cap too */
	memset(buf, '\n', sizeof(buf));
	CHECK(pow_line_scan((unsigned char *)buf, POW_LINE_MAX, &n, err,
	    sizeof(err)) == -1);
	/* What a scanned line holds is what the check reads */
	{
		struct pow_chal c;
		const char *in = "\r\n" "s.AAAA\r\n" "first line of the game\n";

		pow_chal_make(&c, 1, (const unsigned char *)"0123456789abcdef",
		    err, sizeof(err));
		CHECK(scan(in, &n) == 1 && n == 10);
		CHECK(pow_verify(&c, (const unsigned char *)in, n, err,
		    sizeof(err)) == 0);
	}
}

static void
test_prompt(void)
{
	struct pow_chal c;
	char out[1024];
	int n;

	pow_chal_make(&c, 1337, (const unsigned char *)"0123456789abcdef",
	    err, sizeof(err));
	n = pow_prompt(out, sizeof(out), NULL, &c, err, sizeof(err));
	CHECK(n > 0 && (size_t)n == strlen(out));
	/* kCTF's pow.py "ask", word for word */
	{
		char want[1024];

		snprintf(want, sizeof(want),
		    "== proof-of-work: enabled ==\n"
		    "please solve a pow first\n"
		    "You can run the solver with:\n"
		    "    python3 <(curl -sSL https://goo.gle/kctf-pow) solve %s\n"
		    "===================\n"
		    "\n"
		    "Solution? ", c.text);
		CHECK_STR(out, want);
	}
	CHECK(pow_prompt(out, sizeof(out), "pow {difficulty}: {challenge}\n"
	    "{x} {chal {challenge}}> ", &c, err, sizeof(err)) > 0);
	{
		char want[256];

		snprintf(want, sizeof(want), "pow 1337: %s\n{x} {chal %s}> ",
		    c.text, c.text);
		CHECK_STR(out, want);
	}
	CHECK(pow_prompt(out, 10, NULL, &c, err, sizeof(err)) == -1);
	CHECK(strstr(err, "longer") != NULL);
	CHECK(pow_prompt(out, 0, "x", &c, err, sizeof(err)) == -1);
	CHECK(pow_prompt(out, 2, "x", &c, err, sizeof(err)) == 1);
	CHECK(pow_prompt(out, 1, "x", &c, err, sizeof(err)) == -1);
	CHECK(pow_prompt(out, 1, "", &c, err, sizeof(err)) == 0);
}

/* The independent solver's answer, as a player would run it. */
static int
python_solves(const struct pow_chal *c, const char *flags)
{
	const char *py = getenv("PYTHON"), *script = getenv("POWSOLVE");
	char cmd[1024], line[1024];
	size_t n;
	FILE *f;
	int r;

	if (py == NULL)
		py = "/usr/bin/python3";
	if (script == NULL)
		script = "tests/integration/powsolve.py";
	snprintf(cmd, sizeof(cmd), "%s %s %s '%s'", py, script, flags,
	    c->text);
	if ((f = popen(cmd, "r")) == NULL)
		return -2;
	n = fread(line, 1, sizeof(line) - 1, f);
	line[n] = '\0';
	if (pclose(f) != 0) {
		fprintf(stderr, "  %s: failed\n", cmd);
		return -2;
	}
	r = pow_verify(c, (unsigned char *)line, n, err, sizeof(err));
	if (r != 1)
		fprintf(stderr, "  %s: \"%s\" %s\n", cmd, line, err);
	return r;
}

static void
test_python(void)
{
	static const uint32_t diffs[] = { 1, 7, 50 };
	static const char *const flags[] = { "", "--pure", "--minimal" };

	for (size_t i = 0; i < sizeof(diffs) / sizeof(diffs[0]); i++) {
		for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
			unsigned char rnd[POW_RANDOM];
			struct pow_chal c;

			random_bytes(rnd, sizeof(rnd));
			pow_chal_make(&c, diffs[i], rnd, err, sizeof(err));
			CHECK(python_solves(&c, flags[f]) == 1);
		}
	}
}

/* How long a check takes, for the record (not a test: times vary). */
static void
report_speed(void)
{
	unsigned char rnd[POW_RANDOM];
	struct timespec t0, t1;
	struct pow_verify v;
	struct pow_chal c;
	char line[600];
	mpz_t y;
	double ms;

	random_bytes(rnd, sizeof(rnd));
	pow_chal_make(&c, 5000, rnd, err, sizeof(err));
	mpz_init_set_ui(y, 12345);
	mpz_mul_2exp(y, y, 1200);
	sol_text(line, y, 0);
	mpz_clear(y);
	pow_verify_start(&v, &c, (unsigned char *)line, strlen(line), err,
	    sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(pow_verify_step(&v, 5000) == -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pow_verify_free(&v);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("pow: a check at difficulty 5000 took %.2f ms (%.0f ns a "
	    "squaring)\n", ms, ms * 1e6 / 5000);
}

int
main(void)
{
	test_vectors();
	test_make();
	test_solve();
	test_squarings();
	test_bound();
	test_reload();
	test_chunks();
	test_malformed();
	test_scan();
	test_prompt();
	test_python();
	report_speed();
	T_DONE();
}
