/*
 * test_config.c: units, command splitting, and the INI parser's handling of
 * good and broken files, down to the file:line of each error.
 */
#include <sys/stat.h>

#include <stdlib.h>
#include <unistd.h>

#include "chald.h"
#include "t.h"

static char dir[] = "/tmp/chald-test-config.XXXXXX";

static void
test_units(void)
{
	int64_t ms;
	uint64_t b;
	double r;
	long n;

	CHECK(parse_duration("90s", &ms) == 0 && ms == 90000);
	CHECK(parse_duration("2m", &ms) == 0 && ms == 120000);
	CHECK(parse_duration("1h", &ms) == 0 && ms == 3600000);
	CHECK(parse_duration("250ms", &ms) == 0 && ms == 250);
	CHECK(parse_duration("1.5s", &ms) == 0 && ms == 1500);
	CHECK(parse_duration("60", &ms) == 0 && ms == 60000);
	CHECK(parse_duration("0", &ms) == 0 && ms == 0);
	CHECK(parse_duration("", &ms) == -1);
	CHECK(parse_duration("-1s", &ms) == -1);
	CHECK(parse_duration("abc", &ms) == -1);
	CHECK(parse_duration("10 s", &ms) == -1);
	CHECK(parse_duration("10x", &ms) == -1);
	CHECK(parse_duration("nan", &ms) == -1);
	CHECK(parse_duration("1e300s", &ms) == -1);
	CHECK(parse_duration("0x10", &ms) == -1);
	CHECK(parse_duration("inf", &ms) == -1);
	/* Never "none" by rounding: a tiny duration is 1 ms. */
	CHECK(parse_duration("0.4ms", &ms) == 0 && ms == 1);

	CHECK(parse_size("64M", &b) == 0 && b == 64ull << 20);
	CHECK(parse_size("1G", &b) == 0 && b == 1ull << 30);
	CHECK(parse_size("512k", &b) == 0 && b == 512ull << 10);
	CHECK(parse_size("4096", &b) == 0 && b == 4096);
	CHECK(parse_size("2MiB", &b) == 0 && b == 2ull << 20);
	CHECK(parse_size("-1M", &b) == -1);
	CHECK(parse_size("12Q", &b) == -1);
	CHECK(parse_size("99999999999999999999", &b) == -1);
	CHECK(parse_size("20000000000T", &b) == -1);

	CHECK(parse_rate("10/s", &r) == 0 && r == 10);
	CHECK(parse_rate("120/m", &r) == 0 && r == 2);
	CHECK(parse_rate("3600/h", &r) == 0 && r == 1);
	CHECK(parse_rate("5", &r) == 0 && r == 5);
	CHECK(parse_rate("0", &r) == 0 && r == 0);
	CHECK(parse_rate("/s", &r) == -1);
	CHECK(parse_rate("-1/s", &r) == -1);
	CHECK(parse_rate("10/w", &r) == -1);
	CHECK(parse_rate("10/ s", &r) == -1);

	/* The same unit words for durations and rates (issue 11). */
	CHECK(parse_rate("10/min", &r) == 0 && r == 10.0 / 60);
	CHECK(parse_rate("30/minute", &r) == 0 && r == 0.5);
	CHECK(parse_rate("5/sec", &r) == 0 && r == 5);
	CHECK(parse_rate("7200/hour", &r) == 0 && r == 2);
	CHECK(parse_rate("86400/d", &r) == 0 && r == 1);
	CHECK(parse_rate("1/day", &r) == 0 && r == 1.0 / 86400);
	CHECK(parse_rate("1/ms", &r) == 0 && r == 1000);
	CHECK(parse_duration("2min", &ms) == 0 && ms == 120000);
	CHECK(parse_duration("3sec", &ms) == 0 && ms == 3000);
	CHECK(parse_duration("1second", &ms) == 0 && ms == 1000);
	CHECK(parse_duration("2hours", &ms) == 0 && ms == 7200000);
	CHECK(parse_duration("1hr", &ms) == 0 && ms == 3600000);
	CHECK(parse_duration("1day", &ms) == 0 && ms == 86400000);
	CHECK(parse_duration("5msec", &ms) == 0 && ms == 5);
	CHECK(parse_duration("1mins", &ms) == -1);

	/* Decimal only: no hex, exponents, inf or nan, which made a bucket
	 * that never refills (issue 12). And between 1/d and 1000000/s. */
	CHECK(parse_rate("0x1p-1074/s", &r) == -1);
	CHECK(parse_rate("0x10", &r) == -1);
	CHECK(parse_rate("1e3/s", &r) == -1);
	CHECK(parse_rate("1e-400", &r) == -1);
	CHECK(parse_rate("inf", &r) == -1);
	CHECK(parse_rate("nan/s", &r) == -1);
	CHECK(parse_rate("1./s", &r) == -1);
	CHECK(parse_rate(".5/s", &r) == -1);
	CHECK(parse_rate("0.5/d", &r) == -2);
	CHECK(parse_rate("0.00001", &r) == -2);
	CHECK(parse_rate("1000000/s", &r) == 0 && r == 1e6);
	CHECK(parse_rate("1000001/s", &r) == -2);
	CHECK(parse_rate("2000/ms", &r) == -2);
	CHECK(parse_rate("1000000/h", &r) == 0);
	CHECK(parse_rate("0/s", &r) == 0 && r == 0);
	CHECK(parse_duration("1.5.5s", &ms) == -1);
	CHECK(parse_duration(".5s", &ms) == -1);
	CHECK(parse_duration("0x1p4", &ms) == -1);

	CHECK(parse_int("42", 0, 100, &n) == 0 && n == 42);
	CHECK(parse_int("101", 0, 100, &n) == -1);
	CHECK(parse_int("4x", 0, 100, &n) == -1);
	CHECK(parse_int(" 4", 0, 100, &n) == -1);
	CHECK(parse_int("", 0, 100, &n) == -1);
}

