/*
 * logcheck.h: what every log line must be, checked independently of log.c:
 * valid UTF-8 without control characters (C0, DEL, C1, the line separators
 * and bidi controls), and, for the JSON format, one JSON value by RFC 8259.
 * Shared by test_log.c and the fuzz_log harness; a strict little parser,
 * not the code under test.
 */
#ifndef LOGCHECK_H
#define LOGCHECK_H

#include <stddef.h>
#include <stdint.h>

/* 1 if s[0..n) is valid UTF-8 holding no character a log must not hold. */
static int
lc_clean_text(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t len, k;

		if (p[i] < 0x80) {
			if (p[i] < 0x20 || p[i] == 0x7f)
				return 0;
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf)
			len = 2, cp = p[i] & 0x1f;
		else if (p[i] >= 0xe0 && p[i] <= 0xef)
			len = 3, cp = p[i] & 0x0f;
		else if (p[i] >= 0xf0 && p[i] <= 0xf4)
			len = 4, cp = p[i] & 0x07;
		else
			return 0;
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		if (cp <= 0x9f || cp == 0x061c || cp == 0x200e ||
		    cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069))
			return 0;
		i += len;
	}
	return 1;
}

struct lc_json {
	const char	*s;
	size_t		 n, i;
	int		 depth;
};

static void
lc_ws(struct lc_json *j)
{
	while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' ||
	    j->s[j->i] == '\n' || j->s[j->i] == '\r'))
		j->i++;
}

static int
lc_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

static int
lc_string(struct lc_json *j)
{
	if (j->i >= j->n || j->s[j->i] != '"')
		return 0;
	for (j->i++; j->i < j->n; j->i++) {
		unsigned char c = (unsigned char)j->s[j->i];

		if (c == '"') {
			j->i++;
			return 1;
		}
		if (c < 0x20)
			return 0;
		if (c != '\\')
			continue;
		if (++j->i >= j->n)
			return 0;
		switch (j->s[j->i]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			break;
		case 'u':
			if (j->i + 4 >= j->n || !lc_hex(j->s[j->i + 1]) ||
			    !lc_hex(j->s[j->i + 2]) || !lc_hex(j->s[j->i + 3]) ||
			    !lc_hex(j->s[j->i + 4]))
				return 0;
			j->i += 4;
			break;
		default:
			return 0;
		}
	}
	return 0;
}

static int
lc_digits(struct lc_json *j)
{
	size_t start = j->i;

	while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9')
		j->i++;
	return j->i > start;
}

static int
lc_number(struct lc_json *j)
{
	if (j->i < j->n && j->s[j->i] == '-')
		j->i++;
	if (j->i < j->n && j->s[j->i] == '0')
		j->i++;
	else if (!lc_digits(j))
		return 0;
	if (j->i < j->n && j->s[j->i] == '.') {
		j->i++;
		if (!lc_digits(j))
			return 0;
	}
	if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
		j->i++;
		if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-'))
			j->i++;
		if (!lc_digits(j))
			return 0;
	}
	return 1;
}

static int lc_value(struct lc_json *);

static int
lc_word(struct lc_json *j, const char *w)
{
	size_t len = strlen(w);

	if (j->i + len > j->n || memcmp(j->s + j->i, w, len) != 0)
		return 0;
	j->i += len;
	return 1;
}

static int
lc_container(struct lc_json *j, char open, char close)
{
	if (++j->depth > 64)
		return 0;
	j->i++;			/* the open bracket */
	lc_ws(j);
	if (j->i < j->n && j->s[j->i] == close) {
		j->i++;
		j->depth--;
		return 1;
	}
	for (;;) {
		lc_ws(j);
		if (open == '{') {
			if (!lc_string(j))
				return 0;
			lc_ws(j);
			if (j->i >= j->n || j->s[j->i] != ':')
				return 0;
			j->i++;
			lc_ws(j);
		}
		if (!lc_value(j))
			return 0;
		lc_ws(j);
		if (j->i < j->n && j->s[j->i] == ',') {
			j->i++;
			continue;
		}
		if (j->i < j->n && j->s[j->i] == close) {
			j->i++;
			j->depth--;
			return 1;
		}
		return 0;
	}
}

static int
lc_value(struct lc_json *j)
{
	if (j->i >= j->n)
		return 0;
	switch (j->s[j->i]) {
	case '{': return lc_container(j, '{', '}');
	case '[': return lc_container(j, '[', ']');
	case '"': return lc_string(j);
	case 't': return lc_word(j, "true");
	case 'f': return lc_word(j, "false");
	case 'n': return lc_word(j, "null");
	}
	return lc_number(j);
}

/* 1 if s[0..n) is exactly one JSON object (blanks around allowed). */
static int
lc_json_object(const char *s, size_t n)
{
	struct lc_json j = { s, n, 0, 0 };

	lc_ws(&j);
	if (j.i >= n || s[j.i] != '{' || !lc_value(&j))
		return 0;
	lc_ws(&j);
	return j.i == n;
}

#endif
