/*
 * proxy.c: the PROXY protocol, versions 1 and 2 (haproxy's
 * proxy-protocol.txt), parsed from bytes the gate peeked at. No I/O, so that
 * it can be unit tested and fuzzed.
 *
 * proxy_parse() tells whether the bytes so far hold a whole header (and its
 * exact length, so that the gate reads that much and not a byte more: what
 * follows belongs to the challenge), the valid start of one, or something
 * that can never become one. It is strict, and says no as soon as the bytes
 * show it: only a trusted balancer may send a header, and one that sends a
 * header the specification does not allow is misconfigured or is not the
 * balancer. Every verdict only depends on the bytes seen: a prefix of a valid
 * header is "more", and once "bad", more bytes never make it valid.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proxy.h"

#define MORE	0
#define BAD	(-1)

static const unsigned char v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define V1_ADDR4_MAX	15	/* 255.255.255.255 */
#define V1_ADDR6_MAX	45	/* INET6_ADDRSTRLEN less its NUL */
#define V1_PORT_MAX	5

#define V2_ADDR4_LEN	12	/* 2 * 4 + 2 * 2 */
#define V2_ADDR6_LEN	36	/* 2 * 16 + 2 * 2 */
#define V2_UNIX_LEN	216	/* 2 * 108 */
#define PP2_TYPE_CRC32C	0x03

static int __attribute__((format(printf, 3, 4)))
bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return BAD;
}

static size_t
min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Version 1: one line of text. */

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_addr4_char(int c)
{
	return is_digit(c) || c == '.';
}