static void
test_split(void)
{
	char **argv;
	int argc;

	CHECK(split_command("/bin/echo a  b", &argv, &argc) == 0);
	CHECK(argc == 3);
	CHECK_STR(argv[0], "/bin/echo");
	CHECK_STR(argv[2], "b");
	CHECK(argv[3] == NULL);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);

	CHECK(split_command("prog 'a b' \"c \\\"d\\\"\" e\\ f ''", &argv,
	    &argc) == 0);
	CHECK(argc == 5);
	CHECK_STR(argv[1], "a b");
	CHECK_STR(argv[2], "c \"d\"");
	CHECK_STR(argv[3], "e f");
	CHECK_STR(argv[4], "");
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);

	CHECK(split_command("", &argv, &argc) == -1);
	CHECK(split_command("   ", &argv, &argc) == -1);
	CHECK(split_command("prog 'open", &argv, &argc) == -1);
	CHECK(split_command("prog \"open", &argv, &argc) == -1);
}

/* Writes len bytes of config into the temp dir, parses + finishes it. */
static int
parse_n(const char *text, size_t len, char *err, size_t errlen,
    struct config **out)
{
	char path[256];
	FILE *fp;
	struct config *c = config_new();
	int r;

	snprintf(path, sizeof(path), "%s/t.conf", dir);
	fp = fopen(path, "w");
	fwrite(text, 1, len, fp);
	fclose(fp);
	err[0] = '\0';
	r = config_parse_file(c, path, err, errlen);
	if (r == 0)
		r = config_finish(c, err, errlen);
	if (out != NULL && r == 0)
		*out = c;
	else
		config_free(c);
	return r;
}

static int
parse(const char *text, char *err, size_t errlen, struct config **out)
{
	return parse_n(text, strlen(text), err, errlen, out);
}

/* The error must be "<dir>/t.conf:<rest>". */
static void
expect_error_n(const char *text, size_t len, const char *rest, int line)
{
	char err[CHALD_ERRLEN], want[CHALD_ERRLEN];

	CHECK(parse_n(text, len, err, sizeof(err), NULL) == -1);
	snprintf(want, sizeof(want), "%s/t.conf:%s", dir, rest);
	if (strcmp(err, want) != 0) {
		t_failed++;
		fprintf(stderr, "test_config.c:%d: FAIL: got \"%s\", want "
		    "\"%s\"\n", line, err, want);
	} else
		t_passed++;
}
#define EXPECT_ERROR(text, rest) \
	expect_error_n(text, strlen(text), rest, __LINE__)
