/*
 * fuzz_config: the bytes as a configuration file, through the real parser
 * (config_parse_stream, from memory) and, when it parses, config_finish.
 * After a first "\0\0", the rest is options of the command line, as
 * main.c applies them over the file: "key=value" items separated by NULs.
 * Then the property that -n relies on: what config_print writes parses
 * and finishes again, and prints the same. Any difference aborts, as does
 * a crash, a leak or undefined behaviour (ASan, UBSan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chald.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Applies "key=value\0key=value..." as main.c applies its options. */
static int
apply_options(struct config *c, const char *opts, size_t len, char *err,
    size_t errlen)
{
	const char *end = opts + len;

	for (const char *p = opts; p < end; p += strnlen(p,
	    (size_t)(end - p)) + 1) {
		char *item = strndup(p, (size_t)(end - p)), *eq;
		int r = 0;

		if (item == NULL)
			abort();
		if ((eq = strchr(item, '=')) != NULL) {
			*eq = '\0';
			if (!config_is_service_key(item))
				r = config_set_global(c, item, eq + 1, err,
				    errlen);
			for (struct service *s = c->services; s != NULL &&
			    r == 0 && config_is_service_key(item); s = s->next)
				r = config_set_service(s, item, eq + 1, "/",
				    err, errlen);
		}
		free(item);
		if (r == -1)
			return -1;
	}
	return 0;
}

/*
 * Parses text (up to a "\0\0", then the options after it) and finishes
 * it; NULL with err filled when it is refused.
 */
static struct config *
load(const void *text, size_t len, char *err, size_t errlen)
{
	const char *opts = memmem(text, len, "\0\0", 2);
	size_t optlen = 0;
	struct config *c = config_new();
	FILE *fp;
	int r = -1;

	/* fmemopen() will not open 0 bytes: an empty file has no service. */
	if (c == NULL)
		abort();
	if (opts != NULL) {
		optlen = len - (size_t)(opts - (const char *)text) - 2;
		len = (size_t)(opts - (const char *)text);
		opts += 2;
	}
	fp = len > 0 ? fmemopen((void *)(uintptr_t)text, len, "r") : NULL;
	if (fp != NULL) {
		r = config_parse_stream(c, fp, "fuzz.conf", "/nonexistent",
		    err, errlen);
		fclose(fp);
	}
	if (r == 0 && opts != NULL)
		r = apply_options(c, opts, optlen, err, errlen);
	if (r == 0)
		r = config_finish(c, err, errlen);
	if (memchr(err, '\0', errlen) == NULL)
		abort();
	if (r == 0)
		return c;
	config_free(c);
	return NULL;
}

static char *
print(const struct config *c, size_t *len)
{
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);

	if (fp == NULL)
		abort();
	config_print(c, fp);
	fclose(fp);
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CHALD_ERRLEN] = "", *out1, *out2;
	struct config *c, *c2;
	size_t len1, len2;

	c = load(data, size, err, sizeof(err));
	if (c == NULL)
		return 0;
	out1 = print(c, &len1);
	c2 = load(out1, len1, err, sizeof(err));
	if (c2 == NULL) {
		fprintf(stderr, "printed config refused: %s\n--- printed:\n%s",
		    err, out1);
		abort();
	}
	out2 = print(c2, &len2);
	if (len1 != len2 || memcmp(out1, out2, len1) != 0) {
		fprintf(stderr, "printed twice differently:\n--- first:\n%s"
		    "--- second:\n%s", out1, out2);
		abort();
	}
	free(out1);
	free(out2);
	config_free(c);
	config_free(c2);
	return 0;
}
