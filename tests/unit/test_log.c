/*
 * test_log.c: quoting of values in key=value lines and the derived JSON, so
 * that both formats carry the same keys and survive hostile values.
 */
#include "chald.h"
#include "t.h"

static void
json_is(const char *line, const char *want)
{
	char out[4096];

	CHECK(log_kv_to_json(line, out, sizeof(out)) == 0);
	CHECK_STR(out, want);
}

int
main(void)
{
	char line[512];

	CHECK_STR(log_quote("plain"), "plain");
	CHECK_STR(log_quote(""), "\"\"");
	CHECK_STR(log_quote("two words"), "\"two words\"");
	CHECK_STR(log_quote("a\"b"), "\"a\\\"b\"");
	CHECK_STR(log_quote("k=v"), "\"k=v\"");
	CHECK_STR(log_quote("line\nbreak"), "\"line break\"");
	CHECK_STR(log_quote(NULL), "\"\"");

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
	json_is(line, "{\"event\":\"e\",\"msg\":\"\\\\ \\\"   {}\"}");
	/* A tiny buffer is refused rather than overrun. */
	{
		char small[8];

		CHECK(log_kv_to_json("a b=c", small, sizeof(small)) == -1);
	}
	T_DONE();
}