/* For texts with NUL bytes: a literal's length, without its own NUL. */
#define EXPECT_ERROR_LIT(text, rest) \
	expect_error_n(text, sizeof(text) - 1, rest, __LINE__)

static void
test_files(void)
{
	char err[CHALD_ERRLEN], prog[300];
	struct config *c = NULL;
	struct service *s;

	snprintf(prog, sizeof(prog), "%s/chal", dir);
	{
		FILE *fp = fopen(prog, "w");

		fputs("#!/bin/sh\necho hi\n", fp);
		fclose(fp);
		chmod(prog, 0755);
	}

	/* A good file: defaults from [global], relative paths. */
	CHECK(parse("# comment\n"
	    "[global]\n"
	    "grace = 2s\n"
	    "timeout = 30s\n"
	    "per-ip = 2\n"
	    "\n"
	    "[service one]\n"
	    "port = 4000\n"
	    "command = ./chal --flag 'two words'\n"
	    "env = A=1\n"
	    "env = B=x=y\n"
	    "\n"
	    "[service two]\n"
	    "port = 4001\n"
	    "command = chal\n"
	    "workdir = .\n"
	    "per-ip = 0\n"
	    "rate = 3/s\n", err, sizeof(err), &c) == -1);
	/* "chal" has no slash: looked up in PATH, where it is not. */
	CHECK(strstr(err, ":15: command: program \"chal\" not found") !=
	    NULL);

	CHECK(parse("[global]\n"
	    "grace = 2s\n"
	    "timeout = 30s\n"
	    "per-ip = 2\n"
	    "[service one]\n"
	    "port = 4000\n"
	    "command = ./chal --flag 'two words'\n"
	    "env = A=1\n"
	    "env = B=x=y\n"
	    "[service two]\n"
	    "port = 4001\n"
	    "command = sh -c true\n"
	    "workdir = .\n"
	    "per-ip = 0\n"
	    "rate = 3/s\n", err, sizeof(err), &c) == 0);
	if (c == NULL) {
		fprintf(stderr, "unexpected error: %s\n", err);
		return;
	}
	CHECK(c->grace_ms == 2000);
	CHECK(c->nservices == 2);
	s = c->services;
	CHECK_STR(s->name, "one");
	CHECK(s->timeout_ms == 30000);
	CHECK(s->per_ip == 2);
	CHECK(s->argc == 3);
	CHECK_STR(s->argv[0], prog);
	CHECK_STR(s->argv[2], "two words");
	CHECK_STR(s->workdir, dir);
	CHECK(s->nenv == 2);
	CHECK_STR(s->env[1], "B=x=y");
	CHECK(s->max_conns == 256);
	CHECK(s->v6_prefix == 64);
	CHECK(s->rate == 0);
	CHECK(s->stdio_mode == STDIO_SOCKET && s->kill_disc == 1);
	s = s->next;
	CHECK_STR(s->name, "two");
	CHECK(s->per_ip == 0);
	CHECK(s->timeout_ms == 30000);
	CHECK(s->burst == 3);
	CHECK(s->nenv == 0);
	CHECK(strcmp(s->argv[0], "/usr/bin/sh") == 0 ||
	    strcmp(s->argv[0], "/usr/bin/dash") == 0 ||
	    strcmp(s->argv[0], "/bin/dash") == 0);
	config_free(c);

	/* stdio and kill-on-disconnect, also as [global] defaults. */
	c = NULL;
	CHECK(parse("[global]\nstdio = pty\nkill-on-disconnect = off\n"
	    "[service one]\ncommand = ./chal\n"
	    "[service two]\nport = 4001\ncommand = ./chal\nstdio = socket\n"
	    "kill-on-disconnect = yes\n", err, sizeof(err), &c) == 0);
	if (c != NULL) {
		s = c->services;
		CHECK(s->stdio_mode == STDIO_PTY && s->kill_disc == 0);
		s = s->next;
		CHECK(s->stdio_mode == STDIO_SOCKET && s->kill_disc == 1);
		config_free(c);
	}
	EXPECT_ERROR("[service a]\ncommand = ./chal\nstdio = tty\n",
	    "3: stdio: expected socket or pty, got \"tty\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nkill-on-disconnect = 1\n",
	    "3: kill-on-disconnect: expected on or off, got \"1\"");

	/* Every kind of mistake, with its line. */
	EXPECT_ERROR("[service a]\ncommand = ./chal\ntimeout = soon\n",
	    "3: timeout: not a duration (e.g. 90s, 2m, 0 for none): \"soon\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nport = 70000\n",
	    "3: port: not a port number (0-65535): \"70000\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\ncolour = red\n",
	    "3: colour: unknown key");
	EXPECT_ERROR("[service a]\ncommand = ./chal\npidfile = /x\n",
	    "3: pidfile: belongs in [global]");
	EXPECT_ERROR("port = 1\n[service a]\ncommand = ./chal\n",
	    "1: port: key outside any section (start with [global] or "
	    "[service NAME])");
	EXPECT_ERROR("[global]\n[servce a]\n",
	    "2: unknown section [servce a] (expected [global] or "
	    "[service NAME])");
	EXPECT_ERROR("[service]\ncommand = ./chal\n",
	    "1: [service] needs a name: [service NAME]");
	EXPECT_ERROR("[service a]\ncommand = ./chal\n[service a]\n",
	    "3: duplicate service \"a\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\n[global]\n",
	    "3: [global] must come before the first [service]");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nthis is not ini\n",
	    "3: syntax error (expected [section], key = value, or a comment)");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nenv = 1X=2\n",
	    "3: env: expected NAME=VALUE, got \"1X=2\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nlisten = example.org\n",
	    "3: listen: not an IPv4 or IPv6 address: \"example.org\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal 'x\n",
	    "2: command: empty command or unbalanced quotes: \"./chal 'x\"");
	EXPECT_ERROR("[service a]\nport = 5\n",
	    "1: service a: no command (command = /path/to/challenge [args])");
	EXPECT_ERROR("[global]\ngrace = 5s\n",
	    " no [service NAME] section");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nstderr = tty\n",
	    "3: stderr: expected socket, null or log, got \"tty\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nper-ip = -1\n",
	    "3: per-ip: not a count (0-1000000, 0 for no cap): \"-1\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nipv6-prefix = 129\n",
	    "3: ipv6-prefix: not a prefix length (0-128): \"129\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nrate = fast\n",
	    "3: rate: not a rate (e.g. 10/s, 100/m, 0 for none): \"fast\"");
	EXPECT_ERROR("[global]\nlog-format = xml\n",
	    "2: log-format: expected text or json, got \"xml\"");
	EXPECT_ERROR("[service a]\nport = 9\ncommand = ./chal\n"
	    "[service b]\nport = 9\ncommand = ./chal\n",
	    "5: port: 9 already used by service a (line 2)");
}

