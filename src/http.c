/*
 * http.c: the admin listener's HTTP, without any I/O. A request reader
 * that is fed bytes as they come and says when the request is whole, or
 * what is wrong with it (and which status to answer); and the response
 * head and the growing buffer the pages are written into. admin.c does the
 * reading and writing; this file only looks at bytes, so that it can be
 * unit-tested and fuzzed on its own (tests/unit/test_http.c,
 * tests/fuzz/fuzz_http.c).
 *
 * The reader knows only what the admin pages need: a request line
 * (RFC 9112 section 3) in origin form, HTTP/1.0 or 1.1, and header lines
 * that are checked for their shape and then dropped. There is no body, no
 * keep-alive and no pipelining: every response closes its connection.
 * Everything is bounded: the whole request (HTTP_REQ_MAX), the request
 * line, the number of header lines; a request that exceeds a bound is
 * refused with the status RFC 9110 gives for it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chald.h"

enum {
	S_LINE,		/* the request line */
	S_LINE_CR,	/* a CR ended it: LF must follow */
	S_HDR_START,	/* at the start of a header line (or the end) */
	S_HDR_NAME,
	S_HDR_VALUE,
	S_HDR_CR,
	S_END_CR,	/* the empty line's CR */
	S_DONE,
	S_BAD,
};

/* RFC 9110 5.6.2: tchar. */
static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

void
http_init(struct http_req *r)
{
	memset(r, 0, sizeof(*r));
	r->state = S_LINE;
}

static enum http_result
http_bad(struct http_req *r, int status, const char *why)
{
	r->state = S_BAD;
	r->status = status;
	r->why = why;
	return HTTP_BAD;
}

/* "METHOD SP /target SP HTTP/1.x", in r->line (NUL-terminated). */
static enum http_result
http_request_line(struct http_req *r)
{
	char *sp1, *sp2, *target, *version;
	size_t mlen, plen;

	sp1 = strchr(r->line, ' ');
	if (sp1 == NULL)
		return http_bad(r, 400, "no target in the request line");
	mlen = (size_t)(sp1 - r->line);
	if (mlen == 0 || mlen >= sizeof(r->method))
		return http_bad(r, mlen == 0 ? 400 : 501, "bad method");
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar((unsigned char)r->line[i]))
			return http_bad(r, 400, "bad method");
	target = sp1 + 1;
	sp2 = strchr(target, ' ');
	if (sp2 == NULL)
		return http_bad(r, 400, "no version in the request line "
		    "(HTTP/0.9 is not served)");
	version = sp2 + 1;
	if (target == sp2 || target[0] != '/')
		return http_bad(r, 400, "the target must be a path");
	for (const char *p = target; p < sp2; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return http_bad(r, 400, "bad character in the target");
	plen = strcspn(target, "?# ");
	if (plen >= sizeof(r->path))
		return http_bad(r, 414, "target too long");
	if (strncmp(version, "HTTP/", 5) != 0 || version[5] < '0' ||
	    version[5] > '9' || version[6] != '.' || version[7] < '0' ||
	    version[7] > '9' || version[8] != '\0')
		return http_bad(r, 400, "bad version");
	if (version[5] != '1')
		return http_bad(r, 505, "only HTTP/1.0 and 1.1 are served");
	memcpy(r->method, r->line, mlen);
	r->method[mlen] = '\0';
	memcpy(r->path, target, plen);
	r->path[plen] = '\0';
	r->minor = version[7] - '0';
	r->state = S_HDR_START;
	return HTTP_MORE;
}

