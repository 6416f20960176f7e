/*
 * fuzz_proxy.c: libFuzzer harness for the PROXY protocol parser (proxy.c).
 * Besides "no crash, no leak", it checks what the gate relies on: a header's
 * length never runs past the bytes given and does not depend on what
 * follows it, every strict prefix of a header is "more", "more" only while
 * below proxy_need(), and a refusal always has a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
parse(const uint8_t *data, size_t size, struct proxy_hdr *h)
{
	char err[160];

	err[0] = '\0';
	int r = proxy_parse(data, size, h, err, sizeof(err));

	if (r == -1 && err[0] == '\0')
		abort();
	return r;
}

static void
check_header(const uint8_t *data, size_t size, int r,
    const struct proxy_hdr *h)
{
	struct proxy_hdr again;

	if ((size_t)r > size || h->len != (size_t)r ||
	    (size_t)r > proxy_need(data, size))
		abort();
	if (h->version != 1 && h->version != 2)
		abort();
	if (h->local) {
		if (h->src.ss_family != 0 || h->dst.ss_family != 0)
			abort();
	} else if (h->src.ss_family != h->family ||
	    h->dst.ss_family != h->family ||
	    (h->family != AF_INET && h->family != AF_INET6))
		abort();
	/* The header alone: the same verdict. */
	if (parse(data, (size_t)r, &again) != r ||
	    memcmp(h, &again, sizeof(again)) != 0)
		abort();
	/* Its strict prefixes: "more" (all of them for short headers). */
	for (size_t k = (size_t)r > 256 ? (size_t)r - 1 : 0;
	    k < (size_t)r; k++)
		if (parse(data, k, &again) != 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr h, shorter;
	int r = parse(data, size, &h);

	if (r > 0)
		check_header(data, size, r, &h);
	else if (r == 0) {
		if (size >= proxy_need(data, size))
			abort();
	} else if (r != -1)
		abort();
	/* A header in fewer bytes would have been found in these. */
	if (size > 0 && r <= 0 && parse(data, size - 1, &shorter) > 0)
		abort();
	return 0;
}
