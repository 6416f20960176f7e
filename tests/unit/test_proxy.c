/*
 * test_proxy.c: the PROXY protocol parser (proxy.c): headers captured from
 * haproxy, hand-made v1 and v2 headers good and bad, every truncation of
 * each, and random bytes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>

#include "proxy.h"
#include "t.h"

static char err[256];

static size_t
unhex(unsigned char *out, const char *hex)
{
	size_t n = 0;

	for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
		unsigned v;

		sscanf(hex, "%2x", &v);
		out[n++] = (unsigned char)v;
	}
	return n;
}

static int
parse(const void *buf, size_t len, struct proxy_hdr *h)
{
	err[0] = '\0';
	return proxy_parse(buf, len, h, err, sizeof(err));
}

static int
parse_str(const char *s, struct proxy_hdr *h)
{
	return parse(s, strlen(s), h);
}

/* The address and port of ss as "ip port". */
static const char *
addr_str(const struct sockaddr_storage *ss)
{
	static char out[2][INET6_ADDRSTRLEN + 8];
	static int which;
	char ip[INET6_ADDRSTRLEN];
	char *o = out[which++ & 1];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		snprintf(o, sizeof(out[0]), "%s %u", ip, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		snprintf(o, sizeof(out[0]), "%s %u", ip, ntohs(s->sin6_port));
	} else
		snprintf(o, sizeof(out[0]), "family %d", ss->ss_family);
	return o;
}

/* Every strict prefix of a whole header is "more", and says nothing. */
static int
prefixes_more(const unsigned char *buf, size_t hlen)
{
	struct proxy_hdr h;

	for (size_t k = 0; k < hlen; k++) {
		if (parse(buf, k, &h) != 0 || h.len != 0) {
			fprintf(stderr, "prefix %zu of %zu: %s\n", k, hlen, err);
			return 0;
		}
	}
	return 1;
}

/*
 * A bad header stays bad: from the first length where it is refused, every
 * longer one is refused too, with a reason. Returns that first length.
 */
static size_t
bad_from(const unsigned char *buf, size_t len)
{
	struct proxy_hdr h;
	size_t first = len + 1;

	for (size_t k = 0; k <= len; k++) {
		int r = parse(buf, k, &h);

		if (first > len && r == -1)
			first = k;
		if (first <= len && (r != -1 || err[0] == '\0'))
			return 0;
		if (first > len && r != 0)
			return 0;
	}
	return first;
}

static int
bad_str(const char *s)
{
	size_t n = strlen(s);
	size_t k = bad_from((const unsigned char *)s, n);

	if (k == 0 || k > n) {
		fprintf(stderr, "not refused as it should be: \"%s\"\n", s);
		return 0;
	}
	return 1;
}

/* Headers sent by Debian's haproxy 2.6 (send-proxy, send-proxy-v2, and
 * send-proxy-v2 with proxy-v2-options crc32c,unique-id), each followed by
 * the client's first bytes "hello\n". */
static const struct {
	const char	*hex;
	size_t		 hlen;
	const char	*src, *dst;
	int		 crc;		/* has a CRC32C TLV */
} captured[] = {
	{ "50524f58592054435034203132372e302e302e31203132372e302e302e3120"
	  "33383935302035373134350d0a68656c6c6f0a", 44,
	  "127.0.0.1 38950", "127.0.0.1 57145", 0 },
	{ "50524f58592054435036203a3a31203a3a312035353838322034353735350d"
	  "0a68656c6c6f0a", 32, "::1 55882", "::1 45755", 0 },
	{ "0d0a0d0a000d0a515549540a2111000c7f0000017f000001dfa4d769"
	  "68656c6c6f0a", 28, "127.0.0.1 57252", "127.0.0.1 55145", 0 },
	{ "0d0a0d0a000d0a515549540a2121002400000000000000000000000000000001"
	  "00000000000000000000000000000001a1d28119""68656c6c6f0a", 52,
	  "::1 41426", "::1 33049", 0 },
	{ "0d0a0d0a000d0a515549540a2111001c7f0000017f0000019cd0c34d030004"
	  "e29d75ce050006616263313233""68656c6c6f0a", 44,
	  "127.0.0.1 40144", "127.0.0.1 49997", 1 },
	{ "0d0a0d0a000d0a515549540a2121003400000000000000000000000000000001"
	  "00000000000000000000000000000001d660ed9503000477c7f1b005000661"
	  "6263313233""68656c6c6f0a", 68, "::1 54880", "::1 60821", 1 },
};

