/*
 * jailenv.c: redpwn jail's environment variables (pwn.red/jail), turned
 * into chald configuration, so that a challenge image written for that
 * jail runs under chald with its FROM line changed and nothing else.
 *
 * The variables keep their meanings and defaults: JAIL_TIME (20 wall
 * seconds), JAIL_CONNS and JAIL_CONNS_PER_IP (0, no cap), JAIL_PIDS (5),
 * JAIL_MEM (5M), JAIL_CPU (100 ms of CPU per wall second), JAIL_POW (0),
 * JAIL_PORT (5000), JAIL_DEV (null,zero,urandom), JAIL_SYSCALLS,
 * JAIL_TMP_SIZE (0) and JAIL_ENV_*. The result is a list of service keys
 * of chald.conf(5), each with the variable it comes from, that main.c
 * applies before the command line's own options (which therefore win).
 * Every value is checked here against chald's own parser too, so that a
 * bad one is refused with the name of the variable, not of a key the
 * organizer never wrote.
 *
 * Pure: it reads the environment it is given, nothing else.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chald.h"

#define ENV_PREFIX	"JAIL_ENV_"

/* The devices chald's jail has (jailfs.c); JAIL_DEV may name these. */
static const char *jail_devs[] = {
	"null", "zero", "full", "random", "urandom", NULL
};

/* The variables pwn.red/jail reads; anything else JAIL_* is a typo. */
static const char *known_vars[] = {
	"JAIL_TIME", "JAIL_CONNS", "JAIL_CONNS_PER_IP", "JAIL_PIDS",
	"JAIL_MEM", "JAIL_CPU", "JAIL_POW", "JAIL_PORT", "JAIL_DEV",
	"JAIL_SYSCALLS", "JAIL_TMP_SIZE", "JAIL_READ_ONLY", NULL
};

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The value of name in envp, or NULL; the last one wins, as getenv's
 * callers usually see the first, but a duplicate is refused anyway. */
static const char *
env_get(char *const envp[], const char *name, int *count)
{
	size_t n = strlen(name);
	const char *v = NULL;

	*count = 0;
	for (char *const *e = envp; *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
			v = *e + n + 1;
			(*count)++;
		}
	return v;
}

/* A decimal integer of at most max, digits only (Go's ParseUint). */
static int
parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		if (v > (max - (unsigned long long)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned long long)(*s - '0');
	}
	*out = v;
	return 0;
}

/*
 * A size as pwn.red/jail reads it (Docker's RAMInBytes): a decimal number,
 * fractions allowed, an optional blank, and an optional unit k, m, g, t or
 * p in either case, powers of 1024, optionally followed by "i" and "b".
 */
static int
parse_ram(const char *s, unsigned long long *out)
{
	const char *units = "kmgtp";
	const char *p = s, *u;
	double v = 0, frac = 0.1, mult = 1;

	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p))
		v = v * 10 + (*p++ - '0');
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			v += (*p++ - '0') * frac;
			frac /= 10;
		}
	}
	if (*p == ' ')
		p++;
	if (*p != '\0' && (u = strchr(units, tolower((unsigned char)*p))) !=
	    NULL) {
		for (long i = 0; i <= u - units; i++)
			mult *= 1024;
		p++;
		if (*p == 'i' || *p == 'I')
			p++;
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p != '\0')
		return -1;
	v *= mult;
	/* Within what chald's sizes can hold (parse_size's own bound). */
	if (v >= 9007199254740992.0)
		return -1;
	*out = (unsigned long long)v;
	return 0;
}

/* Room for one more setting; values that need formatting go to je->buf. */
static int
set_add(struct jailenv *je, const char *var, const char *key,
    const char *value, char *err, size_t errlen)
{
	if (je->nset == JAILENV_MAX_SET)
		return fail(err, errlen, "%s: too many settings", var);
	je->set[je->nset].var = var;
	je->set[je->nset].key = key;
	je->set[je->nset].value = value;
	je->nset++;
	return 0;
}

static int
set_fmt(struct jailenv *je, const char *var, const char *key, char *err,
    size_t errlen, const char *fmt, ...)
{
	va_list ap;
	char *v;
	int n;

	if (je->nval == JAILENV_MAX_VAL)
		return fail(err, errlen, "%s: too many settings", var);
	v = je->val[je->nval++];
	va_start(ap, fmt);
	n = vsnprintf(v, sizeof(je->val[0]), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(je->val[0]))
		return fail(err, errlen, "%s: value too long", var);
	return set_add(je, var, key, v, err, errlen);
}

