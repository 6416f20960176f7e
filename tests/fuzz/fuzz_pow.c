/*
 * fuzz_pow.c: libFuzzer harness for the proof of work's parsers (pow.c):
 * the same bytes as a peeked solution line (scanned, then checked one-shot
 * and in chunks against a challenge of difficulty 3, which must agree), as
 * a challenge text, and as a prompt template.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seed corpus holds the right answer to this one. */
static const unsigned char rnd[POW_RANDOM] = "chald fuzz seed";

static void
check_line(const struct pow_chal *c, const uint8_t *line, size_t len)
{
	struct pow_verify v;
	char err[160];
	int once, step;

	once = pow_verify(c, line, len, err, sizeof(err));
	if (once < -1 || once > 1)
		abort();
	if (pow_verify_start(&v, c, line, len, err, sizeof(err)) == -1) {
		if (once != -1)
			abort();
		return;
	}
	while ((step = pow_verify_step(&v, 1)) == 0)
		;
	pow_verify_free(&v);
	if (once != (step == 1 ? 1 : 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pow_chal c, parsed;
	char err[160], out[2048], *tmpl;
	size_t linelen = 0;
	int r;

	if (pow_chal_make(&c, 3, rnd, err, sizeof(err)) != 0)
		abort();

	r = pow_line_scan(data, size, &linelen, err, sizeof(err));
	if (r == 1) {
		if (linelen == 0 || linelen > size ||
		    linelen > POW_LINE_MAX || data[linelen - 1] != '\n')
			abort();
		check_line(&c, data, linelen);
	} else if (r == 0) {
		if (size >= POW_LINE_MAX)
			abort();
	} else if (r != -1)
		abort();
	check_line(&c, data, size);

	/* As a challenge: a tiny one is checked against the line, too. */
	if (pow_chal_parse(&parsed, (const char *)data, size, err,
	    sizeof(err)) == 0) {
		if (strlen(parsed.text) != size || parsed.xlen > POW_NUM_MAX)
			abort();
		if (parsed.difficulty <= 4)
			check_line(&parsed, data, size);
	}

	/* As a prompt template. */
	if ((tmpl = malloc(size + 1)) == NULL)
		return 0;
	memcpy(tmpl, data, size);
	tmpl[size] = '\0';
	r = pow_prompt(out, sizeof(out), tmpl, &c, err, sizeof(err));
	if (r >= (int)sizeof(out) || (r >= 0 && strlen(out) != (size_t)r))
		abort();
	free(tmpl);
	return 0;
}