static void
test_captured(void)
{
	for (size_t i = 0; i < sizeof(captured) / sizeof(captured[0]); i++) {
		unsigned char buf[256];
		size_t n = unhex(buf, captured[i].hex);
		struct proxy_hdr h;

		CHECK(parse(buf, n, &h) == (int)captured[i].hlen);
		CHECK(h.len == captured[i].hlen && h.local == 0);
		CHECK(h.command == PROXY_CMD_PROXY);
		CHECK(h.version == (buf[0] == 'P' ? 1 : 2));
		CHECK_STR(addr_str(&h.src), captured[i].src);
		CHECK_STR(addr_str(&h.dst), captured[i].dst);
		/* The header alone, exactly: the same. */
		CHECK(parse(buf, captured[i].hlen, &h) ==
		    (int)captured[i].hlen);
		CHECK(prefixes_more(buf, captured[i].hlen));
		CHECK(proxy_need(buf, n) >= captured[i].hlen);
		if (buf[0] != 'P')
			CHECK(proxy_need(buf, n) == captured[i].hlen);
		/* One bit changed in the CRC32C's value: refused. */
		if (captured[i].crc) {
			buf[captured[i].hlen - 12] ^= 0x01;
			CHECK(parse(buf, n, &h) == -1);
			CHECK(strstr(err, "CRC32C") != NULL);
			buf[captured[i].hlen - 12] ^= 0x01;
			/* and in the address the CRC covers */
			buf[19] ^= 0x40;
			CHECK(parse(buf, n, &h) == -1);
		}
	}
}

static void
test_v1_good(void)
{
	static const struct {
		const char	*line;
		const char	*src, *dst;
	} good[] = {
		{ "PROXY TCP4 203.0.113.7 192.0.2.1 51234 1337\r\n",
		  "203.0.113.7 51234", "192.0.2.1 1337" },
		{ "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
		  "0.0.0.0 0", "255.255.255.255 65535" },
		{ "PROXY TCP4 10.0.0.1 10.20.100.200 9 10\r\n",
		  "10.0.0.1 9", "10.20.100.200 10" },
		{ "PROXY TCP6 2001:db8::1 ::1 443 8080\r\n",
		  "2001:db8::1 443", "::1 8080" },
		{ "PROXY TCP6 2001:DB8:0:0:0:0:0:ABCD fe80::1 1 2\r\n",
		  "2001:db8::abcd 1", "fe80::1 2" },
		{ "PROXY TCP6 ::ffff:198.51.100.4 :: 5 6\r\n",
		  "::ffff:198.51.100.4 5", ":: 6" },
		/* The longest TCP6 line the specification counts: 104. */
		{ "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535",
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535" },
	};
	struct proxy_hdr h;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		size_t n = strlen(good[i].line);
		char buf[256];

		CHECK(parse_str(good[i].line, &h) == (int)n);
		CHECK(h.version == 1 && h.local == 0 && h.len == n);
		CHECK(h.family == (strncmp(good[i].line + 6, "TCP4", 4) == 0 ?
		    AF_INET : AF_INET6));
		CHECK_STR(addr_str(&h.src), good[i].src);
		CHECK_STR(addr_str(&h.dst), good[i].dst);
		CHECK(prefixes_more((const unsigned char *)good[i].line, n));
		/* What follows is not the header's, even "PROXY" again. */
		snprintf(buf, sizeof(buf), "%sPROXY TCP4 x\r\n", good[i].line);
		CHECK(parse_str(buf, &h) == (int)n);
	}
	CHECK(strlen(good[6].line) == 104);

	/* UNKNOWN: the connection's own addresses, the rest ignored. */
	CHECK(parse_str("PROXY UNKNOWN\r\n", &h) == 15);
	CHECK(h.local == 1 && h.family == AF_UNSPEC && h.version == 1);
	CHECK(h.src.ss_family == 0 && h.dst.ss_family == 0);
	CHECK(parse_str("PROXY UNKNOWN\r\nhello", &h) == 15);
	CHECK(parse_str("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", &h) == 35);
	CHECK(parse_str("PROXY UNKNOWN whatever, it is ignored\r\n", &h) ==
	    39 && h.local == 1);
	CHECK(prefixes_more((const unsigned char *)"PROXY UNKNOWN x\r\n", 17));
	/* The worst case of the specification: 107 bytes. */
	{
		char buf[128];

		memset(buf, 'f', sizeof(buf));
		memcpy(buf, "PROXY UNKNOWN ", 14);
		memcpy(buf + 105, "\r\n", 2);
		CHECK(parse(buf, 107, &h) == 107);
		CHECK(parse(buf, sizeof(buf), &h) == 107);
		CHECK(prefixes_more((unsigned char *)buf, 107));
		/* One more byte before the CRLF: too long. */
		memset(buf + 105, 'f', 2);
		memcpy(buf + 106, "\r\n", 2);
		CHECK(parse(buf, 108, &h) == -1);
		CHECK(bad_from((unsigned char *)buf, 108) == 107);
	}
}