/* A variable's value, or its default when it is unset. */
static const char *
var_value(char *const envp[], const char *var, const char *dflt, char *err,
    size_t errlen, int *bad)
{
	int count;
	const char *v = env_get(envp, var, &count);

	*bad = 0;
	if (count > 1) {
		*bad = 1;
		fail(err, errlen, "%s: set %d times; set it once", var, count);
		return NULL;
	}
	return v != NULL ? v : dflt;
}

/* The settings that are not variables: where the challenge is, and the
 * limits nsjail leaves at the container's own (rlimits of type HARD). */
static int
fixed_settings(struct jailenv *je, char *err, size_t errlen)
{
	static const char *fixed[][2] = {
		{ "root", JAILENV_ROOT },
		{ "workdir", JAILENV_WORKDIR },
		{ "hostname", JAILENV_HOSTNAME },
		/* "for each IP": one address, not chald's IPv6 /64 */
		{ "ipv4-prefix", "32" },
		{ "ipv6-prefix", "128" },
		{ "cpu-time", "0" },
		{ "file-size", "0" },
		{ "open-files", "0" },
		{ "address-space", "0" },
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (set_add(je, "jail", fixed[i][0], fixed[i][1], err,
		    errlen) == -1)
			return -1;
	return 0;
}

/* JAIL_TIME, JAIL_CONNS, JAIL_CONNS_PER_IP, JAIL_PIDS, JAIL_PORT. */
static int
count_settings(struct jailenv *je, char *const envp[], char *err,
    size_t errlen)
{
	static const struct {
		const char	*var, *dflt, *key, *what;
		unsigned long long min, max;
	} counts[] = {
		{ "JAIL_TIME", "20", "timeout", "a number of wall seconds "
		    "per connection (0-100000000, 0 for no limit)", 0,
		    100000000 },
		{ "JAIL_CONNS", "0", "max-conns", "a number of connections "
		    "at once (0-1000000, 0 for no cap)", 0, 1000000 },
		{ "JAIL_CONNS_PER_IP", "0", "per-ip", "a number of "
		    "connections at once per address (0-1000000, 0 for no "
		    "cap)", 0, 1000000 },
		/* chald's pids counts the jail's init as well. */
		{ "JAIL_PIDS", "5", "pids", "a number of processes per "
		    "connection (0-999999, 0 for no cap)", 0, 999999 },
		{ "JAIL_PORT", "5000", "port", "a TCP port (1-65535)", 1,
		    65535 },
	};
	unsigned long long n;
	const char *v;
	int bad;

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		v = var_value(envp, counts[i].var, counts[i].dflt, err,
		    errlen, &bad);
		if (bad)
			return -1;
		if (parse_uint(v, counts[i].max, &n) == -1 ||
		    n < counts[i].min)
			return fail(err, errlen, "%s: not %s: \"%s\"",
			    counts[i].var, counts[i].what, v);
		if (strcmp(counts[i].key, "pids") == 0 && n > 0)
			n++;
		if (set_fmt(je, counts[i].var, counts[i].key, err, errlen,
		    strcmp(counts[i].key, "timeout") == 0 ? "%llus" : "%llu",
		    n) == -1)
			return -1;
	}
	return 0;
}

/* JAIL_MEM, JAIL_CPU, JAIL_TMP_SIZE. */
static int
limit_settings(struct jailenv *je, char *const envp[], char *err,
    size_t errlen)
{
	unsigned long long n;
	const char *v;
	int bad;

	v = var_value(envp, "JAIL_MEM", "5M", err, errlen, &bad);
	if (bad)
		return -1;
	if (parse_ram(v, &n) == -1)
		return fail(err, errlen, "JAIL_MEM: not a size (e.g. 5M, "
		    "512k, 1G, 0 for no cap): \"%s\"", v);
	if (set_fmt(je, "JAIL_MEM", "memory", err, errlen, "%llu", n) == -1)
		return -1;

	/* Milliseconds per wall second; chald's cpu is in cores, with a
	 * quota per 100 ms period, so 1% of a core is the least. */
	v = var_value(envp, "JAIL_CPU", "100", err, errlen, &bad);
	if (bad)
		return -1;
	if (parse_uint(v, 1024000, &n) == -1 || (n > 0 && n < 10))
		return fail(err, errlen, "JAIL_CPU: not a number of CPU "
		    "milliseconds per wall second (10-1024000, 0 for no "
		    "cap): \"%s\"", v);
	if (set_fmt(je, "JAIL_CPU", "cpu", err, errlen, "%llu.%03llu",
	    n / 1000, n % 1000) == -1)
		return -1;

	/*
	 * 0 means no writable /tmp in pwn.red/jail. Every chald jail has a
	 * tmpfs /tmp (there is no key to leave it out yet), so 0 gets the
	 * smallest one there is, and sizes below it are raised to it.
	 */
	v = var_value(envp, "JAIL_TMP_SIZE", "0", err, errlen, &bad);
	if (bad)
		return -1;
	if (parse_ram(v, &n) == -1)
		return fail(err, errlen, "JAIL_TMP_SIZE: not a size (e.g. "
		    "16M, 0 for none): \"%s\"", v);
	je->tmp_none = n == 0;
	if (n < 4096)
		n = 4096;
	return set_fmt(je, "JAIL_TMP_SIZE", "tmp-size", err, errlen, "%llu",
	    n);
}