/* Errors that name a path inside the temp dir, and overlong lines. */
static void
test_loose(void)
{
	char err[CHALD_ERRLEN], want[CHALD_ERRLEN];
	char longline[5000];

	CHECK(parse("[service a]\nport = 9\ncommand = ./nope\n", err,
	    sizeof(err), NULL) == -1);
	snprintf(want, sizeof(want), "%s/t.conf:3: command: program %s/nope: "
	    "No such file or directory", dir, dir);
	CHECK_STR(err, want);
	CHECK(parse("[service a]\ncommand = ./chal\nworkdir = nowhere\n", err,
	    sizeof(err), NULL) == -1);
	snprintf(want, sizeof(want), "%s/t.conf:3: workdir: %s/nowhere: No "
	    "such file or directory", dir, dir);
	CHECK_STR(err, want);
	/* Not executable. */
	chmod("/tmp", 0777);
	{
		char p[300];
		FILE *fp;

		snprintf(p, sizeof(p), "%s/noexec", dir);
		fp = fopen(p, "w");
		fputs("x", fp);
		fclose(fp);
		chmod(p, 0644);
	}
	CHECK(parse("[service a]\ncommand = ./noexec\n", err, sizeof(err),
	    NULL) == -1);
	snprintf(want, sizeof(want), "%s/t.conf:2: command: program "
	    "%s/noexec: not executable", dir, dir);
	/* root may execute anything with an x bit; 0644 has none. */
	CHECK_STR(err, want);
	/* An overlong line is an error, not two lines. */
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	{
		char text[6000];

		snprintf(text, sizeof(text), "[service a]\ncommand = ./chal\n"
		    "reject-message = %s\n", longline);
		CHECK(parse(text, err, sizeof(err), NULL) == -1);
		CHECK(strstr(err, "t.conf:3: line longer than") != NULL);
	}
}