static void
test_v1_bad(void)
{
	static const char *const bad[] = {
		/* line ends */
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 443\rX",
		"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
		"PROXY TCP4\r\n",
		"PROXY\r\n",
		"PROXY \r\n",
		"PROXY UNKNOWN\n",
		"PROXY UNKNOWN\rX",
		"PROXY UNKNOWN x\n\r\n",
		/* spaces */
		"PROXY  TCP4 1.2.3.4 5.6.7.8 80 443\r\n",
		"PROXY TCP4  1.2.3.4 5.6.7.8 80 443\r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 80 443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8  80 443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 80  443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 443 \r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 443 9\r\n",
		"PROXY\tTCP4 1.2.3.4 5.6.7.8 80 443\r\n",
		"PROXY TCP4 1.2.3.4\t5.6.7.8 80 443\r\n",
		" PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r\n",
		/* protocol words */
		"proxy TCP4 1.2.3.4 5.6.7.8 80 443\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 80 443\r\n",
		"PROXY TCP5 1.2.3.4 5.6.7.8 80 443\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 80 443\r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY UNKNOW\r\n",
		"PROXYTCP4 1.2.3.4 5.6.7.8 80 443\r\n",
		/* IPv4 */
		"PROXY TCP4 01.2.3.4 5.6.7.8 80 443\r\n",
		"PROXY TCP4 1.2.3.04 5.6.7.8 80 443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.00 80 443\r\n",
		"PROXY TCP4 256.2.3.4 5.6.7.8 80 443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.999 80 443\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 80 443\r\n",
		"PROXY TCP4 1.2.3.4.5 5.6.7.8 80 443\r\n",
		"PROXY TCP4 1..3.4 5.6.7.8 80 443\r\n",
		"PROXY TCP4 .1.2.3 5.6.7.8 80 443\r\n",
		"PROXY TCP4 1.2.3.4. 5.6.7.8 80 443\r\n",
		"PROXY TCP4 1234.2.3.4 5.6.7.8 80 443\r\n",
		"PROXY TCP4 0x1.2.3.4 5.6.7.8 80 443\r\n",
		"PROXY TCP4 1.2.3.4/8 5.6.7.8 80 443\r\n",
		"PROXY TCP4 ::1 5.6.7.8 80 443\r\n",
		"PROXY TCP4 1.2.3.4 ::1 80 443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8.9.10.11.12 80 443\r\n",
		/* IPv6 */
		"PROXY TCP6 1.2.3.4 ::1 80 443\r\n",
		"PROXY TCP6 ::1 5.6.7.8 80 443\r\n",
		"PROXY TCP6 ::: ::1 80 443\r\n",
		"PROXY TCP6 1::2::3 ::1 80 443\r\n",
		"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 80 443\r\n",
		"PROXY TCP6 12345::1 ::1 80 443\r\n",
		"PROXY TCP6 fe80::1%eth0 ::1 80 443\r\n",
		"PROXY TCP6 [::1] ::1 80 443\r\n",
		"PROXY TCP6 g::1 ::1 80 443\r\n",
		/* ports */
		"PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 0443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 00 443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 99999\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 100000\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +80 443\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 80 44a\r\n",
		/* not text */
		"PROXY UNKNOWN \x01\r\n",
		"PROXY UNKNOWN \x80\r\n",
		/* other protocols */
		"GET / HTTP/1.1\r\n",
		"SSH-2.0-OpenSSH_9.2\r\n",
		"P\r\n",
		"\x16\x03\x01\x02",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(bad_str(bad[i]));

	/* A NUL in the line. */
	{
		static const char line[] =
		    "PROXY TCP4 1.2.3.4\0005.6.7.8 80 443\r\n";

		CHECK(bad_from((const unsigned char *)line,
		    sizeof(line) - 1) == 19);
	}

	/*
	 * An IPv6 address may take 45 characters (a dotted-quad tail), but
	 * two of them make a line of at least 108 bytes: too long.
	 */
	{
		const char *a = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
		char line[160];
		struct proxy_hdr h;

		CHECK(strlen(a) == 45);
		snprintf(line, sizeof(line), "PROXY TCP6 %s ::1 1 2\r\n", a);
		CHECK(parse_str(line, &h) == 66);
		CHECK_STR(addr_str(&h.src),
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 1");
		snprintf(line, sizeof(line), "PROXY TCP6 %s %s 1 2\r\n", a, a);
		CHECK(strlen(line) == 108);
		CHECK(bad_from((unsigned char *)line, 108) == 107);
		CHECK(parse_str(line, &h) == -1 && strstr(err, "107") != NULL);
	}

	/* Refused early, not after the peer has sent more. */
	{
		struct proxy_hdr h;

		CHECK(parse_str("G", &h) == -1);
		CHECK(parse_str("PROXY X", &h) == -1);
		CHECK(parse_str("PROXY TCP4 01", &h) == 0);	/* may be 01x */
		CHECK(parse_str("PROXY TCP4 01.", &h) == 0);
		CHECK(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\rX", &h) ==
		    -1);
		CHECK(parse_str("PROXY TCP4 1.2.3.4 x", &h) == -1);
		CHECK(parse_str("PROXY TCP4 1234567890123456", &h) == -1);
		CHECK(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 123456", &h) == -1);
		/* A peer that sends 107 bytes without a CRLF is refused. */
		char buf[PROXY_V1_MAX];

		memset(buf, 'a', sizeof(buf));
		memcpy(buf, "PROXY UNKNOWN ", 14);
		CHECK(parse(buf, sizeof(buf) - 1, &h) == 0);
		CHECK(parse(buf, sizeof(buf), &h) == -1);
	}
}

/* A v2 header: the fixed part, then body (addresses and TLVs). */
static size_t
v2(unsigned char *out, int vercmd, int famproto, const unsigned char *body,
    size_t bodylen)
{
	static const unsigned char sig[12] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a
	};

	memcpy(out, sig, 12);
	out[12] = (unsigned char)vercmd;
	out[13] = (unsigned char)famproto;
	out[14] = (unsigned char)(bodylen >> 8);
	out[15] = (unsigned char)bodylen;
	if (bodylen > 0)
		memcpy(out + 16, body, bodylen);
	return 16 + bodylen;
}

static const unsigned char addr4[12] = {
	203, 0, 113, 7,  192, 0, 2, 1,  0xc8, 0x22,  0x05, 0x39
};

static void
test_v2_good(void)
{
	unsigned char buf[512], body[400];
	struct proxy_hdr h;
	size_t n;

	/* TCP over IPv4 */
	n = v2(buf, 0x21, 0x11, addr4, 12);
	CHECK(parse(buf, n, &h) == 28 && h.local == 0 && h.version == 2);
	CHECK(h.family == AF_INET && h.command == PROXY_CMD_PROXY);
	CHECK_STR(addr_str(&h.src), "203.0.113.7 51234");
	CHECK_STR(addr_str(&h.dst), "192.0.2.1 1337");
	CHECK(prefixes_more(buf, n));
	CHECK(proxy_need(buf, 16) == 28);

	/* UDP over IPv4: addresses as well */
	n = v2(buf, 0x21, 0x12, addr4, 12);
	CHECK(parse(buf, n, &h) == 28 && h.local == 0);

	/* TCP over IPv6, with TLVs: NOOP, AUTHORITY, a custom one, empty */
	memset(body, 0, sizeof(body));
	body[0] = 0x20;
	body[1] = 0x01;
	body[2] = 0x0d;
	body[3] = 0xb8;
	body[15] = 0x09;
	body[31] = 0x01;
	body[32] = 0xff;
	body[33] = 0xff;
	body[34] = 0x00;
	body[35] = 0x50;
	memcpy(body + 36, "\x04\x00\x02zz" "\x02\x00\x0b" "example.org"
	    "\xe0\x00\x00" "\x05\x00\x01X", 5 + 14 + 3 + 4);
	n = v2(buf, 0x21, 0x21, body, 36 + 26);
	CHECK(parse(buf, n, &h) == (int)n && h.local == 0);
	CHECK(h.family == AF_INET6);
	CHECK_STR(addr_str(&h.src), "2001:db8::9 65535");
	CHECK_STR(addr_str(&h.dst), "::1 80");
	CHECK(prefixes_more(buf, n));

	/* Address block longer than the family needs: the rest is TLVs */
	memcpy(body, addr4, 12);
	memcpy(body + 12, "\x04\x00\x00", 3);
	n = v2(buf, 0x21, 0x11, body, 15);
	CHECK(parse(buf, n, &h) == 31 && h.local == 0);

	/* LOCAL: the connection's own addresses, the block skipped unread */
	n = v2(buf, 0x20, 0x00, NULL, 0);
	CHECK(parse(buf, n, &h) == 16 && h.local == 1);
	CHECK(h.command == PROXY_CMD_LOCAL);
	CHECK(h.src.ss_family == 0);
	memset(body, 0xee, 40);
	n = v2(buf, 0x20, 0x11, body, 40);	/* LOCAL with junk */
	CHECK(parse(buf, n, &h) == 56 && h.local == 1);
	n = v2(buf, 0x20, 0x21, body, 3);	/* LOCAL, short block */
	CHECK(parse(buf, n, &h) == 19 && h.local == 1);

	/* PROXY with UNSPEC family or protocol: as LOCAL */
	n = v2(buf, 0x21, 0x00, NULL, 0);
	CHECK(parse(buf, n, &h) == 16 && h.local == 1);
	CHECK(h.family == AF_UNSPEC);
	n = v2(buf, 0x21, 0x10, body, 5);
	CHECK(parse(buf, n, &h) == 21 && h.local == 1);
	n = v2(buf, 0x21, 0x01, body, 7);
	CHECK(parse(buf, n, &h) == 23 && h.local == 1);

	/* AF_UNIX, stream and datagram: no address to use */
	memset(body, 0, sizeof(body));
	memcpy(body, "/run/lb.sock", 12);
	n = v2(buf, 0x21, 0x31, body, 216);
	CHECK(parse(buf, n, &h) == 232 && h.local == 1);
	CHECK(h.family == AF_UNIX && h.src.ss_family == 0);
	memcpy(body + 216, "\x04\x00\x01!", 4);
	n = v2(buf, 0x21, 0x32, body, 220);
	CHECK(parse(buf, n, &h) == 236 && h.local == 1);
	CHECK(prefixes_more(buf, n));

	/* What follows the header is not its own */
	n = v2(buf, 0x21, 0x11, addr4, 12);
	memcpy(buf + n, "\r\n\r\n\0\r\nQUIT\n", 12);
	CHECK(parse(buf, n + 12, &h) == 28);
}

static void
test_v2_bad(void)
{
	unsigned char buf[512], body[400];
	size_t n;

	memset(body, 0, sizeof(body));
	/* Version and command */
	for (int vc = 0; vc < 256; vc++) {
		if (vc == 0x20 || vc == 0x21)
			continue;
		n = v2(buf, vc, 0x11, addr4, 12);
		CHECK(bad_from(buf, n) == 13);
	}
	/* Family and protocol */
	for (int fp = 0; fp < 256; fp++) {
		if ((fp >> 4) <= 3 && (fp & 0xf) <= 2)
			continue;
		n = v2(buf, 0x21, fp, body, 216);
		CHECK(bad_from(buf, n) == 14);
	}
	/* Address blocks too short for the family */
	n = v2(buf, 0x21, 0x11, addr4, 11);
	CHECK(bad_from(buf, n) == 16);
	n = v2(buf, 0x21, 0x21, body, 35);
	CHECK(bad_from(buf, n) == 16);
	n = v2(buf, 0x21, 0x22, body, 12);
	CHECK(bad_from(buf, n) == 16);
	n = v2(buf, 0x21, 0x31, body, 215);
	CHECK(bad_from(buf, n) == 16);
	n = v2(buf, 0x21, 0x11, NULL, 0);
	CHECK(bad_from(buf, n) == 16);

	/* TLVs that do not fit */
	memcpy(body, addr4, 12);
	memcpy(body + 12, "\x04\x00\x05zz", 5);		/* says 5, has 2 */
	n = v2(buf, 0x21, 0x11, body, 17);
	CHECK(bad_from(buf, n) == n);
	memcpy(body + 12, "\x04\x00", 2);		/* 2 stray bytes */
	n = v2(buf, 0x21, 0x11, body, 14);
	CHECK(bad_from(buf, n) == n);
	memcpy(body + 12, "\x04\x00\x00\x04", 4);	/* 1 stray byte */
	n = v2(buf, 0x21, 0x11, body, 16);
	CHECK(bad_from(buf, n) == n);
	memcpy(body + 12, "\x04\xff\xff", 3);		/* 65535 */
	n = v2(buf, 0x21, 0x11, body, 15);
	CHECK(bad_from(buf, n) == n);
	memcpy(body + 12, "\x03\x00\x03" "abc", 6);	/* CRC32C of 3 */
	n = v2(buf, 0x21, 0x11, body, 18);
	CHECK(bad_from(buf, n) == n);
	memcpy(body + 12, "\x03\x00\x04\0\0\0\0", 7);	/* wrong CRC32C */
	n = v2(buf, 0x21, 0x11, body, 19);
	CHECK(bad_from(buf, n) == n && strstr(err, "CRC32C") != NULL);
	/* the same for IPv6 and UNIX, where TLVs start later */
	memset(body, 0, 36);
	memcpy(body + 36, "\x04\x00\x05zz", 5);
	n = v2(buf, 0x21, 0x21, body, 41);
	CHECK(bad_from(buf, n) == n);
	memset(body, 0, 216);
	memcpy(body + 216, "\x04\x00\x05zz", 5);
	n = v2(buf, 0x21, 0x31, body, 221);
	CHECK(bad_from(buf, n) == n);

	/* Half a signature, then something else */
	n = v2(buf, 0x21, 0x11, addr4, 12);
	buf[4] = 'x';
	CHECK(bad_from(buf, n) == 5);
	n = v2(buf, 0x21, 0x11, addr4, 12);
	buf[11] = '\r';
	CHECK(bad_from(buf, n) == 12);
	CHECK(bad_str("\r\n\r\nGET / HTTP/1.1"));
}

/* The largest length field: 65535 bytes of block, waited for in full. */
static void
test_v2_huge(void)
{
	size_t n = PROXY_V2_MAX + 100;
	unsigned char *buf = calloc(1, n), *body = calloc(1, 65535);
	struct proxy_hdr h;

	if (buf == NULL || body == NULL)
		abort();
	/* IPv4, then 65523 bytes of zeros: 21841 empty TLVs of type 0. */
	memcpy(body, addr4, 12);
	CHECK(v2(buf, 0x21, 0x11, body, 65535) == PROXY_V2_MAX);
	CHECK(proxy_need(buf, 16) == PROXY_V2_MAX);
	CHECK(parse(buf, 16, &h) == 0);
	CHECK(parse(buf, PROXY_V2_MAX - 1, &h) == 0);
	CHECK(parse(buf, PROXY_V2_MAX, &h) == PROXY_V2_MAX);
	CHECK(parse(buf, n, &h) == PROXY_V2_MAX);
	CHECK_STR(addr_str(&h.src), "203.0.113.7 51234");
	/* 65534: a stray byte at the end */
	v2(buf, 0x21, 0x11, body, 65534);
	CHECK(parse(buf, 16 + 65534, &h) == -1);
	/* LOCAL with the largest block: skipped, whatever it holds */
	memset(body, 0xff, 65535);
	v2(buf, 0x20, 0x11, body, 65535);
	CHECK(parse(buf, PROXY_V2_MAX - 1, &h) == 0);
	CHECK(parse(buf, n, &h) == PROXY_V2_MAX && h.local == 1);
	free(buf);
	free(body);
}

/* Random bytes, and random changes to good headers: no crash, sane. */
static void
test_random(void)
{
	uint64_t s = 0x9e3779b97f4a7c15u;
	unsigned char buf[300];
	int sane = 1, some_good = 0;

	for (int round = 0; round < 200000; round++) {
		struct proxy_hdr h;
		size_t n;
		int r;

		for (size_t i = 0; i < sizeof(buf); i++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			buf[i] = (unsigned char)s;
		}
		n = s % sizeof(buf);
		if (round % 2 == 0) {		/* a good header, mutated */
			const char *hex = captured[round / 2 %
			    (sizeof(captured) / sizeof(captured[0]))].hex;
			unsigned char tmp[256];
			size_t hn = unhex(tmp, hex);

			memcpy(buf, tmp, hn);
			if (round % 4 == 0)
				buf[s % hn] ^= (unsigned char)(1u << (s >> 8 & 7));
			n = (s >> 16) % (hn + 1);
		}
		r = proxy_parse(buf, n, &h, err, sizeof(err));
		if (r > 0) {
			some_good = 1;
			if ((size_t)r > n || h.len != (size_t)r ||
			    (size_t)r > proxy_need(buf, n) ||
			    parse(buf, (size_t)r, &h) != r)
				sane = 0;
		} else if (r < -1)
			sane = 0;
	}
	CHECK(sane);
	CHECK(some_good);
}

static void
test_err_null(void)
{
	struct proxy_hdr h;

	CHECK(proxy_parse((const unsigned char *)"GET", 3, &h, NULL, 0) == -1);
	CHECK(proxy_parse((const unsigned char *)"", 0, &h, NULL, 0) == 0);
	CHECK(proxy_need((const unsigned char *)"", 0) == PROXY_V1_MAX);
	CHECK(proxy_need((const unsigned char *)"PROXY", 5) == PROXY_V1_MAX);
	/* A message names the problem */
	CHECK(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n", &h) == -1);
	CHECK(strstr(err, "source port") != NULL);
	CHECK(parse_str("PROXY TCP4 1.2.3.4 5.6.7.256 80 443\r\n", &h) == -1);
	CHECK(strstr(err, "destination address") != NULL);
}

int
main(void)
{
	test_captured();
	test_v1_good();
	test_v1_bad();
	test_v2_good();
	test_v2_bad();
	test_v2_huge();
	test_random();
	test_err_null();
	T_DONE();
}