/* JAIL_DEV: chald's jail always has its five devices, which must cover
 * those asked for. */
static int
dev_settings(struct jailenv *je, char *const envp[], char *err,
    size_t errlen)
{
	const char *v, *p;
	int bad;

	v = var_value(envp, "JAIL_DEV", "null,zero,urandom", err, errlen,
	    &bad);
	if (bad)
		return -1;
	je->devs = 0;
	for (p = v; *p != '\0'; ) {
		size_t n = strcspn(p, ",");
		int i;

		for (i = 0; n > 0 && jail_devs[i] != NULL; i++)
			if (strlen(jail_devs[i]) == n &&
			    strncmp(jail_devs[i], p, n) == 0)
				break;
		if (n > 0 && jail_devs[i] == NULL)
			return fail(err, errlen, "JAIL_DEV: device \"%.*s\" is "
			    "not supported yet (chald's jail has null, zero, "
			    "full, random and urandom): \"%s\"", (int)n, p, v);
		if (n > 0)
			je->devs |= 1 << i;
		p += n + (p[n] == ',');
	}
	return 0;
}

/* JAIL_SYSCALLS: taken off chald's deny list (seccomp-allow). */
static int
syscall_settings(struct jailenv *je, char *const envp[], char *err,
    size_t errlen)
{
	const char *v;
	int bad;

	v = var_value(envp, "JAIL_SYSCALLS", "", err, errlen, &bad);
	if (bad)
		return -1;
	if (strspn(v, ", \t") == strlen(v))
		return 0;
	return set_add(je, "JAIL_SYSCALLS", "seccomp-allow", v, err, errlen);
}

/*
 * JAIL_POW: redpwn's jail and chald both use kCTF's "sloth" proof of work,
 * with the same difficulty, so it is the "pow" key as it is.
 */
static int
pow_settings(struct jailenv *je, char *const envp[], char *err,
    size_t errlen)
{
	unsigned long long n;
	const char *v;
	int bad;

	v = var_value(envp, "JAIL_POW", "0", err, errlen, &bad);
	if (bad)
		return -1;
	if (parse_uint(v, 4294967295ULL, &n) == -1)
		return fail(err, errlen, "JAIL_POW: not a proof-of-work "
		    "difficulty (0 for none): \"%s\"", v);
	je->pow = n;
	if (n == 0)
		return 0;
	return set_add(je, "JAIL_POW", "pow", v, err, errlen);
}

/* JAIL_READ_ONLY (older pwn.red/jail): chald's root is always read-only. */
static int
readonly_settings(char *const envp[], char *err, size_t errlen)
{
	const char *v;
	int bad;

	v = var_value(envp, "JAIL_READ_ONLY", "true", err, errlen, &bad);
	if (bad)
		return -1;
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		return 0;
	if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		return fail(err, errlen, "JAIL_READ_ONLY: a writable root is "
		    "not supported (chald's jail root is always read-only; "
		    "use JAIL_TMP_SIZE for a writable /tmp): \"%s\"", v);
	return fail(err, errlen, "JAIL_READ_ONLY: expected true or false: "
	    "\"%s\"", v);
}

