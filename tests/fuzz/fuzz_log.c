/*
 * fuzz_log: the bytes as a value from a player, and as a whole line from a
 * careless caller, through log_quote and log_render in both formats. Every
 * output must be clean UTF-8 without control characters and, in JSON, one
 * object (checked by tests/unit/logcheck.h, not by log.c); and a quoted
 * value must decode back to the bytes given, cut only at a whole
 * character. Any failure aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chald.h"
#include "logcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
hexv(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* The bytes a text-format quoted value stands for (chald(8) LOGGING). */
static size_t
untext(const char *q, size_t n, unsigned char *out)
{
	size_t len = 0;

	if (n < 2 || q[0] != '"' || q[n - 1] != '"')
		abort();
	for (size_t i = 1; i < n - 1; ) {
		uint32_t cp;

		if (q[i] == '"')
			abort();
		if (q[i] != '\\') {
			out[len++] = (unsigned char)q[i++];
			continue;
		}
		if (i + 1 >= n - 1)
			abort();
		switch (q[i + 1]) {
		case '"': case '\\': out[len++] = (unsigned char)q[i + 1]; break;
		case 'n': out[len++] = '\n'; break;
		case 'r': out[len++] = '\r'; break;
		case 't': out[len++] = '\t'; break;
		case 'x':
			out[len++] = (unsigned char)(hexv(q[i + 2]) << 4 |
			    hexv(q[i + 3]));
			i += 2;
			break;
		case 'u':
			cp = (uint32_t)(hexv(q[i + 2]) << 12 |
			    hexv(q[i + 3]) << 8 | hexv(q[i + 4]) << 4 |
			    hexv(q[i + 5]));
			if (cp < 0x800) {
				out[len++] = (unsigned char)(0xc0 | cp >> 6);
			} else {
				out[len++] = (unsigned char)(0xe0 | cp >> 12);
				out[len++] = (unsigned char)(0x80 |
				    (cp >> 6 & 0x3f));
			}
			out[len++] = (unsigned char)(0x80 | (cp & 0x3f));
			i += 4;
			break;
		default:
			abort();
		}
		i += 2;
	}
	return len;
}

static void
check_render(const char *line, size_t n)
{
	static char out[4096 * 3];

	if (log_render(LOGFMT_TEXT, line, n, 0, out, sizeof(out)) != 0 ||
	    strlen(out) >= 4096 || !lc_clean_text(out, strlen(out)))
		abort();
	if (log_render(LOGFMT_JSON, line, n, 0, out, sizeof(out)) != 0 ||
	    !lc_clean_text(out, strlen(out)) ||
	    !lc_json_object(out, strlen(out)))
		abort();
	/* A small buffer cuts, and the object still closes. */
	if (log_render(LOGFMT_JSON, line, n, 0, out, 64) != 0 ||
	    strlen(out) >= 64 || !lc_json_object(out, strlen(out)))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char back[4096 * 4];
	char *v = malloc(size + 1), *line;
	const char *q;
	size_t qn, bn, vn;
	int n;

	if (v == NULL)
		abort();
	memcpy(v, data, size);
	v[size] = '\0';
	vn = strlen(v);
	/* A value, quoted: it reads back as itself, or a prefix of itself
	 * cut at a character, when it is too long. */
	q = log_quote(v);
	qn = strlen(q);
	if (qn >= 4096 || !lc_clean_text(q, qn))
		abort();
	if (q != v) {
		bn = untext(q, qn, back);
		if (bn > vn || memcmp(back, v, bn) != 0)
			abort();
		if (bn < vn && qn < 4096 - 8)	/* cut with room left */
			abort();
	} else if (vn == 0)
		abort();
	/* Then in a line, and as a line of its own. */
	n = asprintf(&line, "stderr service=x pid=1 line=%s", q);
	if (n < 0)
		abort();
	check_render(line, (size_t)n);
	free(line);
	check_render((const char *)data, size);
	check_render((const char *)data, size > 3 ? size - 3 : 0);
	free(v);
	return 0;
}