static void
test_print(void)
{
	char err[CHALD_ERRLEN], path[300];
	struct config *c = NULL, *c2 = config_new();
	FILE *fp;

	CHECK(parse("[service a]\ncommand = ./chal 'x y' 'a ;b'\nrate = 2/s\n"
	    "env = K=v\nreject-message = full ; sorry\n", err, sizeof(err),
	    &c) == 0);
	if (c == NULL)
		return;
	/* What -n prints parses back to the same configuration. */
	snprintf(path, sizeof(path), "%s/printed.conf", dir);
	fp = fopen(path, "w");
	config_print(c, fp);
	fclose(fp);
	CHECK(config_parse_file(c2, path, err, sizeof(err)) == 0);
	CHECK(config_finish(c2, err, sizeof(err)) == 0);
	CHECK(c2->services != NULL && c2->services->argc == 3);
	if (c2->services != NULL) {
		CHECK_STR(c2->services->argv[1], "x y");
		/* ';' inside a value is not a comment */
		CHECK_STR(c2->services->argv[2], "a ;b");
		CHECK_STR(c2->services->reject_msg, "full ; sorry");
		CHECK(c2->services->rate == 2);
		CHECK(c2->services->burst == 2);
		CHECK(c2->services->timeout_ms == 60000);
		CHECK_STR(c2->services->env[0], "K=v");
	}
	config_free(c);
	config_free(c2);
}

/* Each reason its own line; reject-message fills in for the others. */
static void
test_reject(void)
{
	char err[CHALD_ERRLEN];
	struct config *c = NULL;
	const struct service *s;

	CHECK(reject_parse("rate") == REJ_RATE);
	CHECK(reject_parse("pow-timeout") == REJ_POW_TIMEOUT);
	CHECK(reject_parse("nonsense") == -1);
	CHECK(reject_parse("") == -1);
	for (int r = 0; r < REJ_NREASONS; r++)
		CHECK(reject_parse(reject_name(r)) == r);
	CHECK_STR(reject_name(REJ_NREASONS), "unknown");

	CHECK(parse("[global]\nreject-message-pending = wait\n"
	    "[service a]\ncommand = ./chal\n", err, sizeof(err), &c) == 0);
	if (c != NULL && (s = c->services) != NULL) {
		CHECK(strstr(reject_text(s, REJ_RATE), "too fast") != NULL);
		CHECK(strstr(reject_text(s, REJ_PER_IP), "your address") !=
		    NULL);
		CHECK(strcmp(reject_text(s, REJ_RATE),
		    reject_text(s, REJ_MAX_CONNS)) != 0);
		CHECK_STR(reject_text(s, REJ_PENDING), "wait");
	}
	config_free(c);
	c = NULL;
	CHECK(parse("[service a]\ncommand = ./chal\nreject-message = no\n"
	    "reject-message-rate = slow\n", err, sizeof(err), &c) == 0);
	if (c != NULL && (s = c->services) != NULL) {
		CHECK_STR(reject_text(s, REJ_RATE), "slow");
		CHECK_STR(reject_text(s, REJ_PER_IP), "no");
		CHECK_STR(reject_text(s, REJ_POW_FAILED), "no");
	}
	config_free(c);
	c = NULL;
	CHECK(parse("[service a]\ncommand = ./chal\nreject-message-nope = x\n",
	    err, sizeof(err), &c) == -1);
	CHECK(strstr(err, "reject-message-nope: unknown key") != NULL);
	config_free(c);
}

