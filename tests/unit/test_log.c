/*
 * test_log.c: quoting of values in key=value lines and the derived JSON, so
 * that both formats carry the same keys and survive hostile values: a log
 * fed with anything holds valid UTF-8 without control characters, every
 * JSON line parses, and a cut falls between whole characters or escapes.
 */
#include <stdlib.h>
#include <unistd.h>

#include "chald.h"
#include "t.h"
#include "logcheck.h"

static void
json_is(const char *line, const char *want)
{
	char out[4096];

	CHECK(log_kv_to_json(line, out, sizeof(out)) == 0);
	CHECK_STR(out, want);
}

/* What players and challenges may write, one value each. */
static const char *hostile[] = {
	"\x1b[2J\x1b[1;1Hfake prompt$ ",	/* ESC: clear screen */
	"\x1b]0;owned\x07",			/* set title, BEL */
	"abc\b\b\bxyz",				/* BS over earlier text */
	"\x01\x02\x03\x7f",
	"tab\there\vvt\fff\rcr",
	"\xc2\x9b" "31m",			/* C1 CSI, valid UTF-8 */
	"\xc2\x85next line",			/* C1 NEL */
	"\xff\xfe\xfd",				/* not UTF-8 */
	"\xc0\xaf",				/* overlong '/' */
	"\xed\xa0\x80",				/* a surrogate */
	"\xe2\x82",				/* cut short */
	"\xf4\x90\x80\x80",			/* beyond U+10FFFF */
	"user \xe2\x80\xae" "txt.exe",		/* bidi override */
	"a\xe2\x80\xa8" "b",			/* line separator */
	"x\" injected=1 y=\"",			/* a fake key */
	"\\\" \\\\ \\x41 \\u0041",		/* escapes, literally */
	"caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x8f\x81",	/* fine UTF-8 */
	"line1\nline2 fake=event",
	"",
};