static enum http_result
http_byte(struct http_req *r, unsigned char c)
{
	switch (r->state) {
	case S_LINE:
		if (c == '\n' || c == '\r') {
			/* RFC 9112 2.2: empty lines before a request may be
			 * ignored. */
			if (r->linelen == 0 && c == '\n')
				return HTTP_MORE;
			if (c == '\r') {
				r->state = S_LINE_CR;
				return HTTP_MORE;
			}
			r->line[r->linelen] = '\0';
			return http_request_line(r);
		}
		if (c < 0x20 || c == 0x7f)
			return http_bad(r, 400, "control character in the "
			    "request line");
		if (r->linelen + 1 >= sizeof(r->line))
			return http_bad(r, 414, "request line too long");
		r->line[r->linelen++] = (char)c;
		return HTTP_MORE;
	case S_LINE_CR:
		if (c != '\n')
			return http_bad(r, 400, "CR without LF");
		if (r->linelen == 0) {
			r->state = S_LINE;
			return HTTP_MORE;
		}
		r->line[r->linelen] = '\0';
		return http_request_line(r);
	case S_HDR_START:
		if (c == '\r') {
			r->state = S_END_CR;
			return HTTP_MORE;
		}
		if (c == '\n') {
			r->state = S_DONE;
			return HTTP_DONE;
		}
		if (c == ' ' || c == '\t')
			return http_bad(r, 400, "folded header line");
		if (!is_tchar(c))
			return http_bad(r, 400, "bad header name");
		if (++r->nheaders > HTTP_HEADERS_MAX)
			return http_bad(r, 431, "too many header lines");
		r->state = S_HDR_NAME;
		return HTTP_MORE;
	case S_HDR_NAME:
		if (c == ':')
			r->state = S_HDR_VALUE;
		else if (!is_tchar(c))
			return http_bad(r, 400, "bad header name");
		return HTTP_MORE;
	case S_HDR_VALUE:
		if (c == '\r')
			r->state = S_HDR_CR;
		else if (c == '\n')
			r->state = S_HDR_START;
		else if ((c < 0x20 && c != '\t') || c == 0x7f)
			return http_bad(r, 400, "control character in a "
			    "header");
		return HTTP_MORE;
	case S_HDR_CR:
	case S_END_CR:
		if (c != '\n')
			return http_bad(r, 400, "CR without LF");
		if (r->state == S_END_CR) {
			r->state = S_DONE;
			return HTTP_DONE;
		}
		r->state = S_HDR_START;
		return HTTP_MORE;
	case S_DONE:
		return HTTP_DONE;
	default:
		return HTTP_BAD;
	}
}

/*
 * Takes bytes until the request is whole or wrong; *used says how many
 * were taken (what follows a whole request is not read). Once it has
 * said HTTP_DONE or HTTP_BAD it says so again and takes nothing.
 */
enum http_result
http_feed(struct http_req *r, const void *buf, size_t len, size_t *used)
{
	const unsigned char *p = buf;
	enum http_result res = r->state == S_DONE ? HTTP_DONE :
	    r->state == S_BAD ? HTTP_BAD : HTTP_MORE;
	size_t i = 0;

	while (res == HTTP_MORE && i < len) {
		if (r->total >= HTTP_REQ_MAX) {
			res = http_bad(r, 431, "request too large");
			break;
		}
		r->total++;
		res = http_byte(r, p[i++]);
	}
	if (used != NULL)
		*used = i;
	return res;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}

/* The buffer pages are written into. */

static int
http_buf_grow(struct http_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 1024;
	char *p;

	if (b->failed)
		return -1;
	if (b->len + need < b->cap)
		return 0;
	while (cap <= b->len + need)
		cap *= 2;
	if (cap > HTTP_BUF_MAX || (p = realloc(b->data, cap)) == NULL) {
		b->failed = 1;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void
http_buf_add(struct http_buf *b, const void *data, size_t len)
{
	if (http_buf_grow(b, len + 1) == -1)
		return;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
http_buf_printf(struct http_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (http_buf_grow(b, 256) == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (http_buf_grow(b, (size_t)n + 1) == -1)
			return;
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void
http_buf_free(struct http_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/*
 * A whole response: the head, then the body. Every response closes the
 * connection; a body that could not be built (no memory) turns into a
 * 500 with no body.
 */
void
http_respond(struct http_buf *out, int status, const char *ctype,
    const struct http_buf *body, const char *extra)
{
	const char *data = body != NULL && !body->failed ? body->data : "";
	size_t len = body != NULL && !body->failed ? body->len : 0;

	if (body != NULL && body->failed) {
		status = 500;
		ctype = "text/plain; charset=utf-8";
	}
	http_buf_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n"
	    "Connection: close\r\n"
	    "%s\r\n", status, http_reason(status), ctype, len,
	    extra != NULL ? extra : "");
	if (len > 0)
		http_buf_add(out, data, len);
}
