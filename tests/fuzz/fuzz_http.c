/*
 * fuzz_http.c: libFuzzer harness for the admin listener's request reader
 * (http.c). The input is fed whole and again in pieces whose sizes come
 * from its first byte; both must give the same verdict, method and path,
 * and whatever the reader says must hold together: a whole request has a
 * token method and a path that starts with '/', a refused one a status
 * and a reason, and no more than HTTP_REQ_MAX bytes are ever taken.
 * Build and run with "make fuzz".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chald.h"

static enum http_result
run(struct http_req *r, const uint8_t *data, size_t len, size_t step)
{
	enum http_result res = HTTP_MORE;
	size_t off = 0, used;

	http_init(r);
	while (off < len && res == HTTP_MORE) {
		size_t n = len - off < step ? len - off : step;

		res = http_feed(r, data + off, n, &used);
		if (used > n || (res == HTTP_MORE && used != n))
			abort();
		off += used;
	}
	if (r->total > HTTP_REQ_MAX)
		abort();
	return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct http_req a, b;
	struct http_buf out = { 0 }, body = { 0 };
	enum http_result ra, rb;
	size_t step = len > 0 ? (size_t)(data[0] % 13) + 1 : 1;

	ra = run(&a, data, len, len ? len : 1);
	rb = run(&b, data, len, step);
	if (ra != rb)
		abort();
	if (ra == HTTP_DONE) {
		if (a.method[0] == '\0' || a.path[0] != '/' || a.minor < 0 ||
		    a.minor > 9 || strcmp(a.method, b.method) != 0 ||
		    strcmp(a.path, b.path) != 0 ||
		    strlen(a.path) >= sizeof(a.path))
			abort();
		http_buf_printf(&body, "%s %s\n", a.method, a.path);
	} else if (ra == HTTP_BAD) {
		if (a.status < 400 || a.status > 505 || a.why == NULL ||
		    a.status != b.status)
			abort();
		http_buf_printf(&body, "%s\n", a.why);
	}
	http_respond(&out, ra == HTTP_BAD ? a.status : 200, "text/plain",
	    &body, NULL);
	if (out.failed || strncmp(out.data, "HTTP/1.1 ", 9) != 0)
		abort();
	http_buf_free(&out);
	http_buf_free(&body);
	return 0;
}