/* JAIL_ENV_NAME=VALUE: NAME=VALUE in the challenge's environment. */
static int
env_settings(struct jailenv *je, char *const envp[], char *err,
    size_t errlen)
{
	size_t pl = strlen(ENV_PREFIX);

	for (char *const *e = envp; *e != NULL; e++) {
		const char *name = *e + pl, *eq;

		if (strncmp(*e, ENV_PREFIX, pl) != 0)
			continue;
		eq = strchr(name, '=');
		if (eq == NULL || eq == name)
			return fail(err, errlen, "%.*s: no variable name after "
			    ENV_PREFIX " (JAIL_ENV_NAME=VALUE gives the "
			    "challenge NAME=VALUE)", (int)strcspn(*e, "="),
			    *e);
		for (char *const *f = envp; f != e; f++)
			if (strncmp(*f, *e, (size_t)(eq - *e) + 1) == 0)
				return fail(err, errlen, "%.*s: set twice; set "
				    "it once", (int)(eq - *e), *e);
		if (set_add(je, ENV_PREFIX "*", "env", name, err, errlen) ==
		    -1)
			return -1;
	}
	return 0;
}

/* Any other JAIL_* is refused: a typo would otherwise change nothing. */
static int
unknown_vars(char *const envp[], char *err, size_t errlen)
{
	for (char *const *e = envp; *e != NULL; e++) {
		size_t n = strcspn(*e, "=");
		int i;

		if (strncmp(*e, "JAIL_", 5) != 0 ||
		    strncmp(*e, ENV_PREFIX, strlen(ENV_PREFIX)) == 0)
			continue;
		for (i = 0; known_vars[i] != NULL; i++)
			if (strlen(known_vars[i]) == n &&
			    strncmp(known_vars[i], *e, n) == 0)
				break;
		if (known_vars[i] == NULL)
			return fail(err, errlen, "%.*s: unknown variable (the "
			    "jail reads JAIL_TIME, JAIL_CONNS, "
			    "JAIL_CONNS_PER_IP, JAIL_PIDS, JAIL_MEM, JAIL_CPU, "
			    "JAIL_POW, JAIL_PORT, JAIL_DEV, JAIL_SYSCALLS, "
			    "JAIL_TMP_SIZE and JAIL_ENV_*)", (int)n, *e);
	}
	return 0;
}

/*
 * Every setting through chald's own parser, on a scratch service, so that
 * what main.c applies later cannot fail with a key's name instead of the
 * variable's (for example an unknown name in JAIL_SYSCALLS).
 */
static int
settings_check(const struct jailenv *je, char *err, size_t errlen)
{
	struct service *s = service_new(JAILENV_NAME, NULL, 0);
	char msg[CHALD_ERRLEN];
	int ret = 0;

	if (s == NULL)
		return fail(err, errlen, "out of memory");
	for (int i = 0; i < je->nset && ret == 0; i++) {
		const struct jailenv_set *t = &je->set[i];

		if (config_set_service(s, t->key, t->value, "/", msg,
		    sizeof(msg)) == 0)
			continue;
		if (strcmp(t->key, "env") == 0)
			ret = fail(err, errlen, ENV_PREFIX "%.*s: %s",
			    (int)strcspn(t->value, "="), t->value, msg);
		else
			ret = fail(err, errlen, "%s: %s", t->var, msg);
	}
	service_free(s);
	return ret;
}

/*
 * Reads the JAIL_* variables of envp into je. On error, -1 and a message
 * that starts with the variable's name.
 */
int
jailenv_parse(char *const envp[], struct jailenv *je, char *err,
    size_t errlen)
{
	memset(je, 0, sizeof(*je));
	je->argv[0] = JAILENV_PROGRAM;
	je->argv[1] = NULL;
	if (unknown_vars(envp, err, errlen) == -1 ||
	    readonly_settings(envp, err, errlen) == -1 ||
	    fixed_settings(je, err, errlen) == -1 ||
	    count_settings(je, envp, err, errlen) == -1 ||
	    limit_settings(je, envp, err, errlen) == -1 ||
	    dev_settings(je, envp, err, errlen) == -1 ||
	    syscall_settings(je, envp, err, errlen) == -1 ||
	    pow_settings(je, envp, err, errlen) == -1 ||
	    env_settings(je, envp, err, errlen) == -1)
		return -1;
	return settings_check(je, err, errlen);
}

/* The value jailenv_parse gave key, the last if several, or NULL. */
const char *
jailenv_get(const struct jailenv *je, const char *key)
{
	for (int i = je->nset - 1; i >= 0; i--)
		if (strcmp(je->set[i].key, key) == 0)
			return je->set[i].value;
	return NULL;
}