static int
is_addr6_char(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

/*
 * A decimal number as the specification wants it: 1 to maxdigits digits, no
 * leading zero (it could be read as octal), at most max.
 */
static int
v1_number(const unsigned char *s, size_t n, size_t maxdigits, unsigned max,
    unsigned *out)
{
	unsigned v = 0;

	if (n == 0 || n > maxdigits || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* Exactly four numbers 0..255 with one dot between each. */
static int
v1_addr4(const unsigned char *s, size_t n, struct in_addr *out)
{
	unsigned char b[4];
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		size_t start = i;
		unsigned v;

		while (i < n && s[i] != '.')
			i++;
		if (v1_number(s + start, i - start, 3, 255, &v) == -1)
			return -1;
		b[part] = (unsigned char)v;
		if (part < 3) {
			if (i == n)
				return -1;
			i++;		/* the dot */
		}
	}
	if (i != n)
		return -1;
	memcpy(&out->s_addr, b, 4);
	return 0;
}

static int
v1_addr6(const unsigned char *s, size_t n, struct in6_addr *out)
{
	char buf[V1_ADDR6_MAX + 1];

	if (n > V1_ADDR6_MAX)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

/*
 * The field at *off, up to the separator sep: 1 with *tok and *tlen set and
 * *off past the separator; MORE if the bytes end before sep and what there
 * is could still be the start of such a field; BAD otherwise.
 */
static int
v1_field(const unsigned char *b, size_t n, size_t *off, int sep,
    int (*ok)(int), size_t max, const char *what,
    const unsigned char **tok, size_t *tlen, char *err, size_t errlen)
{
	size_t i;

	for (i = *off; i < n && b[i] != sep; i++) {
		if (b[i] == '\r' || b[i] == '\n')
			return bad(err, errlen, "v1: line ends in the %s",
			    what);
		if (!ok(b[i]))
			return bad(err, errlen, "v1: byte 0x%02x in the %s",
			    b[i], what);
		if (i - *off >= max)
			return bad(err, errlen, "v1: %s too long", what);
	}
	if (i == n)
		return MORE;
	if (i == *off)
		return bad(err, errlen, "v1: no %s", what);
	*tok = b + *off;
	*tlen = i - *off;
	*off = i + 1;
	return 1;
}

/* The protocol word after "PROXY ": TCP4, TCP6 or UNKNOWN. */
static int
v1_proto(const unsigned char *b, size_t n, int *family, char *err,
    size_t errlen)
{
	static const struct {
		const char	*word;
		int		 family;
	} words[] = {
		{ "TCP4 ", AF_INET }, { "TCP6 ", AF_INET6 },
		{ "UNKNOWN", AF_UNSPEC },
	};
	size_t avail = n - 6;
	int possible = 0;

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t wlen = strlen(words[i].word);

		if (memcmp(b + 6, words[i].word, min_size(avail, wlen)) != 0)
			continue;
		if (avail >= wlen) {
			*family = words[i].family;
			return 1;
		}
		possible = 1;
	}
	if (!possible)
		return bad(err, errlen, "v1: protocol is not TCP4, TCP6 or "
		    "UNKNOWN");
	return MORE;
}

/*
 * "PROXY UNKNOWN" then, optionally, a space and anything printable up to
 * the CRLF, which is ignored.
 */
static int
v1_unknown(const unsigned char *b, size_t n, struct proxy_hdr *out,
    char *err, size_t errlen)
{
	size_t lim = min_size(n, PROXY_V1_MAX);

	if (n > 13 && b[13] != ' ' && b[13] != '\r')
		return bad(err, errlen, "v1: protocol is not TCP4, TCP6 or "
		    "UNKNOWN");
	for (size_t i = 13; i < lim; i++) {
		if (b[i] == '\r') {
			if (i + 1 >= PROXY_V1_MAX)
				break;
			if (i + 1 == n)
				return MORE;
			if (b[i + 1] != '\n')
				return bad(err, errlen, "v1: CR without LF");
			out->version = 1;
			out->command = PROXY_CMD_PROXY;
			out->family = AF_UNSPEC;
			out->local = 1;
			out->len = i + 2;
			return (int)out->len;
		}
		if (b[i] < 0x20 || b[i] > 0x7e)
			return bad(err, errlen, "v1: byte 0x%02x in the line",
			    b[i]);
	}
	if (n < PROXY_V1_MAX)
		return MORE;
	return bad(err, errlen, "v1: no CRLF in the first %d bytes",
	    PROXY_V1_MAX);
}

static int
v1_port(const unsigned char *s, size_t n, const char *what, uint16_t *port,
    char *err, size_t errlen)
{
	unsigned v;

	if (v1_number(s, n, V1_PORT_MAX, 65535, &v) == -1)
		return bad(err, errlen, "v1: %s '%.*s' is not 0..65535 "
		    "without leading zeros", what, (int)n, (const char *)s);
	*port = htons((uint16_t)v);
	return 0;
}

static int
v1_addr(int family, const unsigned char *s, size_t n, const char *what,
    uint16_t port, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (v1_addr4(s, n, &sin->sin_addr) == -1)
			return bad(err, errlen, "v1: %s '%.*s' is not an IPv4 "
			    "address", what, (int)n, (const char *)s);
		sin->sin_family = AF_INET;
		sin->sin_port = port;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (v1_addr6(s, n, &sin6->sin6_addr) == -1)
			return bad(err, errlen, "v1: %s '%.*s' is not an IPv6 "
			    "address", what, (int)n, (const char *)s);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = port;
	}
	return 0;
}

/*
 * "PROXY TCP4 203.0.113.7 192.0.2.1 51234 1337\r\n": the four fields are
 * each checked in full once their separator has come, and for their
 * characters and length while they are still arriving.
 */
static int
v1_line(const unsigned char *b, size_t n, struct proxy_hdr *out, char *err,
    size_t errlen)
{
	const unsigned char *tok[4];
	size_t tlen[4], off = 11;
	int family = AF_UNSPEC, r;
	uint16_t sport, dport;

	if (memcmp(b, "PROXY ", min_size(n, 6)) != 0)
		return bad(err, errlen, "not a PROXY header");
	if (n <= 6)
		return MORE;
	if ((r = v1_proto(b, n, &family, err, errlen)) != 1)
		return r;
	if (family == AF_UNSPEC)
		return v1_unknown(b, n, out, err, errlen);

	int (*ok)(int) = family == AF_INET ? is_addr4_char : is_addr6_char;
	size_t amax = family == AF_INET ? V1_ADDR4_MAX : V1_ADDR6_MAX;

	if ((r = v1_field(b, n, &off, ' ', ok, amax, "source address",
	    &tok[0], &tlen[0], err, errlen)) != 1)
		return r;
	if ((r = v1_field(b, n, &off, ' ', ok, amax, "destination address",
	    &tok[1], &tlen[1], err, errlen)) != 1)
		return r;
	if ((r = v1_field(b, n, &off, ' ', is_digit, V1_PORT_MAX,
	    "source port", &tok[2], &tlen[2], err, errlen)) != 1)
		return r;
	if ((r = v1_field(b, n, &off, '\r', is_digit, V1_PORT_MAX,
	    "destination port", &tok[3], &tlen[3], err, errlen)) != 1)
		return r;
	if (off == n)
		return MORE;
	if (b[off] != '\n')
		return bad(err, errlen, "v1: CR without LF");
	off++;
	if (off > PROXY_V1_MAX)
		return MORE;		/* v1_parse() says no */

	if (v1_port(tok[2], tlen[2], "source port", &sport, err,
	    errlen) == -1 ||
	    v1_port(tok[3], tlen[3], "destination port", &dport, err,
	    errlen) == -1 ||
	    v1_addr(family, tok[0], tlen[0], "source address", sport,
	    &out->src, err, errlen) == -1 ||
	    v1_addr(family, tok[1], tlen[1], "destination address", dport,
	    &out->dst, err, errlen) == -1)
		return BAD;
	out->version = 1;
	out->command = PROXY_CMD_PROXY;
	out->family = family;
	out->local = 0;
	out->len = off;
	return (int)off;
}

/*
 * The fields' own caps allow a few bytes more than the specification's 107
 * (two IPv6 addresses of 45 characters each, in the dotted-quad tail form),
 * so the line's length is checked here, once for all forms.
 */
static int
v1_parse(const unsigned char *b, size_t n, struct proxy_hdr *out, char *err,
    size_t errlen)
{
	int r = v1_line(b, min_size(n, PROXY_V1_MAX + 1), out, err, errlen);

	if (r == MORE && n >= PROXY_V1_MAX) {
		memset(out, 0, sizeof(*out));
		return bad(err, errlen, "v1: no CRLF in the first %d bytes",
		    PROXY_V1_MAX);
	}
	return r;
}

/* Version 2: binary. */

static unsigned
be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* CRC-32C (Castagnoli), as RFC 4960 appendix B; a header is short. */
static uint32_t
crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* The header's CRC with the 4 bytes at off taken as zeros. */
static int
v2_crc_ok(const unsigned char *b, size_t total, size_t off)
{
	static const unsigned char zero[4];
	uint32_t crc, want;

	crc = crc32c(0, b, off);
	crc = crc32c(crc, zero, 4);
	crc = crc32c(crc, b + off + 4, total - off - 4);
	want = (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 |
	    (uint32_t)b[off + 2] << 8 | b[off + 3];
	return crc == want;
}

/*
 * The TLVs from off to the end of the header: each must fit in it, and they
 * must fill it exactly. They are skipped, except a CRC32C, which a receiver
 * that knows it must check.
 */
static int
v2_tlvs(const unsigned char *b, size_t off, size_t total, char *err,
    size_t errlen)
{
	while (off < total) {
		size_t vlen;

		if (total - off < 3)
			return bad(err, errlen, "v2: %zu stray bytes after the "
			    "TLVs", total - off);
		vlen = be16(b + off + 1);
		if (vlen > total - off - 3)
			return bad(err, errlen, "v2: TLV 0x%02x of %zu bytes "
			    "overruns the header", b[off], vlen);
		if (b[off] == PP2_TYPE_CRC32C) {
			if (vlen != 4)
				return bad(err, errlen, "v2: CRC32C TLV of %zu "
				    "bytes", vlen);
			if (!v2_crc_ok(b, total, off + 3))
				return bad(err, errlen, "v2: wrong CRC32C");
		}
		off += 3 + vlen;
	}
	return 0;
}

static void
v2_addrs(const unsigned char *a, int family, struct proxy_hdr *out)
{
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&out->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
	}
}

static int
v2_parse(const unsigned char *b, size_t n, struct proxy_hdr *out, char *err,
    size_t errlen)
{
	static const int families[] = { AF_UNSPEC, AF_INET, AF_INET6,
	    AF_UNIX };
	static const size_t addrlen[] = { 0, V2_ADDR4_LEN, V2_ADDR6_LEN,
	    V2_UNIX_LEN };
	unsigned cmd, fam, proto;
	size_t total, need;

	if (memcmp(b, v2sig, min_size(n, sizeof(v2sig))) != 0)
		return bad(err, errlen, "not a PROXY header");
	if (n > 12 && b[12] >> 4 != 2)
		return bad(err, errlen, "v2: version %u", b[12] >> 4);
	if (n > 12 && (b[12] & 0xf) > 1)
		return bad(err, errlen, "v2: unknown command %u", b[12] & 0xf);
	if (n > 13 && (b[13] >> 4 > 3 || (b[13] & 0xf) > 2))
		return bad(err, errlen, "v2: unknown family/protocol 0x%02x",
		    b[13]);
	if (n < PROXY_V2_FIXED)
		return MORE;

	cmd = b[12] & 0xf;
	fam = b[13] >> 4;
	proto = b[13] & 0xf;
	total = PROXY_V2_FIXED + be16(b + 14);
	/* UNSPEC in either half means "ignore the addresses". */
	if (cmd == PROXY_CMD_PROXY && proto != 0)
		need = addrlen[fam];
	else
		need = 0;
	if (total - PROXY_V2_FIXED < need)
		return bad(err, errlen, "v2: address block of %zu bytes, "
		    "the family needs %zu", total - PROXY_V2_FIXED, need);
	if (n < total)
		return MORE;

	out->version = 2;
	out->command = (int)cmd;
	out->family = families[fam];
	out->len = total;
	/* LOCAL: the block, family included, is to be ignored. */
	if (cmd == PROXY_CMD_LOCAL || fam == 0 || proto == 0) {
		out->local = 1;
		return (int)total;
	}
	if (v2_tlvs(b, PROXY_V2_FIXED + need, total, err, errlen) == -1)
		return BAD;
	if (fam == 3) {			/* AF_UNIX: no address to use */
		out->local = 1;
		return (int)total;
	}
	v2_addrs(b + PROXY_V2_FIXED, families[fam], out);
	out->local = 0;
	return (int)total;
}

/*
 * >0: a whole header of that many bytes; 0: the start of one, or nothing
 * yet; -1: not a header, err says why. The version is told by the first
 * byte: 'P' for v1, CR for v2.
 */
int
proxy_parse(const unsigned char *buf, size_t len, struct proxy_hdr *out,
    char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return MORE;
	if (buf[0] == 'P')
		return v1_parse(buf, len, out, err, errlen);
	if (buf[0] == '\r')
		return v2_parse(buf, len, out, err, errlen);
	return bad(err, errlen, "not a PROXY header (first byte 0x%02x)",
	    buf[0]);
}

/*
 * How many bytes the header can take, as far as buf tells: the exact length
 * once a v2 fixed part is seen, else the longest v1 line (no v2 header is
 * shorter than 16 bytes, and a v2 IPv6 header without TLVs is 52). The gate
 * peeks at up to that many bytes; proxy_parse() says where the header ends.
 */
size_t
proxy_need(const unsigned char *buf, size_t len)
{
	if (len >= PROXY_V2_FIXED && memcmp(buf, v2sig, sizeof(v2sig)) == 0)
		return PROXY_V2_FIXED + be16(buf + 14);
	return PROXY_V1_MAX;
}
