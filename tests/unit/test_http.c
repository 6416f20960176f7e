/*
 * test_http.c: the admin listener's request reader (http.c), fed whole
 * requests, byte by byte and in odd pieces, and every kind of bad or
 * oversized input; and the response it builds.
 */
#include <stdlib.h>

#include "chald.h"
#include "t.h"

/* Feeds s in pieces of `step` bytes (0: at once); returns the result. */
static enum http_result
feed(struct http_req *r, const char *s, size_t len, size_t step)
{
	enum http_result res = HTTP_MORE;
	size_t off = 0, used;

	http_init(r);
	if (step == 0)
		step = len ? len : 1;
	while (off < len && res == HTTP_MORE) {
		size_t n = len - off < step ? len - off : step;

		res = http_feed(r, s + off, n, &used);
		off += used;
		if (res == HTTP_MORE && used != n)
			return HTTP_BAD;	/* took less without a verdict */
	}
	return res;
}

static enum http_result
feeds(struct http_req *r, const char *s)
{
	return feed(r, s, strlen(s), 0);
}

static void
test_good(void)
{
	struct http_req r;
	const char *req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\n"
	    "User-Agent: Prometheus/2.42.0\r\nAccept: text/plain;"
	    "version=0.0.4;q=1,*/*;q=0.1\r\nX-Prometheus-Scrape-Timeout-"
	    "Seconds: 10\r\n\r\n";

	/* Whole, and in every piece size: the same answer. */
	for (size_t step = 0; step <= 7; step++) {
		CHECK(feed(&r, req, strlen(req), step) == HTTP_DONE);
		CHECK_STR(r.method, "GET");
		CHECK_STR(r.path, "/metrics");
		CHECK(r.minor == 1);
	}
	/* The query is not part of the path; bare LF ends lines too. */
	CHECK(feeds(&r, "GET /healthz?verbose=1 HTTP/1.0\n\n") == HTTP_DONE);
	CHECK_STR(r.path, "/healthz");
	CHECK(r.minor == 0);
	CHECK(feeds(&r, "GET /status#x HTTP/1.1\r\n\r\n") == HTTP_DONE);
	CHECK_STR(r.path, "/status");
	/* Empty lines before the request are ignored (RFC 9112 2.2). */
	CHECK(feeds(&r, "\r\n\r\nGET / HTTP/1.1\r\n\r\n") == HTTP_DONE);
	CHECK_STR(r.path, "/");
	/* Any token is a method: the caller answers 405. */
	CHECK(feeds(&r, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\n")
	    == HTTP_DONE);
	CHECK_STR(r.method, "POST");
	/* Header values may hold tabs and obs-text; an empty value is fine. */
	CHECK(feeds(&r, "GET / HTTP/1.1\r\nA:\t\xe9t\xe9\r\nB:\r\n\r\n") ==
	    HTTP_DONE);
	/* Not yet whole. */
	CHECK(feeds(&r, "GET /metrics HTTP/1.1\r\nHost: x\r\n") == HTTP_MORE);
	CHECK(feeds(&r, "GET /metr") == HTTP_MORE);
	CHECK(feeds(&r, "") == HTTP_MORE);
}

static void
bad_is(const char *req, int status)
{
	struct http_req r;

	CHECK(feeds(&r, req) == HTTP_BAD);
	if (r.status != status)
		fprintf(stderr, "  %d for %s (want %d)\n", r.status, req,
		    status);
	CHECK(r.status == status);
	CHECK(r.why != NULL && *r.why != '\0');
}

static void
test_bad(void)
{
	bad_is("GET\r\n\r\n", 400);
	bad_is("GET /metrics\r\n\r\n", 400);		/* HTTP/0.9 */
	bad_is(" GET / HTTP/1.1\r\n\r\n", 400);
	bad_is("GET  / HTTP/1.1\r\n\r\n", 400);
	bad_is("GET metrics HTTP/1.1\r\n\r\n", 400);
	bad_is("GET http://x/metrics HTTP/1.1\r\n\r\n", 400);
	bad_is("GET * HTTP/1.1\r\n\r\n", 400);
	bad_is("GET / HTTP/1.1 \r\n\r\n", 400);
	bad_is("GET / HTTP/1\r\n\r\n", 400);
	bad_is("GET / HTTP/1.10\r\n\r\n", 400);
	bad_is("GET / http/1.1\r\n\r\n", 400);
	bad_is("GET / HTTP/2.0\r\n\r\n", 505);
	bad_is("GE(T / HTTP/1.1\r\n\r\n", 400);
	bad_is("GETGETGETGETGETGET / HTTP/1.1\r\n\r\n", 501);
	bad_is("GET /\x01 HTTP/1.1\r\n\r\n", 400);
	bad_is("GET /\x7f HTTP/1.1\r\n\r\n", 400);
	bad_is("GET /\xff HTTP/1.1\r\n\r\n", 400);
	bad_is("GET / HTTP/1.1\rX\n\r\n", 400);		/* CR without LF */
	bad_is("GET / HTTP/1.1\r\nHost\r\n\r\n", 400);	/* no colon */
	bad_is("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
	bad_is("GET / HTTP/1.1\r\n: x\r\n\r\n", 400);
	bad_is("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);
	bad_is("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400);
	bad_is("GET / HTTP/1.1\r\nA: b\r\r\n\r\n", 400);
	bad_is("GET / HTTP/1.1\r\n\r\r", 400);
	{
		struct http_req r;
		char nul[] = "GET / HTTP/1.1\r\nA: \0\r\n\r\n";

		CHECK(feed(&r, nul, sizeof(nul) - 1, 0) == HTTP_BAD);
		CHECK(r.status == 400);
	}
}

static void
test_bounds(void)
{
	struct http_req r;
	char *big = malloc(2 * HTTP_REQ_MAX);
	size_t n;

	/* A long target: 414, whether the line or the path is too long. */
	memset(big, 0, 2 * HTTP_REQ_MAX);
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', 300);
	strcat(big, " HTTP/1.1\r\n\r\n");
	bad_is(big, 414);
	memset(big + 5, 'a', 1500);
	bad_is(big, 414);

	/* Headers past HTTP_REQ_MAX: 431, and not one byte more is taken. */
	strcpy(big, "GET / HTTP/1.1\r\n");
	while (strlen(big) < HTTP_REQ_MAX + 100)
		strcat(big, "X-Filler: 0123456789abcdef0123456789abcdef"
		    "0123456789abcdef0123456789abcdef0123456789abcdef\r\n");
	http_init(&r);
	CHECK(http_feed(&r, big, strlen(big), &n) == HTTP_BAD);
	CHECK(r.status == 431);
	CHECK(n == HTTP_REQ_MAX);
	/* Once decided, it stays so and takes nothing. */
	CHECK(http_feed(&r, "\r\n", 2, &n) == HTTP_BAD);
	CHECK(n == 0);

	/* Too many header lines, each short. */
	strcpy(big, "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= HTTP_HEADERS_MAX; i++)
		strcat(big, "A: b\r\n");
	strcat(big, "\r\n");
	bad_is(big, 431);

	/* Endless empty lines are bounded too. */
	memset(big, '\n', HTTP_REQ_MAX + 10);
	CHECK(feed(&r, big, HTTP_REQ_MAX + 10, 0) == HTTP_BAD);
	CHECK(r.status == 431);

	/* What follows a whole request is not taken. */
	http_init(&r);
	CHECK(http_feed(&r, "GET / HTTP/1.1\r\n\r\nGARBAGE", 25, &n) ==
	    HTTP_DONE);
	CHECK(n == 18);
	CHECK(http_feed(&r, "more", 4, &n) == HTTP_DONE);
	CHECK(n == 0);
	free(big);
}

static void
test_respond(void)
{
	struct http_buf body = { 0 }, out = { 0 };

	http_buf_printf(&body, "ok\n");
	http_respond(&out, 200, "text/plain", &body, NULL);
	CHECK_STR(out.data, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 3\r\nCache-Control: no-store\r\n"
	    "Connection: close\r\n\r\nok\n");
	http_buf_free(&out);
	http_respond(&out, 405, "text/plain", NULL, "Allow: GET\r\n");
	CHECK(strstr(out.data, "405 Method Not Allowed\r\n") != NULL);
	CHECK(strstr(out.data, "Content-Length: 0\r\nCache-Control: no-store"
	    "\r\nConnection: close\r\nAllow: GET\r\n\r\n") != NULL);
	http_buf_free(&out);

	/* A body that could not be built is a 500, not a truncated page. */
	body.failed = 1;
	http_respond(&out, 200, "text/plain", &body, NULL);
	CHECK(strncmp(out.data, "HTTP/1.1 500 ", 13) == 0);
	CHECK(strstr(out.data, "Content-Length: 0\r\n") != NULL);
	http_buf_free(&out);
	http_buf_free(&body);

	/* The buffer grows past any one printf. */
	for (int i = 0; i < 10000; i++)
		http_buf_printf(&body, "%d,", i);
	CHECK(!body.failed);
	CHECK(body.len == strlen(body.data));
	CHECK(strncmp(body.data + body.len - 5, "9999,", 5) == 0);
	http_buf_free(&body);
	CHECK_STR(http_reason(431), "Request Header Fields Too Large");
}

int
main(void)
{
	test_good();
	test_bad();
	test_bounds();
	test_respond();
	T_DONE();
}