/* Round trip of what -n prints: the same configuration comes back. */
static struct config *
reprint(struct config *c)
{
	char err[CHALD_ERRLEN], path[300];
	struct config *c2 = config_new();
	FILE *fp;

	snprintf(path, sizeof(path), "%s/printed.conf", dir);
	fp = fopen(path, "w");
	config_print(c, fp);
	fclose(fp);
	if (config_parse_file(c2, path, err, sizeof(err)) == -1 ||
	    config_finish(c2, err, sizeof(err)) == -1) {
		fprintf(stderr, "reprint: %s\n", err);
		config_free(c2);
		return NULL;
	}
	return c2;
}

/* The parser's defects found by fuzzing and reading (issue 12). */
static void
test_defects(void)
{
	char err[CHALD_ERRLEN], want[CHALD_ERRLEN], *big;
	struct config *c = NULL, *c2;
	size_t n;

	/* A NUL byte is an error at its own line, not the end of it. */
	EXPECT_ERROR_LIT("[service a]\ncommand = ./chal\n"
	    "reject-message = x\0port = 1\nbogus\n",
	    "3: NUL byte (a configuration file is text)");
	/* It hid the rest of a long line, which came back as a line of its
	 * own: here "port = 7777" took effect. */
	big = malloc(9000);
	n = (size_t)snprintf(big, 9000, "[service a]\ncommand = ./chal\n"
	    "reject-message = ");
	memset(big + n, 'x', 4000);
	n += 4000;
	big[n++] = '\0';
	memset(big + n, 'y', 77);	/* fgets() then stops before "port" */
	n += 77;
	n += (size_t)snprintf(big + n, 9000 - n, "port = 7777\n");
	CHECK(parse_n(big, n, err, sizeof(err), NULL) == -1);
	snprintf(want, sizeof(want), "%s/t.conf:3: NUL byte (a configuration "
	    "file is text)", dir);
	CHECK_STR(err, want);
	free(big);

	/* A UTF-8 BOM at the start is not part of the first line. */
	CHECK(parse("\xef\xbb\xbf[service a]\ncommand = ./chal\n", err,
	    sizeof(err), &c) == 0);
	if (c != NULL)
		CHECK_STR(c->services->name, "a");
	config_free(c);
	c = NULL;
	CHECK(parse("\xef\xbb\xbf# made on Windows\r\n[global]\r\n"
	    "[service a]\r\ncommand = ./chal\r\n", err, sizeof(err), NULL) == 0);
	EXPECT_ERROR("[service a]\n\xef\xbb\xbf[service b]\n",
	    "2: syntax error (expected [section], key = value, or a comment)");

	/* The first error in the file is the one reported. */
	EXPECT_ERROR("[service a]\ncommand = ./chal\nthis is junk\nport = x\n",
	    "3: syntax error (expected [section], key = value, or a comment)");
	EXPECT_ERROR("[service a]\ncommand = ./chal\n[service b\nport = x\n",
	    "3: syntax error (a section header needs its closing ']')");
	/* ...and keys after a broken header never go to the previous one. */
	EXPECT_ERROR("[service a]\ncommand = ./chal\n[service b\n"
	    "port = 6000\n",
	    "3: syntax error (a section header needs its closing ']')");
	EXPECT_ERROR("[service a] port = 1\ncommand = ./chal\n",
	    "1: syntax error (text after the section header's ']')");
	EXPECT_ERROR("[service a]\n = ./chal\n",
	    "2: syntax error (expected [section], key = value, or a comment)");
	CHECK(parse("[service a] # the first\ncommand = ./chal\n", err,
	    sizeof(err), NULL) == 0);

	/* cpu: decimal only, checked for range after the conversion. */
	EXPECT_ERROR("[service a]\ncommand = ./chal\ncpu = 1e-400\n",
	    "3: cpu: not a share of a core (e.g. 0.5, 50%, 2, 0 for no cap): "
	    "\"1e-400\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\ncpu = 0x1\n",
	    "3: cpu: not a share of a core (e.g. 0.5, 50%, 2, 0 for no cap): "
	    "\"0x1\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\ncpu = 0.001\n",
	    "3: cpu: not a share of a core (e.g. 0.5, 50%, 2, 0 for no cap): "
	    "\"0.001\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nrate = 1/w\n",
	    "3: rate: not a rate (e.g. 10/s, 100/m, 0 for none): \"1/w\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nrate = 0.5/day\n",
	    "3: rate: at least 1/d and at most 1000000/s, or 0 for none: "
	    "\"0.5/day\"");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nrate = 0x1p-1074/s\n",
	    "3: rate: not a rate (e.g. 10/s, 100/m, 0 for none): "
	    "\"0x1p-1074/s\"");

	/* Errors of the sandbox checks name the key's own line. */
	EXPECT_ERROR("[service a]\ncommand = ./chal\nbind-ro = /etc\n"
	    "bind-ro = /nonexistent-chald\n",
	    "4: bind-ro: /nonexistent-chald: No such file or directory");
	EXPECT_ERROR("[global]\nbind-rw = /nonexistent-chald\n[service a]\n"
	    "command = ./chal\n",
	    "2: bind-rw: /nonexistent-chald: No such file or directory");
	EXPECT_ERROR("[service a]\ncommand = ./chal\nbind-ro = /sys/kernel\n",
	    "3: bind-ro: /sys/kernel: not allowed (the host's root, /tmp, "
	    "/proc, /dev and /sys stay outside the jail)");
	snprintf(want, sizeof(want), "4: root: %s/noroot: No such file or "
	    "directory", dir);
	EXPECT_ERROR("[service a]\ncommand = ./chal\n\nroot = noroot\n", want);

	/* A directory is not a configuration file. */
	c2 = config_new();
	CHECK(config_parse_file(c2, dir, err, sizeof(err)) == -1);
	snprintf(want, sizeof(want), "%s: is a directory, not a "
	    "configuration file", dir);
	CHECK_STR(err, want);
	config_free(c2);

	/* -n prints words that read back the same: \v, \f and \r at the end
	 * of the line would be stripped, so they are quoted. */
	CHECK(parse("[service a]\ncommand = ./chal 'a\fb' '\v'\ncpu = 0.333\n"
	    "rate = 7/h\n", err, sizeof(err), &c) == 0);
	if (c == NULL)
		return;
	free(c->services->argv[2]);
	c->services->argv[2] = strdup("x\r");
	c2 = reprint(c);
	CHECK(c2 != NULL);
	if (c2 != NULL) {
		struct service *s = c->services, *t = c2->services;

		CHECK(t->argc == 3);
		for (int i = 0; i < 3 && i < t->argc; i++)
			CHECK_STR(t->argv[i], s->argv[i]);
		CHECK(t->cpu == s->cpu && t->rate == s->rate);
		CHECK(t->rate == 7.0 / 3600);
	}
	config_free(c2);
	/* A value from the command line means what it would in the file. */
	CHECK(config_set_service(c->services, "reject-message", " hi\v\f",
	    NULL, err, sizeof(err)) == 0);
	CHECK_STR(c->services->reject_msg, "hi");
	CHECK(config_set_service(c->services, "reject-message",
	    "x\nport = 1", NULL, err, sizeof(err)) == -1);
	CHECK_STR(err, "a value cannot hold a line break");
	CHECK(config_set_service(c->services, "rate", "1/d", NULL, err,
	    sizeof(err)) == 0);
	c2 = reprint(c);
	CHECK(c2 != NULL && c2->services->rate == c->services->rate);
	CHECK(c2 != NULL && strcmp(c2->services->reject_msg, "hi") == 0);
	config_free(c2);
	config_free(c);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_units();
	test_split();
	test_files();
	test_loose();
	test_print();
	test_reject();
	test_defects();
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	T_DONE();
}