static void
test_quote(void)
{
	CHECK_STR(log_quote("plain"), "plain");
	CHECK_STR(log_quote(""), "\"\"");
	CHECK_STR(log_quote("two words"), "\"two words\"");
	CHECK_STR(log_quote("a\"b"), "\"a\\\"b\"");
	CHECK_STR(log_quote("a\\b"), "\"a\\\\b\"");
	CHECK_STR(log_quote("k=v"), "\"k=v\"");
	CHECK_STR(log_quote("line\nbreak\r\t"), "\"line\\nbreak\\r\\t\"");
	CHECK_STR(log_quote(NULL), "\"\"");
	/* Control bytes never go out bare, nor raw inside quotes. */
	CHECK_STR(log_quote("\x1b[31mred"), "\"\\x1b[31mred\"");
	CHECK_STR(log_quote("a\ab\bc\x01" "d\ve\ff\x7f"),
	    "\"a\\x07b\\x08c\\x01d\\x0be\\x0cf\\x7f\"");
	CHECK_STR(log_quote("\xc2\x9b" "2J"), "\"\\u009b2J\"");
	CHECK_STR(log_quote("\xe2\x80\xae"), "\"\\u202e\"");
	/* Bytes that are not UTF-8, one escape each. */
	CHECK_STR(log_quote("\xff\xfe"), "\"\\xff\\xfe\"");
	CHECK_STR(log_quote("\xc0\xaf"), "\"\\xc0\\xaf\"");
	CHECK_STR(log_quote("\xed\xa0\x80"), "\"\\xed\\xa0\\x80\"");
	CHECK_STR(log_quote("x\xe2\x82"), "\"x\\xe2\\x82\"");
	/* Text in other scripts stays as it is, in quotes. */
	CHECK_STR(log_quote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
	CHECK_STR(log_quote("\xf0\x9f\x8f\x81"), "\"\xf0\x9f\x8f\x81\"");
}

/* A long value is cut between whole escapes or characters, and closed. */
static void
test_quote_cut(void)
{
	char *big = malloc(6001);
	const char *q;
	size_t n;

	memset(big, '\x01', 3000);
	big[3000] = '\0';
	q = log_quote(big);
	n = strlen(q);
	CHECK(n < 4096 && n > 4000);
	CHECK(q[0] == '"' && q[n - 1] == '"');
	CHECK((n - 2) % 4 == 0);
	CHECK(strncmp(q + n - 5, "\\x01\"", 5) == 0);

	for (int i = 0; i < 3000; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 2);
	big[6000] = '\0';
	q = log_quote(big);
	n = strlen(q);
	CHECK(n < 4096 && q[n - 1] == '"');
	CHECK(lc_clean_text(q, n));
	CHECK((n - 2) % 2 == 0);
	free(big);
}

static void
test_json(void)
{
	char line[512], out[4096], small[8];

	json_is("accept service=pwn1 ip=203.0.113.7 port=51234 pid=4242 "
	    "conns=17/256",
	    "{\"event\":\"accept\",\"service\":\"pwn1\",\"ip\":\"203.0.113.7\","
	    "\"port\":51234,\"pid\":4242,\"conns\":\"17/256\"}");
	json_is("end pid=1 status=signal:9 cause=timeout secs=60.0",
	    "{\"event\":\"end\",\"pid\":1,\"status\":\"signal:9\","
	    "\"cause\":\"timeout\",\"secs\":60.0}");
	json_is("warning msg=\"a \\\"quoted\\\" word\"",
	    "{\"event\":\"warning\",\"msg\":\"a \\\"quoted\\\" word\"}");
	/* Numbers with leading zeros or signs only stay strings. */
	json_is("x a=007 b=-3 c=1.2.3",
	    "{\"event\":\"x\",\"a\":\"007\",\"b\":-3,\"c\":\"1.2.3\"}");
	json_is("bare", "{\"event\":\"bare\"}");
	/* Whatever a value holds, the JSON stays well formed. */
	snprintf(line, sizeof(line), "e msg=%s", log_quote("\\ \" \t {}"));
	json_is(line, "{\"event\":\"e\",\"msg\":\"\\\\ \\\" \\t {}\"}");
	/* The text escapes come back as what they stand for... */
	snprintf(line, sizeof(line), "e line=%s",
	    log_quote("\x1b[0m\xc2\x85\xe2\x80\xae\n"));
	json_is(line, "{\"event\":\"e\",\"line\":\"\\u001b[0m\\u0085\\u202e"
	    "\\n\"}");
	/* ...except bytes that are not UTF-8, which JSON cannot carry. */
	snprintf(line, sizeof(line), "e line=%s", log_quote("a\xff\xc0\xaf"));
	json_is(line, "{\"event\":\"e\",\"line\":\"a\\ufffd\\ufffd\\ufffd\"}");
	/* Raw bytes in a line that skipped log_quote() are made safe too. */
	json_is("e v=\xff\x1b k\xfe=\x01",
	    "{\"event\":\"e\",\"v\":\"\\ufffd\\u001b\","
	    "\"k\\ufffd\":\"\\u0001\"}");
	/* A cut keeps the object closed, and whole escapes. */
	snprintf(line, sizeof(line), "e a=1 line=\"%s\"",
	    "\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01");
	CHECK(log_kv_to_json(line, out, 60) == 0);
	CHECK_STR(out, "{\"event\":\"e\",\"a\":1,\"line\":\"\\u0001\\u0001"
	    "\\u0001\\u0001\\u0001\"}");
	CHECK(lc_json_object(out, strlen(out)));
	/* A pair whose key does not fit is left out whole. */
	CHECK(log_kv_to_json("event aaaaaaaaaaaaaaaaaaaaaaaaaaaa=1", out, 40)
	    == 0);
	CHECK_STR(out, "{\"event\":\"event\"}");
	/* A tiny buffer is refused rather than overrun. */
	CHECK(log_kv_to_json("a b=c", small, sizeof(small)) == -1);
}

/* Every line of a file: clean text, and JSON objects when json is set. */
static void
check_file(const char *path, int json, int want_lines)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lines = 0, bad = 0;

	if (fp == NULL) {
		CHECK(!"log file opened");
		return;
	}
	while ((n = getline(&line, &cap, fp)) > 0) {
		lines++;
		if (line[n - 1] != '\n') {
			bad++;
			fprintf(stderr, "line %d: no newline\n", lines);
			continue;
		}
		if (!lc_clean_text(line, (size_t)n - 1) ||
		    (json && !lc_json_object(line, (size_t)n - 1))) {
			bad++;
			fprintf(stderr, "line %d: bad: %.*s\n", lines,
			    (int)n - 1, line);
		}
		if (n > 4096 * 3 + 64) {
			bad++;
			fprintf(stderr, "line %d: %zd bytes\n", lines, n);
		}
	}
	free(line);
	fclose(fp);
	CHECK(bad == 0);
	CHECK(lines == want_lines);
}

/* The whole way out, through log_event() into a file, in both formats. */
static void
test_file(enum log_format fmt)
{
	char path[] = "/tmp/chald-test-log.XXXXXX";
	char *big = malloc(20000);
	int fd = mkstemp(path), lines = 0;
	size_t nh = sizeof(hostile) / sizeof(hostile[0]);

	close(fd);
	CHECK(log_init(path, fmt, 0) == 0);
	for (size_t i = 0; i < nh; i++, lines++)
		log_event("stderr service=x pid=1 line=%s",
		    log_quote(hostile[i]));
	/* Callers that forgot log_quote(), or quoted by hand. */
	for (size_t i = 0; i < nh; i++, lines++)
		log_event("raw v=%s k=\"%s\"", hostile[i], hostile[i]);
	log_warnx("%s", hostile[0]);
	lines++;
	/* Lines far past the limit, of escapes and of long characters,
	 * with a quoted value left open by the cut. */
	memset(big, '\x01', 19999);
	big[19999] = '\0';
	log_event("stderr line=%s", log_quote(big));
	log_event("raw line=\"%s\" after=1", big);
	for (int i = 0; i < 6666; i++)
		memcpy(big + 3 * i, "\xe2\x98\x95", 3);
	big[19998] = '\0';
	log_event("raw line=\"%s", big);
	log_event("raw a=1 b=2 c=%s", big);
	lines += 4;
	log_close();
	check_file(path, fmt == LOGFMT_JSON, lines);
	unlink(path);
	free(big);
}

int
main(void)
{
	test_quote();
	test_quote_cut();
	test_json();
	test_file(LOGFMT_TEXT);
	test_file(LOGFMT_JSON);
	T_DONE();
}
