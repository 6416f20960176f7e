/*
 * config.c: turns an INI file or command-line options into a struct config.
 * inih does the lexing; this file owns the keys, their units and defaults,
 * and reports every problem as "file:line: key: message" so an organizer can
 * go straight to the line. The same setters serve the command line, so the
 * two can never disagree on what a value means.
 */
#include <sys/stat.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "chald.h"

#define MAX_LINE	4096	/* longest line, newline included */

/* State shared by the inih callbacks while one file is read. */
struct parse_ctx {
	struct config	*conf;
	struct service	*cur;		/* NULL while in [global] */
	struct service	*defaults;	/* service keys given in [global] */
	const char	*path;
	const char	*basedir;
	FILE		*fp;
	int		 lineno;	/* line the reader handed out last */
	int		 in_global;
	int		 seen_service;
	int		 failed;
	char		*err;
	size_t		 errlen;
};

static const char *service_keys[] = {
	"listen", "port", "backlog", "command", "workdir", "env", "stderr",
	"timeout", "max-conns", "per-ip", "ipv4-prefix", "ipv6-prefix",
	"rate", "burst", "reject-message", "sandbox", "uid-range", "memory",
	"pids", "cpu", "cpu-time", "file-size", "open-files", "tmp-size",
	"address-space", "hostname", "root", "bind-ro", "bind-rw", "network", "seccomp",
	"pool", "setuid",
	"seccomp-allow", "seccomp-deny", "stdio", "kill-on-disconnect",
	"proxy-from", "proxy-timeout", "pow", "pow-timeout", "pow-exempt",
	"pow-prompt", "pending-per-ip",
	"healthcheck", "healthcheck-interval", "healthcheck-timeout",
	"healthcheck-user", NULL
};

static const char *global_keys[] = {
	"pidfile", "log", "log-format", "drain", "grace", "pending-max",
	"admin", "admin-max-conns", NULL
};

static int
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int
in_list(const char **list, const char *key)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, key) == 0)
			return 1;
	return 0;
}

/*
 * Refusals: the name the log gives each reason, and the line a refused
 * player gets when neither reject-message-REASON nor reject-message is set.
 */
static const struct {
	const char	*name;
	const char	*text;
} rejects[REJ_NREASONS] = {
	[REJ_PER_IP] = { "per-ip", "chald: too many connections from your "
	    "address, try again later" },
	[REJ_MAX_CONNS] = { "max-conns", "chald: the challenge is full, try "
	    "again in a minute" },
	[REJ_RATE] = { "rate", "chald: you are connecting too fast, wait a "
	    "moment and try again" },
	[REJ_NO_FDS] = { "no-fds", "chald: the server is short of resources, "
	    "try again later" },
	[REJ_NO_MEMORY] = { "no-memory", "chald: the server is short of "
	    "resources, try again later" },
	[REJ_PROXY_MISSING] = { "proxy-missing", "chald: expected a PROXY "
	    "protocol header" },
	[REJ_PROXY_BAD] = { "proxy-bad", "chald: malformed PROXY protocol "
	    "header" },
	[REJ_POW_FAILED] = { "pow-failed", "chald: wrong proof of work, try "
	    "again" },
	[REJ_POW_TIMEOUT] = { "pow-timeout", "chald: too slow with the proof "
	    "of work, try again" },
	[REJ_PENDING] = { "pending", "chald: too many connections waiting, "
	    "try again later" },
	[REJ_PENDING_PER_IP] = { "pending-per-ip", "chald: too many "
	    "connections waiting from your address, try again later" },
	[REJ_PROXY_TIMEOUT] = { "proxy-timeout", "chald: no PROXY protocol "
	    "header in time" },
	[REJ_SHUTDOWN] = { "shutdown", "chald: the server is stopping, try "
	    "again in a minute" },
};

#define REJECT_KEY	"reject-message-"

const char *
reject_name(enum reject_reason r)
{
	return (unsigned)r < REJ_NREASONS ? rejects[r].name : "unknown";
}

/* The reason of a log name, or -1. */
int
reject_parse(const char *name)
{
	for (int r = 0; r < REJ_NREASONS; r++)
		if (strcmp(rejects[r].name, name) == 0)
			return r;
	return -1;
}

/* The reason's own key, else reject-message, else the reason's default. */
const char *
reject_text(const struct service *s, enum reject_reason r)
{
	if ((unsigned)r >= REJ_NREASONS)
		r = REJ_MAX_CONNS;
	if (s->reject_msgs[r] != NULL)
		return s->reject_msgs[r];
	if (s->reject_msg != NULL)
		return s->reject_msg;
	return rejects[r].text;
}

int
config_is_service_key(const char *key)
{
	return in_list(service_keys, key) ||
	    (strncmp(key, REJECT_KEY, strlen(REJECT_KEY)) == 0 &&
	    reject_parse(key + strlen(REJECT_KEY)) >= 0);
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL) {
		perror("chald: strdup");
		abort();
	}
	return p;
}

/* Numbers and units. */

int
parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * A decimal number, "12" or "0.25": digits, then '.' and digits. No sign,
 * exponent, hex, "inf" or "nan", which strtod() would all take, and which
 * turned "1e-400" into 0 (no cap) or "0x1p-1074" into a rate that never
 * refills. Sets *end after it.
 */
static int
parse_decimal(const char *s, const char **end, double *out)
{
	const char *p = s;
	char buf[64];
	double v;

	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.') {
		if (!isdigit((unsigned char)p[1]))
			return -1;
		for (p++; isdigit((unsigned char)*p); p++)
			;
	}
	if ((size_t)(p - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(p - s));
	buf[p - s] = '\0';
	errno = 0;
	v = strtod(buf, NULL);
	if (errno != 0 || !isfinite(v))
		return -1;
	*out = v;
	*end = p;
	return 0;
}

/* The unit words of durations and rates, the same everywhere: those of
 * systemd.time(7) from ms to days. */
static const struct unit {
	const char	*name;
	double		 ms;
} units[] = {
	{ "ms", 1 }, { "msec", 1 },
	{ "s", 1000 }, { "sec", 1000 }, { "second", 1000 },
	{ "seconds", 1000 },
	{ "m", 60e3 }, { "min", 60e3 }, { "minute", 60e3 }, { "minutes", 60e3 },
	{ "h", 3600e3 }, { "hr", 3600e3 }, { "hour", 3600e3 },
	{ "hours", 3600e3 },
	{ "d", 86400e3 }, { "day", 86400e3 }, { "days", 86400e3 },
	{ NULL, 0 }
};

static int
unit_ms(const char *word, double *ms)
{
	for (const struct unit *u = units; u->name != NULL; u++)
		if (strcmp(word, u->name) == 0) {
			*ms = u->ms;
			return 0;
		}
	return -1;
}

/* "90s", "2min", "1h", "500ms", "1.5s"; a bare number is seconds. */
int
parse_duration(const char *s, int64_t *ms)
{
	const char *end;
	double v, mult = 1000;

	if (parse_decimal(s, &end, &v) == -1)
		return -1;
	if (*end != '\0' && unit_ms(end, &mult) == -1)
		return -1;
	v *= mult;
	if (v > 1e15)
		return -1;
	/* A non-zero duration never rounds down to 0, which means "none". */
	*ms = v > 0 && v < 1 ? 1 : (int64_t)llround(v);
	return 0;
}

/* "64M", "1G", "512K", "4096"; binary multiples. */
int
parse_size(const char *s, uint64_t *bytes)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		switch (toupper((unsigned char)*end)) {
		case 'K': shift = 10; break;
		case 'M': shift = 20; break;
		case 'G': shift = 30; break;
		case 'T': shift = 40; break;
		default: return -1;
		}
		end++;
		if (toupper((unsigned char)*end) == 'B' ||
		    (end[0] == 'i' && end[1] == 'B'))
			end += (*end == 'i') ? 2 : 1;
		if (*end != '\0')
			return -1;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*bytes = (uint64_t)v << shift;
	return 0;
}

/*
 * "10/s", "100/min", "3600/h", "10"; 0 means off. -1 if it is no rate, -2
 * if it is not between 1 a day and 1000000 a second: a slower bucket would
 * keep a source's entry for days.
 */
int
parse_rate(const char *s, double *per_sec)
{
	const char *end;
	double v, ms = 1000;

	if (parse_decimal(s, &end, &v) == -1)
		return -1;
	if (*end == '/') {
		if (unit_ms(end + 1, &ms) == -1)
			return -1;
	} else if (*end != '\0')
		return -1;
	v = v * 1000 / ms;
	if (v > 1e6 || (v > 0 && v < 1.0 / 86400))
		return -2;
	*per_sec = v;
	return 0;
}

/*
 * Splits a command line the way a shell would for plain words: blanks
 * separate words, single quotes are literal, double quotes allow \" and \\,
 * a backslash outside quotes escapes the next character.
 */
int
split_command(const char *s, char ***argvp, int *argcp)
{
	char **argv = NULL, *word, *w;
	int argc = 0;
	size_t len = strlen(s);

	while (*s != '\0') {
		int have = 0;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		word = w = malloc(len + 1);
		if (word == NULL)
			goto fail;
		while (*s != '\0' && *s != ' ' && *s != '\t') {
			have = 1;
			if (*s == '\'') {
				s++;
				while (*s != '\0' && *s != '\'')
					*w++ = *s++;
				if (*s != '\'') {
					free(word);
					goto fail;
				}
				s++;
			} else if (*s == '"') {
				s++;
				while (*s != '\0' && *s != '"') {
					if (*s == '\\' && (s[1] == '"' ||
					    s[1] == '\\'))
						s++;
					*w++ = *s++;
				}
				if (*s != '"') {
					free(word);
					goto fail;
				}
				s++;
			} else if (*s == '\\' && s[1] != '\0') {
				s++;
				*w++ = *s++;
			} else
				*w++ = *s++;
		}
		*w = '\0';
		if (have) {
			char **n = realloc(argv, (argc + 2) * sizeof(*argv));

			if (n == NULL) {
				free(word);
				goto fail;
			}
			argv = n;
			argv[argc++] = word;
			argv[argc] = NULL;
		} else
			free(word);
	}
	if (argc == 0)
		goto fail;
	*argvp = argv;
	*argcp = argc;
	return 0;
fail:
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	return -1;
}

/* Services. */

struct service *
service_new(const char *name, const char *file, int line)
{
	struct service *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->name = xstrdup(name);
	s->file = xstrdup(file ? file : "command line");
	s->line = line;
	s->addr = xstrdup("::");
	s->port = CHALD_DEFAULT_PORT;
	s->backlog = SOMAXCONN > 4096 ? SOMAXCONN : 4096;
	s->stderr_mode = STDERR_SOCKET;
	s->stdio_mode = STDIO_SOCKET;
	s->kill_disc = 1;
	s->timeout_ms = 60 * 1000;
	s->max_conns = 256;
	s->per_ip = 8;
	s->v4_prefix = 32;
	s->v6_prefix = 64;
	s->rate = 0;
	s->burst = 0;
	s->sandbox = 1;
	s->uid_min = UID_DEFAULT_MIN;
	s->uid_max = UID_DEFAULT_MAX;
	s->memory = 256ULL << 20;
	s->pids = 64;
	s->cpu = 1.0;
	s->cpu_time_ms = 30 * 1000;
	s->file_size = 16ULL << 20;
	s->open_files = 256;
	s->tmp_size = 16ULL << 20;
	snprintf(s->hostname, sizeof(s->hostname), "%s", JAIL_HOSTNAME);
	s->seccomp = 1;
	s->pool = 8;
	s->gate.proxy_timeout_ms = 5 * 1000;
	s->gate.pow_timeout_ms = 60 * 1000;
	s->gate.pending_per_ip = 16;
	s->hc_interval_ms = 30 * 1000;
	s->hc_timeout_ms = 20 * 1000;
	s->hc_user = xstrdup("nobody");
	return s;
}

static void
strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

static char **
strv_dup(char **v, int n)
{
	char **c;

	if (v == NULL)
		return NULL;
	c = calloc(n + 1, sizeof(*c));
	if (c == NULL)
		abort();
	for (int i = 0; i < n; i++)
		c[i] = xstrdup(v[i]);
	return c;
}

/* One more line number, 0 until the file reader says which. */
static void
lines_grow(int **v, int n)
{
	int *e = realloc(*v, (size_t)n * sizeof(*e));

	if (e == NULL)
		abort();
	e[n - 1] = 0;
	*v = e;
}

static int *
lines_dup(const int *v, int n)
{
	int *c;

	if (v == NULL || n == 0)
		return NULL;
	c = malloc((size_t)n * sizeof(*c));
	if (c == NULL)
		abort();
	memcpy(c, v, (size_t)n * sizeof(*c));
	return c;
}

void
service_free(struct service *s)
{
	if (s == NULL)
		return;
	free(s->name);
	free(s->file);
	free(s->addr);
	strv_free(s->argv);
	free(s->workdir);
	strv_free(s->env);
	free(s->reject_msg);
	for (int r = 0; r < REJ_NREASONS; r++)
		free(s->reject_msgs[r]);
	free(s->root);
	strv_free(s->bind_ro);
	free(s->bind_ro_lines);
	strv_free(s->bind_rw);
	free(s->bind_rw_lines);
	strv_free(s->sc_allow);
	strv_free(s->sc_deny);
	strv_free(s->hc_argv);
	free(s->hc_user);
	seccomp_filter_free(&s->filter);
	seccomp_filter_free(&s->filter_outer);
	seccomp_filter_free(&s->filter_inner);
	free(s->gate.proxy_from);
	free(s->gate.pow_exempt);
	free(s->gate.pow_prompt);
	free(s);
}

static struct cidr *
cidrs_dup(const struct cidr *v, int n)
{
	struct cidr *c;

	if (n == 0)
		return NULL;
	if ((c = calloc(n, sizeof(*c))) == NULL)
		abort();
	memcpy(c, v, n * sizeof(*c));
	return c;
}

static void
gatecfg_copy(struct gatecfg *to, const struct gatecfg *from)
{
	*to = *from;
	to->proxy_from = cidrs_dup(from->proxy_from, from->nproxy_from);
	to->pow_exempt = cidrs_dup(from->pow_exempt, from->npow_exempt);
	to->pow_prompt = from->pow_prompt ? xstrdup(from->pow_prompt) : NULL;
}

/* A new [service] starts from the values [global] gave. */
static struct service *
service_from(const struct service *d, const char *name, const char *file,
    int line)
{
	struct service *s = service_new(name, file, line);

	if (s == NULL || d == NULL)
		return s;
	free(s->addr);
	s->addr = xstrdup(d->addr);
	s->port = d->port;
	s->backlog = d->backlog;
	s->argv = strv_dup(d->argv, d->argc);
	s->argc = d->argc;
	s->argv_line = d->argv_line;
	s->workdir_line = d->workdir_line;
	s->port_line = d->port_line;
	s->workdir = d->workdir ? xstrdup(d->workdir) : NULL;
	s->env = strv_dup(d->env, d->nenv);
	s->nenv = d->nenv;
	s->stderr_mode = d->stderr_mode;
	s->stdio_mode = d->stdio_mode;
	s->kill_disc = d->kill_disc;
	s->timeout_ms = d->timeout_ms;
	s->max_conns = d->max_conns;
	s->per_ip = d->per_ip;
	s->v4_prefix = d->v4_prefix;
	s->v6_prefix = d->v6_prefix;
	s->rate = d->rate;
	s->burst = d->burst;
	s->reject_msg = d->reject_msg ? xstrdup(d->reject_msg) : NULL;
	for (int r = 0; r < REJ_NREASONS; r++)
		s->reject_msgs[r] = d->reject_msgs[r] ?
		    xstrdup(d->reject_msgs[r]) : NULL;
	s->sandbox = d->sandbox;
	s->uid_min = d->uid_min;
	s->uid_max = d->uid_max;
	s->uid_range_set = d->uid_range_set;
	s->memory = d->memory;
	s->pids = d->pids;
	s->cpu = d->cpu;
	s->cpu_time_ms = d->cpu_time_ms;
	s->file_size = d->file_size;
	s->open_files = d->open_files;
	s->tmp_size = d->tmp_size;
	s->address_space = d->address_space;
	memcpy(s->hostname, d->hostname, sizeof(s->hostname));
	s->root = d->root ? xstrdup(d->root) : NULL;
	s->root_line = d->root_line;
	s->bind_ro = strv_dup(d->bind_ro, d->nbind_ro);
	s->bind_ro_lines = lines_dup(d->bind_ro_lines, d->nbind_ro);
	s->nbind_ro = d->nbind_ro;
	s->bind_rw = strv_dup(d->bind_rw, d->nbind_rw);
	s->bind_rw_lines = lines_dup(d->bind_rw_lines, d->nbind_rw);
	s->nbind_rw = d->nbind_rw;
	s->net_host = d->net_host;
	s->allow_setuid = d->allow_setuid;
	s->setuid_line = d->setuid_line;
	s->seccomp = d->seccomp;
	s->pool = d->pool;
	s->sc_allow = strv_dup(d->sc_allow, d->nsc_allow);
	s->nsc_allow = d->nsc_allow;
	s->sc_deny = strv_dup(d->sc_deny, d->nsc_deny);
	s->nsc_deny = d->nsc_deny;
	s->seccomp_line = d->seccomp_line;
	gatecfg_copy(&s->gate, &d->gate);
	s->hc_argv = strv_dup(d->hc_argv, d->hc_argc);
	s->hc_argc = d->hc_argc;
	s->hc_line = d->hc_line;
	s->hc_interval_ms = d->hc_interval_ms;
	s->hc_timeout_ms = d->hc_timeout_ms;
	free(s->hc_user);
	s->hc_user = xstrdup(d->hc_user);
	return s;
}

struct config *
config_new(void)
{
	struct config *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->grace_ms = 5000;
	c->pending_max = 1024;
	c->log_format = LOGFMT_TEXT;
	c->admin_max_conns = 32;
	return c;
}

void
config_free(struct config *c)
{
	struct service *s, *n;

	if (c == NULL)
		return;
	jailview_warnings_free(c);
	for (s = c->services; s != NULL; s = n) {
		n = s->next;
		service_free(s);
	}
	free(c->file);
	free(c->pidfile);
	free(c->log);
	free(c->admin_addr);
	free(c);
}

int
config_add_service(struct config *c, struct service *s)
{
	struct service **pp;

	for (pp = &c->services; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->name, s->name) == 0)
			return -1;
	*pp = s;
	c->nservices++;
	return 0;
}

/* Relative paths in a file are relative to the file, not to chald's cwd. */
static char *
path_join(const char *basedir, const char *p)
{
	char *out;

	if (p[0] == '/' || basedir == NULL)
		return xstrdup(p);
	while (p[0] == '.' && p[1] == '/')
		for (p += 2; *p == '/'; p++)
			;
	if (*p == '\0' || strcmp(p, ".") == 0)
		return xstrdup(basedir);
	if (asprintf(&out, "%s/%s", basedir, p) < 0)
		abort();
	return out;
}

/*
 * A hostname as RFC 1123 has it: dot-separated labels of letters, digits
 * and '-', none empty, longer than 63 or with '-' at an end, and no more
 * than sethostname() takes in all.
 */
static int
hostname_valid(const char *v)
{
	size_t len = strlen(v), label = 0;

	if (len == 0 || len > HOST_NAME_MAX)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (v[i] == '.' || v[i] == '\0') {
			if (label == 0 || label > 63 || v[i - 1] == '-')
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)v[i]) || (v[i] == '-' &&
		    label > 0))
			label++;
		else
			return 0;
	}
	return 1;
}

static int
env_valid(const char *v)
{
	const char *eq = strchr(v, '=');

	if (eq == NULL || eq == v)
		return 0;
	for (const char *p = v; p < eq; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return 0;
	return !isdigit((unsigned char)v[0]);
}

/* chald sets these itself; a second copy would confuse getenv(). */
static int
env_reserved(const char *v)
{
	return strncmp(v, "PROTO=", 6) == 0 || strncmp(v, "TCPREMOTE", 9) == 0
	    || strncmp(v, "TCPLOCAL", 8) == 0;
}

static void
strv_push(char ***v, int *n, char *item)
{
	char **e = realloc(*v, (*n + 2) * sizeof(*e));

	if (e == NULL)
		abort();
	*v = e;
	e[(*n)++] = item;
	e[*n] = NULL;
}

static int
parse_bool(const char *v, int *out)
{
	if (strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 ||
	    strcmp(v, "true") == 0)
		*out = 1;
	else if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0 ||
	    strcmp(v, "false") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* "0.5", "2", "50%"; 0 means no cap. */
static int
parse_cpu(const char *v, double *out)
{
	const char *end;
	double d;

	if (parse_decimal(v, &end, &d) == -1)
		return -1;
	if (*end == '%') {
		d /= 100;
		end++;
	}
	if (*end != '\0' || d > 1024 || (d > 0 && d < 0.01))
		return -1;
	*out = d;
	return 0;
}

static int
parse_uid_range(const char *v, uid_t *lo, uid_t *hi)
{
	char *end;
	unsigned long a, b;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	a = strtoul(v, &end, 10);
	if (*end != '-' || !isdigit((unsigned char)end[1]))
		return -1;
	b = strtoul(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || a == 0 || b < a ||
	    b > 4000000000UL || b - a >= UID_RANGE_MAX)
		return -1;
	*lo = (uid_t)a;
	*hi = (uid_t)b;
	return 0;
}

/* Address ranges, separated by blanks or commas; appended to *v. */
static int
parse_cidrs(const char *value, struct cidr **v, int *n, char *err,
    size_t errlen)
{
	char *copy = xstrdup(value), *tok, *save;
	int added = 0;

	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save), added++) {
		struct cidr c, *nv;

		if (cidr_parse(tok, &c) == -1) {
			seterr(err, errlen, "not an address or ADDRESS/PREFIX: "
			    "\"%s\"", tok);
			free(copy);
			return -1;
		}
		if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL)
			abort();
		*v = nv;
		nv[(*n)++] = c;
	}
	free(copy);
	if (added == 0)
		return seterr(err, errlen, "no address given");
	return 0;
}

/* "\n", "\t" and "\\" in a one-line value; anything else is kept. */
static char *
unescape(const char *v)
{
	char *out = xstrdup(v), *w = out;

	for (; *v != '\0'; v++) {
		if (*v == '\\' && (v[1] == 'n' || v[1] == 't' ||
		    v[1] == '\\')) {
			v++;
			*w++ = *v == 'n' ? '\n' : *v == 't' ? '\t' : '\\';
		} else
			*w++ = *v;
	}
	*w = '\0';
	return out;
}

static int
set_gate_key(struct service *s, const char *key, const char *value,
    char *err, size_t errlen)
{
	struct gatecfg *g = &s->gate;
	int64_t ms;
	long n;

	if (strcmp(key, "proxy-from") == 0)
		return parse_cidrs(value, &g->proxy_from, &g->nproxy_from, err,
		    errlen);
	if (strcmp(key, "pow-exempt") == 0)
		return parse_cidrs(value, &g->pow_exempt, &g->npow_exempt, err,
		    errlen);
	if (strcmp(key, "proxy-timeout") == 0 ||
	    strcmp(key, "pow-timeout") == 0) {
		if (parse_duration(value, &ms) == -1 || ms <= 0)
			return seterr(err, errlen, "not a duration above 0 "
			    "(e.g. 5s, 2m): \"%s\"", value);
		if (strcmp(key, "proxy-timeout") == 0)
			g->proxy_timeout_ms = ms;
		else
			g->pow_timeout_ms = ms;
	} else if (strcmp(key, "pow") == 0) {
		if (parse_int(value, 0, 8388607, &n) == -1)
			return seterr(err, errlen, "not a difficulty "
			    "(0-8388607, 0 for off): \"%s\"", value);
		g->pow = (uint32_t)n;
	} else if (strcmp(key, "pow-prompt") == 0) {
		if (strstr(value, "{challenge}") == NULL)
			return seterr(err, errlen, "the prompt must contain "
			    "{challenge}, or no player can solve it");
		free(g->pow_prompt);
		g->pow_prompt = unescape(value);
	} else if (strcmp(key, "pending-per-ip") == 0) {
		if (parse_int(value, 0, 1000000, &n) == -1)
			return seterr(err, errlen, "not a count (0-1000000, 0 "
			    "for no cap): \"%s\"", value);
		g->pending_per_ip = (int)n;
	} else
		return 1;
	return 0;
}

/* Syscall names, separated by blanks or commas; all must be known. */
static int
parse_syscalls(const char *v, char ***list, int *n, char *err, size_t errlen)
{
	char *copy = xstrdup(v), *tok, *save;

	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save)) {
		if (!seccomp_known(tok)) {
			seterr(err, errlen, "unknown syscall \"%s\"", tok);
			free(copy);
			return -1;
		}
		strv_push(list, n, xstrdup(tok));
	}
	free(copy);
	return 0;
}

static int
set_sandbox_key(struct service *s, const char *key, const char *value,
    const char *basedir, char *err, size_t errlen)
{
	uint64_t sz;
	long n;

	if (strcmp(key, "sandbox") == 0) {
		if (parse_bool(value, &s->sandbox) == -1)
			return seterr(err, errlen, "expected on or off, got "
			    "\"%s\"", value);
	} else if (strcmp(key, "uid-range") == 0) {
		if (parse_uid_range(value, &s->uid_min, &s->uid_max) == -1)
			return seterr(err, errlen, "expected FIRST-LAST, "
			    "non-root, at most %u uids: \"%s\"", UID_RANGE_MAX,
			    value);
		s->uid_range_set = 1;
	} else if (strcmp(key, "memory") == 0 ||
	    strcmp(key, "file-size") == 0 || strcmp(key, "tmp-size") == 0 ||
	    strcmp(key, "address-space") == 0) {
		if (parse_size(value, &sz) == -1)
			return seterr(err, errlen, "not a size (e.g. 64M, 1G, "
			    "0 for no cap): \"%s\"", value);
		if (strcmp(key, "memory") == 0)
			s->memory = sz;
		else if (strcmp(key, "file-size") == 0)
			s->file_size = sz;
		else if (strcmp(key, "address-space") == 0)
			s->address_space = sz;
		else if (sz < 4096)
			return seterr(err, errlen, "at least 4K: \"%s\"",
			    value);
		else
			s->tmp_size = sz;
	} else if (strcmp(key, "hostname") == 0) {
		if (!hostname_valid(value))
			return seterr(err, errlen, "not a hostname (dotted "
			    "labels of letters, digits and inner '-', 1-63 "
			    "each, %d in all): \"%s\"", HOST_NAME_MAX, value);
		snprintf(s->hostname, sizeof(s->hostname), "%s", value);
	} else if (strcmp(key, "pids") == 0) {
		if (parse_int(value, 0, 1000000, &n) == -1)
			return seterr(err, errlen, "not a count (0-1000000, 0 "
			    "for no cap): \"%s\"", value);
		s->pids = (int)n;
	} else if (strcmp(key, "pool") == 0) {
		if (parse_int(value, 0, 1000, &n) == -1)
			return seterr(err, errlen, "not a count (0-1000): \"%s\"",
			    value);
		s->pool = (int)n;
	} else if (strcmp(key, "open-files") == 0) {
		if (parse_int(value, 0, 1048576, &n) == -1 || n == 1 ||
		    n == 2)
			return seterr(err, errlen, "not a count (3-1048576, 0 "
			    "for no cap): \"%s\"", value);
		s->open_files = (int)n;
	} else if (strcmp(key, "cpu") == 0) {
		if (parse_cpu(value, &s->cpu) == -1)
			return seterr(err, errlen, "not a share of a core "
			    "(e.g. 0.5, 50%%, 2, 0 for no cap): \"%s\"",
			    value);
	} else if (strcmp(key, "cpu-time") == 0) {
		if (parse_duration(value, &s->cpu_time_ms) == -1)
			return seterr(err, errlen, "not a duration (e.g. 10s, "
			    "0 for no cap): \"%s\"", value);
	} else if (strcmp(key, "root") == 0) {
		if (*value == '\0')
			return seterr(err, errlen, "empty directory");
		free(s->root);
		s->root = path_join(basedir, value);
	} else if (strcmp(key, "bind-ro") == 0 || strcmp(key, "bind-rw") == 0) {
		char *p;

		if (*value == '\0')
			return seterr(err, errlen, "empty path");
		p = path_join(basedir, value);
		if (p[0] != '/') {
			free(p);
			return seterr(err, errlen, "not an absolute path: "
			    "\"%s\"", value);
		}
		if (strcmp(key, "bind-ro") == 0) {
			strv_push(&s->bind_ro, &s->nbind_ro, p);
			lines_grow(&s->bind_ro_lines, s->nbind_ro);
		} else {
			strv_push(&s->bind_rw, &s->nbind_rw, p);
			lines_grow(&s->bind_rw_lines, s->nbind_rw);
		}
	} else if (strcmp(key, "network") == 0) {
		if (strcmp(value, "none") == 0)
			s->net_host = 0;
		else if (strcmp(value, "host") == 0)
			s->net_host = 1;
		else
			return seterr(err, errlen, "expected none or host, got "
			    "\"%s\"", value);
	} else if (strcmp(key, "setuid") == 0) {
		if (parse_bool(value, &s->allow_setuid) == -1)
			return seterr(err, errlen, "expected on or off, got "
			    "\"%s\"", value);
	} else if (strcmp(key, "seccomp") == 0) {
		if (parse_bool(value, &s->seccomp) == -1)
			return seterr(err, errlen, "expected on or off, got "
			    "\"%s\"", value);
	} else if (strcmp(key, "seccomp-allow") == 0) {
		return parse_syscalls(value, &s->sc_allow, &s->nsc_allow, err,
		    errlen);
	} else if (strcmp(key, "seccomp-deny") == 0) {
		return parse_syscalls(value, &s->sc_deny, &s->nsc_deny, err,
		    errlen);
	} else
		return seterr(err, errlen, "unknown key");
	return 0;
}

/* The health check (health.c): a program run against the service. */
static int
set_health_key(struct service *s, const char *key, const char *value,
    const char *basedir, char *err, size_t errlen)
{
	int64_t ms;

	if (strcmp(key, "healthcheck") == 0) {
		char **argv;
		int argc;

		if (split_command(value, &argv, &argc) == -1)
			return seterr(err, errlen, "empty command or "
			    "unbalanced quotes: \"%s\"", value);
		strv_free(s->hc_argv);
		s->hc_argv = argv;
		s->hc_argc = argc;
		if (strchr(argv[0], '/') != NULL) {
			char *p = path_join(basedir, argv[0]);

			free(argv[0]);
			argv[0] = p;
		}
	} else if (strcmp(key, "healthcheck-interval") == 0 ||
	    strcmp(key, "healthcheck-timeout") == 0) {
		if (parse_duration(value, &ms) == -1 || ms == 0)
			return seterr(err, errlen, "not a duration above 0 "
			    "(e.g. 30s, 1m): \"%s\"", value);
		if (key[12] == 'i')
			s->hc_interval_ms = ms;
		else
			s->hc_timeout_ms = ms;
	} else if (strcmp(key, "healthcheck-user") == 0) {
		if (*value == '\0')
			return seterr(err, errlen, "empty user name");
		free(s->hc_user);
		s->hc_user = xstrdup(value);
	} else
		return seterr(err, errlen, "unknown key");
	return 0;
}

static int
set_service_key(struct service *s, const char *key, const char *value,
    const char *basedir, char *err, size_t errlen)
{
	long n;
	int64_t ms;
	double r;

	if (strcmp(key, "listen") == 0) {
		struct in6_addr a6;
		struct in_addr a4;

		if (inet_pton(AF_INET, value, &a4) != 1 &&
		    inet_pton(AF_INET6, value, &a6) != 1)
			return seterr(err, errlen, "not an IPv4 or IPv6 "
			    "address: \"%s\"", value);
		free(s->addr);
		s->addr = xstrdup(value);
	} else if (strcmp(key, "port") == 0) {
		if (parse_int(value, 0, 65535, &n) == -1)
			return seterr(err, errlen, "not a port number "
			    "(0-65535): \"%s\"", value);
		s->port = (int)n;
	} else if (strcmp(key, "backlog") == 0) {
		if (parse_int(value, 1, 1 << 20, &n) == -1)
			return seterr(err, errlen, "not a backlog "
			    "(1-1048576): \"%s\"", value);
		s->backlog = (int)n;
	} else if (strcmp(key, "command") == 0) {
		char **argv;
		int argc;

		if (split_command(value, &argv, &argc) == -1)
			return seterr(err, errlen, "empty command or "
			    "unbalanced quotes: \"%s\"", value);
		strv_free(s->argv);
		s->argv = argv;
		s->argc = argc;
		if (strchr(argv[0], '/') != NULL) {
			char *p = path_join(basedir, argv[0]);

			free(argv[0]);
			argv[0] = p;
		}
	} else if (strcmp(key, "workdir") == 0) {
		if (*value == '\0')
			return seterr(err, errlen, "empty directory");
		free(s->workdir);
		s->workdir = path_join(basedir, value);
	} else if (strcmp(key, "env") == 0) {
		char **e;

		if (!env_valid(value))
			return seterr(err, errlen, "expected NAME=VALUE, "
			    "got \"%s\"", value);
		if (env_reserved(value))
			return seterr(err, errlen, "%.*s is set by chald for "
			    "each connection", (int)strcspn(value, "="), value);
		if (s->nenv >= CHALD_MAX_ENV)
			return seterr(err, errlen, "more than %d variables",
			    CHALD_MAX_ENV);
		e = realloc(s->env, (s->nenv + 2) * sizeof(*e));
		if (e == NULL)
			abort();
		s->env = e;
		s->env[s->nenv++] = xstrdup(value);
		s->env[s->nenv] = NULL;
	} else if (strcmp(key, "stderr") == 0) {
		if (strcmp(value, "socket") == 0)
			s->stderr_mode = STDERR_SOCKET;
		else if (strcmp(value, "null") == 0)
			s->stderr_mode = STDERR_NULL;
		else if (strcmp(value, "log") == 0)
			s->stderr_mode = STDERR_LOG;
		else
			return seterr(err, errlen, "expected socket, null or "
			    "log, got \"%s\"", value);
	} else if (strcmp(key, "stdio") == 0) {
		if (strcmp(value, "socket") == 0)
			s->stdio_mode = STDIO_SOCKET;
		else if (strcmp(value, "pty") == 0)
			s->stdio_mode = STDIO_PTY;
		else
			return seterr(err, errlen, "expected socket or pty, got "
			    "\"%s\"", value);
	} else if (strcmp(key, "kill-on-disconnect") == 0) {
		if (parse_bool(value, &s->kill_disc) == -1)
			return seterr(err, errlen, "expected on or off, got "
			    "\"%s\"", value);
	} else if (strcmp(key, "timeout") == 0) {
		if (parse_duration(value, &ms) == -1)
			return seterr(err, errlen, "not a duration (e.g. 90s, "
			    "2m, 0 for none): \"%s\"", value);
		s->timeout_ms = ms;
	} else if (strcmp(key, "max-conns") == 0) {
		if (parse_int(value, 0, 1000000, &n) == -1)
			return seterr(err, errlen, "not a count (0-1000000, 0 "
			    "for no cap): \"%s\"", value);
		s->max_conns = (int)n;
	} else if (strcmp(key, "per-ip") == 0) {
		if (parse_int(value, 0, 1000000, &n) == -1)
			return seterr(err, errlen, "not a count (0-1000000, 0 "
			    "for no cap): \"%s\"", value);
		s->per_ip = (int)n;
	} else if (strcmp(key, "ipv4-prefix") == 0) {
		if (parse_int(value, 0, 32, &n) == -1)
			return seterr(err, errlen, "not a prefix length "
			    "(0-32): \"%s\"", value);
		s->v4_prefix = (int)n;
	} else if (strcmp(key, "ipv6-prefix") == 0) {
		if (parse_int(value, 0, 128, &n) == -1)
			return seterr(err, errlen, "not a prefix length "
			    "(0-128): \"%s\"", value);
		s->v6_prefix = (int)n;
	} else if (strcmp(key, "rate") == 0) {
		int bad = parse_rate(value, &r);

		if (bad == -2)
			return seterr(err, errlen, "at least 1/d and at most "
			    "1000000/s, or 0 for none: \"%s\"", value);
		if (bad == -1)
			return seterr(err, errlen, "not a rate (e.g. 10/s, "
			    "100/m, 0 for none): \"%s\"", value);
		s->rate = r;
	} else if (strcmp(key, "burst") == 0) {
		if (parse_int(value, 0, 1000000, &n) == -1)
			return seterr(err, errlen, "not a count (0-1000000, 0 "
			    "for the default): \"%s\"", value);
		s->burst = (int)n;
	} else if (strcmp(key, "reject-message") == 0) {
		free(s->reject_msg);
		s->reject_msg = xstrdup(value);
	} else if (strncmp(key, REJECT_KEY, strlen(REJECT_KEY)) == 0 &&
	    (n = reject_parse(key + strlen(REJECT_KEY))) >= 0) {
		free(s->reject_msgs[n]);
		s->reject_msgs[n] = xstrdup(value);
	} else if (strncmp(key, "healthcheck", 11) == 0) {
		return set_health_key(s, key, value, basedir, err, errlen);
	} else {
		int g = set_gate_key(s, key, value, err, errlen);

		if (g <= 0)
			return g;
		return set_sandbox_key(s, key, value, basedir, err, errlen);
	}
	return 0;
}

/* "ADDR:PORT", an IPv6 address in brackets; "off" for none. */
static int
parse_admin(struct config *c, const char *value, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(value, ':');
	struct in6_addr a6;
	struct in_addr a4;
	size_t alen;
	long port;

	if (strcmp(value, "off") == 0) {
		free(c->admin_addr);
		c->admin_addr = NULL;
		return 0;
	}
	if (colon == NULL || parse_int(colon + 1, 0, 65535, &port) == -1)
		goto bad;
	alen = (size_t)(colon - value);
	if (alen >= 2 && value[0] == '[' && value[alen - 1] == ']') {
		value++;
		alen -= 2;
	} else if (memchr(value, ':', alen) != NULL)
		goto bad;	/* IPv6 without brackets */
	if (alen == 0 || alen >= sizeof(addr))
		goto bad;
	memcpy(addr, value, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, &a4) != 1 &&
	    inet_pton(AF_INET6, addr, &a6) != 1)
		goto bad;
	free(c->admin_addr);
	c->admin_addr = xstrdup(addr);
	c->admin_port = (int)port;
	return 0;
bad:
	return seterr(err, errlen, "expected ADDR:PORT (e.g. 127.0.0.1:9100 "
	    "or [::1]:9100) or off, got \"%s\"", value);
}

static int
set_global_key(struct config *c, const char *key, const char *value,
    char *err, size_t errlen)
{
	if (strcmp(key, "pidfile") == 0) {
		if (*value == '\0')
			return seterr(err, errlen, "empty file name");
		free(c->pidfile);
		c->pidfile = xstrdup(value);
	} else if (strcmp(key, "log") == 0) {
		if (*value == '\0')
			return seterr(err, errlen, "expected stderr, syslog "
			    "or a file name");
		free(c->log);
		c->log = xstrdup(value);
	} else if (strcmp(key, "log-format") == 0) {
		if (strcmp(value, "text") == 0)
			c->log_format = LOGFMT_TEXT;
		else if (strcmp(value, "json") == 0)
			c->log_format = LOGFMT_JSON;
		else
			return seterr(err, errlen, "expected text or json, "
			    "got \"%s\"", value);
	} else if (strcmp(key, "drain") == 0) {
		if (parse_duration(value, &c->drain_ms) == -1)
			return seterr(err, errlen, "not a duration (e.g. 5m, "
			    "0 for none): \"%s\"", value);
	} else if (strcmp(key, "grace") == 0) {
		if (parse_duration(value, &c->grace_ms) == -1)
			return seterr(err, errlen, "not a duration (e.g. 5s): "
			    "\"%s\"", value);
	} else if (strcmp(key, "pending-max") == 0) {
		long n;

		if (parse_int(value, 0, 1000000, &n) == -1)
			return seterr(err, errlen, "not a count (0-1000000, 0 "
			    "for no cap): \"%s\"", value);
		c->pending_max = (int)n;
	} else if (strcmp(key, "admin") == 0) {
		return parse_admin(c, value, err, errlen);
	} else if (strcmp(key, "admin-max-conns") == 0) {
		long n;

		if (parse_int(value, 1, 4096, &n) == -1)
			return seterr(err, errlen, "not a count (1-4096): "
			    "\"%s\"", value);
		c->admin_max_conns = (int)n;
	} else
		return seterr(err, errlen, "unknown key");
	return 0;
}

/*
 * A value from the command line means what it would in the file: blanks
 * around it are not part of it, and it cannot hold a line break, which
 * would end it there. So what -n prints back reads as the same value.
 * *copy is set when the value had to be trimmed; the caller frees it.
 */
static int
value_norm(const char **value, char **copy, char *err, size_t errlen)
{
	const char *v = *value;
	size_t n;

	*copy = NULL;
	if (strchr(v, '\n') != NULL)
		return seterr(err, errlen, "a value cannot hold a line break");
	n = strlen(v);
	if (n == 0 || (!isspace((unsigned char)v[0]) &&
	    !isspace((unsigned char)v[n - 1])))
		return 0;
	while (isspace((unsigned char)*v))
		v++, n--;
	while (n > 0 && isspace((unsigned char)v[n - 1]))
		n--;
	*copy = strndup(v, n);
	if (*copy == NULL)
		abort();
	*value = *copy;
	return 0;
}

int
config_set_service(struct service *s, const char *key, const char *value,
    const char *basedir, char *err, size_t errlen)
{
	char *copy;
	int r;

	if (value_norm(&value, &copy, err, errlen) == -1)
		return -1;
	r = set_service_key(s, key, value, basedir, err, errlen);
	free(copy);
	return r;
}

int
config_set_global(struct config *c, const char *key, const char *value,
    char *err, size_t errlen)
{
	char *copy;
	int r;

	if (value_norm(&value, &copy, err, errlen) == -1)
		return -1;
	r = set_global_key(c, key, value, err, errlen);
	free(copy);
	return r;
}

/* The file reader. */

/*
 * inih reads with a fixed buffer and would silently split a long line, and
 * Debian's build tells the handler neither line numbers nor where a section
 * starts. Our reader sees every line first: it counts them, opens sections
 * itself, so that empty, duplicate or misspelt sections are reported at
 * their own line, and refuses what inih would take silently or report only
 * at the end: a NUL byte (inih would see the line end there), an overlong
 * line, a line that is no comment, section or key = value. It stops at the
 * first error, so that the error reported is the first in the file.
 */
static int ctx_section(struct parse_ctx *, const char *);
static int ctx_fail(struct parse_ctx *, const char *, const char *);

/* What inih will make of a line, checked by the same rules first. */
static void
ctx_check_line(struct parse_ctx *ctx, char *str)
{
	char *p, *end, *after;

	for (p = str; isspace((unsigned char)*p); p++)
		;
	if (*p == '\0' || *p == ';' || *p == '#')
		return;
	if (*p != '[') {
		size_t k = strcspn(p, "=:");

		/* inih splits at the first '=' or ':'; a key is needed. */
		if (p[k] == '\0' || k == 0)
			ctx_fail(ctx, NULL, "syntax error (expected [section], "
			    "key = value, or a comment)");
		return;
	}
	if ((end = strchr(p, ']')) == NULL) {
		ctx_fail(ctx, NULL, "syntax error (a section header needs its "
		    "closing ']')");
		return;
	}
	for (after = end + 1; isspace((unsigned char)*after); after++)
		;
	if (*after != '\0' && *after != ';' && *after != '#') {
		ctx_fail(ctx, NULL, "syntax error (text after the section "
		    "header's ']')");
		return;
	}
	*end = '\0';
	ctx_section(ctx, p + 1);
	*end = ']';
}

static char *
ctx_reader(char *str, int num, void *stream)
{
	struct parse_ctx *ctx = stream;
	size_t len = 0, cap = (size_t)num - 1;
	int ch = EOF, nul = 0, over = 0;

	if (ctx->failed)
		return NULL;
	while ((ch = getc(ctx->fp)) != EOF) {
		if (len == cap) {
			over = 1;
			break;
		}
		str[len++] = (char)ch;
		if (ch == '\0')
			nul = 1;
		if (ch == '\n')
			break;
	}
	if (ch == EOF && ferror(ctx->fp)) {
		seterr(ctx->err, ctx->errlen, "%s: cannot read: %s", ctx->path,
		    strerror(errno));
		ctx->failed = 1;
		return NULL;
	}
	if (len == 0 && !over)
		return NULL;
	str[len] = '\0';
	ctx->lineno++;
	/* A BOM, as some editors write, is not part of the first line. */
	if (ctx->lineno == 1 && len >= 3 && memcmp(str, "\xef\xbb\xbf", 3) == 0)
		memmove(str, str + 3, len - 2);
	if (nul)
		ctx_fail(ctx, NULL, "NUL byte (a configuration file is text)");
	else if (over) {
		seterr(ctx->err, ctx->errlen, "%s:%d: line longer than %d "
		    "characters", ctx->path, ctx->lineno, num - 2);
		ctx->failed = 1;
	} else
		ctx_check_line(ctx, str);
	return ctx->failed ? NULL : str;
}

static int
ctx_fail(struct parse_ctx *ctx, const char *key, const char *msg)
{
	if (!ctx->failed) {
		if (key != NULL)
			seterr(ctx->err, ctx->errlen, "%s:%d: %s: %s",
			    ctx->path, ctx->lineno, key, msg);
		else
			seterr(ctx->err, ctx->errlen, "%s:%d: %s",
			    ctx->path, ctx->lineno, msg);
		ctx->failed = 1;
	}
	return 0;
}

static int
ctx_section(struct parse_ctx *ctx, const char *section)
{
	struct service *s;
	const char *name;
	char msg[CHALD_ERRLEN];

	if (strcmp(section, "global") == 0) {
		if (ctx->seen_service)
			return ctx_fail(ctx, NULL, "[global] must come "
			    "before the first [service]");
		ctx->in_global = 1;
		ctx->cur = NULL;
		return 1;
	}
	if (strncmp(section, "service", 7) != 0 ||
	    (section[7] != ' ' && section[7] != '\t' && section[7] != '\0')) {
		snprintf(msg, sizeof(msg), "unknown section [%s] (expected "
		    "[global] or [service NAME])", section);
		return ctx_fail(ctx, NULL, msg);
	}
	name = section + 7;
	while (*name == ' ' || *name == '\t')
		name++;
	if (*name == '\0')
		return ctx_fail(ctx, NULL, "[service] needs a name: "
		    "[service NAME]");
	for (const char *p = name; *p != '\0'; p++)
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_' ||
		    *p == '.')) {
			snprintf(msg, sizeof(msg), "service name \"%s\": use "
			    "letters, digits, '-', '_' and '.'", name);
			return ctx_fail(ctx, NULL, msg);
		}
	s = service_from(ctx->defaults, name, ctx->path, ctx->lineno);
	if (s == NULL)
		abort();
	if (config_add_service(ctx->conf, s) == -1) {
		snprintf(msg, sizeof(msg), "duplicate service \"%s\"", name);
		service_free(s);
		return ctx_fail(ctx, NULL, msg);
	}
	ctx->cur = s;
	ctx->in_global = 0;
	ctx->seen_service = 1;
	return 1;
}

/* Remembers where a key was set, for the errors config_finish() finds. */
static void
note_line(struct service *s, const char *key, int line)
{
	if (strcmp(key, "command") == 0)
		s->argv_line = line;
	else if (strcmp(key, "workdir") == 0)
		s->workdir_line = line;
	else if (strcmp(key, "port") == 0)
		s->port_line = line;
	else if (strcmp(key, "root") == 0)
		s->root_line = line;
	else if (strcmp(key, "setuid") == 0)
		s->setuid_line = line;
	else if (strncmp(key, "seccomp", 7) == 0)
		s->seccomp_line = line;
	else if (strcmp(key, "bind-ro") == 0)
		s->bind_ro_lines[s->nbind_ro - 1] = line;
	else if (strcmp(key, "bind-rw") == 0)
		s->bind_rw_lines[s->nbind_rw - 1] = line;
	else if (strcmp(key, "healthcheck") == 0)
		s->hc_line = line;
}

static int
ctx_handler(void *user, const char *section, const char *key,
    const char *value)
{
	struct parse_ctx *ctx = user;
	struct service *s = ctx->cur ? ctx->cur : ctx->defaults;
	char msg[CHALD_ERRLEN];

	(void)section;
	if (ctx->failed)
		return 1;
	if (ctx->cur == NULL && !ctx->in_global)
		return ctx_fail(ctx, key, "key outside any section (start "
		    "with [global] or [service NAME])");
	if (ctx->cur == NULL && in_list(global_keys, key)) {
		if (config_set_global(ctx->conf, key, value, msg,
		    sizeof(msg)) == -1)
			return ctx_fail(ctx, key, msg);
		return 1;
	}
	if (config_is_service_key(key)) {
		if (config_set_service(s, key, value, ctx->basedir, msg,
		    sizeof(msg)) == -1)
			return ctx_fail(ctx, key, msg);
		note_line(s, key, ctx->lineno);
		return 1;
	}
	if (ctx->cur != NULL && in_list(global_keys, key))
		return ctx_fail(ctx, key, "belongs in [global]");
	return ctx_fail(ctx, key, "unknown key");
}

/*
 * Reads a configuration from fp; path names it in errors, and relative
 * paths in it are taken from basedir. config_parse_file() opens a file for
 * it; the fuzzer hands it bytes in memory.
 */
int
config_parse_stream(struct config *c, FILE *fp, const char *path,
    const char *basedir, char *err, size_t errlen)
{
	struct parse_ctx ctx;
	int r;

	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = c;
	ctx.path = path;
	ctx.basedir = basedir;
	ctx.fp = fp;
	ctx.err = err;
	ctx.errlen = errlen;
	ctx.defaults = service_new("global", path, 0);
	if (ctx.defaults == NULL)
		return seterr(err, errlen, "%s: out of memory", path);
	/*
	 * Debian's inih makes its build options run-time settings: longer
	 * lines than its 200 bytes, and no Python-style continuation lines
	 * (an indented "port = 2" would silently extend the previous value).
	 */
	ini_use_stack = false;
	ini_max_line = MAX_LINE;
	ini_initial_alloc = MAX_LINE;
	ini_allow_multiline = false;
	/* "x ;y" in a value is the value, not a comment. */
	ini_allow_inline_comments = false;
	r = ini_parse_stream(ctx_reader, &ctx, ctx_handler, &ctx);
	/* The reader checks every line first: inih finding an error of its
	 * own would be a bug, but it is reported, not ignored. */
	if (r > 0 && !ctx.failed) {
		ctx.lineno = r;
		ctx_fail(&ctx, NULL, "syntax error (expected [section], "
		    "key = value, or a comment)");
	} else if (r < 0 && !ctx.failed)
		seterr(err, errlen, "%s: out of memory", path);
	if (r < 0)
		ctx.failed = 1;
	service_free(ctx.defaults);
	if (!ctx.failed && c->services == NULL)
		return seterr(err, errlen, "%s: no [service NAME] section",
		    path);
	return ctx.failed ? -1 : 0;
}

int
config_parse_file(struct config *c, const char *path, char *err,
    size_t errlen)
{
	struct stat st;
	char *slash, *abs, *basedir;
	FILE *fp;
	int r;

	fp = fopen(path, "re");
	if (fp == NULL)
		return seterr(err, errlen, "%s: %s", path, strerror(errno));
	/* A directory opens, and then reads as an error or as nothing. */
	if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(fp);
		return seterr(err, errlen, "%s: is a directory, not a "
		    "configuration file", path);
	}
	abs = realpath(path, NULL);
	if (abs == NULL) {
		fclose(fp);
		return seterr(err, errlen, "%s: %s", path, strerror(errno));
	}
	slash = strrchr(abs, '/');
	basedir = strndup(abs, slash == abs ? 1 : (size_t)(slash - abs));
	if (basedir == NULL)
		abort();
	free(c->file);
	c->file = abs;
	r = config_parse_stream(c, fp, path, basedir, err, errlen);
	fclose(fp);
	free(basedir);
	return r;
}

/* Checks that need the whole configuration or the file system. */

/* argv[0] of "command" or "healthcheck": found, checked, made absolute. */
static int
resolve_exec(const char *key, char **progp, char *err, size_t errlen)
{
	char *prog = *progp, *found = NULL, *real, buf[PATH_MAX];
	struct stat st;

	if (strchr(prog, '/') == NULL) {
		const char *path = "/usr/local/bin:/usr/bin:/bin";

		while (*path != '\0') {
			size_t n = strcspn(path, ":");

			snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path,
			    prog);
			if (access(buf, X_OK) == 0) {
				found = buf;
				break;
			}
			path += n + (path[n] == ':');
		}
		if (found == NULL)
			return seterr(err, errlen, "%s: program \"%s\" "
			    "not found in /usr/local/bin:/usr/bin:/bin", key,
			    prog);
		prog = found;
	}
	if (stat(prog, &st) == -1)
		return seterr(err, errlen, "%s: program %s: %s", key, prog,
		    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return seterr(err, errlen, "%s: program %s: not a "
		    "regular file", key, prog);
	if (access(prog, X_OK) == -1)
		return seterr(err, errlen, "%s: program %s: not "
		    "executable", key, prog);
	real = realpath(prog, NULL);
	if (real == NULL)
		return seterr(err, errlen, "%s: program %s: %s", key, prog,
		    strerror(errno));
	free(*progp);
	*progp = real;
	return 0;
}

static int
resolve_program(struct service *s, char *err, size_t errlen)
{
	/* With a root of its own, the program is the jail's, not the host's. */
	if (s->sandbox && s->root != NULL)
		return jailview_program(s, err, errlen);
	return resolve_exec("command", &s->argv[0], err, errlen);
}

/* The health check's program and the user it runs as. */
static int
resolve_health(struct service *s, char *err, size_t errlen)
{
	struct passwd *pw;
	long uid;

	if (s->hc_argv == NULL)
		return 0;
	if (resolve_exec("healthcheck", &s->hc_argv[0], err, errlen) == -1)
		return -1;
	if ((pw = getpwnam(s->hc_user)) != NULL) {
		s->hc_uid = pw->pw_uid;
		s->hc_gid = pw->pw_gid;
	} else if (parse_int(s->hc_user, 1, INT_MAX, &uid) == 0) {
		s->hc_uid = (uid_t)uid;
		s->hc_gid = (gid_t)uid;
	} else
		return seterr(err, errlen, "healthcheck-user: no user \"%s\" "
		    "(a name from the password database, or a uid)",
		    s->hc_user);
	if (s->hc_uid == 0)
		return seterr(err, errlen, "healthcheck-user: %s is root: the "
		    "check runs unprivileged", s->hc_user);
	return 0;
}

static int
resolve_workdir(struct service *s, char *err, size_t errlen)
{
	struct stat st;
	char *real;

	if (s->workdir == NULL) {
		s->workdir = jailview_default_workdir(s);
		/* Where it really is, as a workdir given is: -n prints it,
		 * and reading that back must give the same. */
		if (!(s->sandbox && s->root != NULL) &&
		    (real = realpath(s->workdir, NULL)) != NULL) {
			free(s->workdir);
			s->workdir = real;
		}
		return 0;
	}
	if (s->sandbox && s->root != NULL)
		return jailview_workdir(s, err, errlen);
	if (stat(s->workdir, &st) == -1)
		return seterr(err, errlen, "workdir: %s: %s", s->workdir,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return seterr(err, errlen, "workdir: %s: not a directory",
		    s->workdir);
	real = realpath(s->workdir, NULL);
	if (real == NULL)
		return seterr(err, errlen, "workdir: %s: %s", s->workdir,
		    strerror(errno));
	free(s->workdir);
	s->workdir = real;
	return 0;
}

static int
check_dir(const char *key, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return seterr(err, errlen, "%s: %s: %s", key, path,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return seterr(err, errlen, "%s: %s: not a directory", key,
		    path);
	return 0;
}

/* A mount point of /proc/self/mountinfo, its octal escapes (\040 for a
 * blank) undone, into out. */
static void
mountinfo_path(const char *in, char *out, size_t len)
{
	size_t n = 0;

	while (*in != '\0' && n + 1 < len) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' &&
		    in[2] >= '0' && in[2] <= '7' && in[3] >= '0' &&
		    in[3] <= '7') {
			out[n++] = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 +
			    (in[3] - '0'));
			in += 4;
		} else
			out[n++] = *in++;
	}
	out[n] = '\0';
}

/*
 * Whether a cgroup file system is mounted at dir, below it or above it
 * (dir is in one; dir is a real path, as mountinfo's are): a jail's
 * binds are recursive, and in one a setuid-root helper (setuid = on) could
 * write the tasks files, whose v1 check is the writer's euid, and move
 * itself out of its session's limits. 0 when mountinfo cannot be read:
 * without /proc no jail can be built either.
 */
static int
cgroupfs_reached(const char *dir)
{
	char line[4096], mnt[PATH_MAX], raw[PATH_MAX], fstype[64];
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	int found = 0;

	if (fp == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), fp) != NULL) {
		char *sep = strstr(line, " - ");

		/* id parent maj:min root mountpoint options ... - type */
		if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %4095s",
		    raw) != 1 || sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		mountinfo_path(raw, mnt, sizeof(mnt));
		found = (strcmp(fstype, "cgroup") == 0 ||
		    strcmp(fstype, "cgroup2") == 0) && (path_under(mnt, dir) ||
		    path_under(dir, mnt));
	}
	fclose(fp);
	return found;
}

/*
 * The root and the bind sources must exist, and binds are bound where they
 * really are: the jail's view of its files is made of them (jailview.c).
 * *line is set to the line of the key at fault (0: the [service] line).
 */
static int
check_binds(struct service *s, int *line, char *err, size_t errlen)
{
	struct stat st;

	*line = s->root_line;
	if (s->root != NULL && check_dir("root", s->root, err, errlen) == -1)
		return -1;
	if (s->root != NULL) {
		char *real = realpath(s->root, NULL);
		int bad = real != NULL && cgroupfs_reached(real);

		free(real);
		if (bad)
			return seterr(err, errlen, "root: %s: a cgroup file "
			    "system is mounted there (a jail must not reach "
			    "the cgroups)", s->root);
	}
	for (int i = 0; i < s->nbind_ro + s->nbind_rw; i++) {
		char **b = i < s->nbind_ro ? &s->bind_ro[i] :
		    &s->bind_rw[i - s->nbind_ro];
		const char *key = i < s->nbind_ro ? "bind-ro" : "bind-rw";
		char *real;

		*line = i < s->nbind_ro ? s->bind_ro_lines[i] :
		    s->bind_rw_lines[i - s->nbind_ro];
		if (stat(*b, &st) == -1)
			return seterr(err, errlen, "%s: %s: %s", key, *b,
			    strerror(errno));
		/* Bound where it really is: a symlink would dangle. */
		real = realpath(*b, NULL);
		if (real == NULL)
			return seterr(err, errlen, "%s: %s: %s", key, *b,
			    strerror(errno));
		free(*b);
		*b = real;
		if (strcmp(real, "/") == 0 || strcmp(real, "/tmp") == 0 ||
		    path_under(real, "/proc") || path_under(real, "/dev") ||
		    path_under(real, "/sys"))
			return seterr(err, errlen, "%s: %s: not allowed (the "
			    "host's root, /tmp, /proc, /dev and /sys stay "
			    "outside the jail)", key, real);
		if (cgroupfs_reached(real))
			return seterr(err, errlen, "%s: %s: a cgroup file "
			    "system is mounted there (a jail must not reach "
			    "the cgroups)", key, real);
	}
	*line = 0;
	return 0;
}

/*
 * What the jail needs of the program's place and of an own root, and the
 * service's filter. *line as for check_binds.
 */
static int
check_sandbox(struct service *s, int *line, char *err, size_t errlen)
{
	struct stat st;
	char p[PATH_MAX];

	if (s->root == NULL) {
		const char *taken[] = { "/", "/tmp", "/dev", "/proc", NULL };
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", s->argv[0]);
		slash = strrchr(dir, '/');
		*(slash == dir ? slash + 1 : slash) = '\0';
		for (const char **t = taken; *t != NULL; t++) {
			if (strcmp(dir, *t) != 0 && strcmp(s->workdir, *t) != 0)
				continue;
			*line = strcmp(dir, *t) == 0 ? s->argv_line :
			    s->workdir_line;
			return seterr(err, errlen, "sandbox: the challenge's "
			    "directory %s would hide the jail's own %s: give "
			    "the challenge a directory of its own", *t, *t);
		}
	}
	if (s->root != NULL) {
		/* The root is bound read-only: mount points must be there.
		 * (The program was found in the jail: jailview_program.) */
		for (int i = 0; i < s->nbind_ro + s->nbind_rw; i++) {
			const char *b = i < s->nbind_ro ? s->bind_ro[i] :
			    s->bind_rw[i - s->nbind_ro];

			snprintf(p, sizeof(p), "%s%s", s->root, b);
			*line = i < s->nbind_ro ? s->bind_ro_lines[i] :
			    s->bind_rw_lines[i - s->nbind_ro];
			if (stat(p, &st) == -1)
				return seterr(err, errlen, "%s: %s: no mount "
				    "point %s in root %s", i < s->nbind_ro ?
				    "bind-ro" : "bind-rw", b, p, s->root);
		}
		*line = s->root_line;
		for (int i = 0; i < 3; i++) {
			const char *mp[] = { "proc", "dev", "tmp" };

			snprintf(p, sizeof(p), "%s/%s", s->root, mp[i]);
			if (check_dir("root", p, err, errlen) == -1)
				return -1;
		}
	}
	if (s->seccomp) {
		*line = s->seccomp_line;
		seccomp_filter_free(&s->filter);
		seccomp_filter_free(&s->filter_outer);
		seccomp_filter_free(&s->filter_inner);
		if (seccomp_build(s->sc_allow, s->sc_deny, SC_WHOLE,
		    &s->filter, err, errlen) == -1 ||
		    seccomp_build(s->sc_allow, s->sc_deny, SC_OUTER,
		    &s->filter_outer, err, errlen) == -1 ||
		    seccomp_build(s->sc_allow, s->sc_deny, SC_INNER,
		    &s->filter_inner, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/*
 * setuid = on lets the player become euid 0, without capabilities. It is
 * refused where that uid 0 would reach what the jail shares with the
 * host's root (docs/threat-model.md, "setuid = on").
 */
static int
check_setuid(const struct service *s, int *line, char *err, size_t errlen)
{
	const char *shared[] = { "keyctl", "add_key", "request_key",
	    "inotify_init", "inotify_init1", "fanotify_init", NULL };

	*line = s->setuid_line;
	if (!s->sandbox)
		return seterr(err, errlen, "setuid = on needs sandbox = on: "
		    "unjailed, the program runs as chald's own user");
	if (s->root == NULL)
		return seterr(err, errlen, "setuid = on needs root = DIR, the "
		    "challenge's own tree: without one the jail binds the "
		    "host's /usr and /etc/ssl, whose root-only files uid 0 "
		    "could read");
	if (s->net_host)
		return seterr(err, errlen, "setuid = on needs network = none: "
		    "in the host's network namespace uid 0 would reach the "
		    "host's abstract UNIX sockets, whose servers may trust "
		    "uid 0");
	if (s->nbind_rw > 0) {
		*line = s->bind_rw_lines[0];
		return seterr(err, errlen, "bind-rw %s: not with setuid = on: "
		    "uid 0 could rewrite root's files there and leave "
		    "set-user-ID root programs on the host", s->bind_rw[0]);
	}
	if (!s->seccomp) {
		*line = s->seccomp_line ? s->seccomp_line : s->setuid_line;
		return seterr(err, errlen, "setuid = on needs seccomp = on: "
		    "the filter keeps uid 0 from the keyrings and inotify, "
		    "which it shares with the host's root");
	}
	for (int i = 0; i < s->nsc_allow; i++)
		for (const char **c = shared; *c != NULL; c++)
			if (strcmp(s->sc_allow[i], *c) == 0) {
				*line = s->seccomp_line;
				return seterr(err, errlen, "seccomp-allow = %s: "
				    "not with setuid = on: uid 0 shares %s "
				    "with the host's root", *c, (*c)[0] == 'k' ||
				    (*c)[0] == 'a' || (*c)[0] == 'r' ?
				    "the keyrings" : "the inotify and fanotify "
				    "limits");
			}
	return 0;
}

static int
is_wildcard(const char *addr)
{
	return strcmp(addr, "::") == 0 || strcmp(addr, "0.0.0.0") == 0;
}

static int
where(const struct service *s, int line, char *buf, size_t len)
{
	if (line > 0)
		return snprintf(buf, len, "%s:%d: ", s->file, line);
	return snprintf(buf, len, "%s: ", s->file);
}

/*
 * Fills in derived values and checks what a single key cannot: the program,
 * the working directory, ports shared between services.
 */
int
config_finish(struct config *c, char *err, size_t errlen)
{
	char pre[CHALD_ERRLEN], msg[CHALD_ERRLEN];
	int line;

	for (struct service *s = c->services; s != NULL; s = s->next) {
		line = 0;
		if (s->argv == NULL) {
			where(s, s->line, pre, sizeof(pre));
			return seterr(err, errlen, "%sservice %s: no command "
			    "(command = /path/to/challenge [args])", pre,
			    s->name);
		}
		/* The binds first: the jail's view is made of them. */
		if (s->sandbox && check_binds(s, &line, msg, sizeof(msg)) ==
		    -1) {
			where(s, line ? line : s->line, pre, sizeof(pre));
			return seterr(err, errlen, "%s%s", pre, msg);
		}
		if (resolve_program(s, msg, sizeof(msg)) == -1) {
			where(s, s->argv_line, pre, sizeof(pre));
			return seterr(err, errlen, "%s%s", pre, msg);
		}
		if (resolve_workdir(s, msg, sizeof(msg)) == -1) {
			where(s, s->workdir_line ? s->workdir_line : s->line,
			    pre, sizeof(pre));
			return seterr(err, errlen, "%s%s", pre, msg);
		}
		if (resolve_health(s, msg, sizeof(msg)) == -1) {
			where(s, s->hc_line ? s->hc_line : s->line, pre,
			    sizeof(pre));
			return seterr(err, errlen, "%s%s", pre, msg);
		}
		if (s->rate > 0 && s->burst == 0)
			s->burst = s->rate < 1 ? 1 : (int)ceil(s->rate);
		if (s->sandbox && check_sandbox(s, &line, msg, sizeof(msg)) ==
		    -1) {
			where(s, line ? line : s->line, pre, sizeof(pre));
			return seterr(err, errlen, "%s%s", pre, msg);
		}
		if (s->allow_setuid && check_setuid(s, &line, msg,
		    sizeof(msg)) == -1) {
			where(s, line ? line : s->line, pre, sizeof(pre));
			return seterr(err, errlen, "%s%s", pre, msg);
		}
		jailview_check(c, s);
		jailview_setuid_check(c, s);
		if (s->port == 0)
			continue;
		for (struct service *t = c->services; t != s; t = t->next) {
			if (t->port != s->port)
				continue;
			if (strcmp(t->addr, s->addr) != 0 &&
			    !is_wildcard(t->addr) && !is_wildcard(s->addr))
				continue;
			where(s, s->port_line ? s->port_line : s->line, pre,
			    sizeof(pre));
			return seterr(err, errlen, "%sport: %d already used by "
			    "service %s (line %d)", pre, s->port, t->name,
			    t->port_line ? t->port_line : t->line);
		}
	}
	return 0;
}

/* Printing back, with every default filled in. */

/* Needs quotes to read back as one word, and the same word. */
static int
word_needs_quotes(const char *w)
{
	if (*w == '\0')
		return 1;
	for (; *w != '\0'; w++)
		if (isspace((unsigned char)*w) || iscntrl((unsigned char)*w) ||
		    strchr("'\"\\;#", *w) != NULL)
			return 1;
	return 0;
}

/*
 * A word of the command as split_command() reads it back: in single
 * quotes when it holds blanks (\v, \f and \r too, which the file's reader
 * would strip at the end of the line), controls or quoting characters.
 */
static void
print_word(FILE *fp, const char *w)
{
	if (!word_needs_quotes(w)) {
		fputs(w, fp);
		return;
	}
	fputc('\'', fp);
	for (; *w != '\0'; w++) {
		if (*w == '\'')
			fputs("'\\''", fp);
		else
			fputc(*w, fp);
	}
	fputc('\'', fp);
}

static void
print_duration(FILE *fp, const char *key, int64_t ms)
{
	if (ms % 1000 == 0)
		fprintf(fp, "%s = %llds\n", key, (long long)(ms / 1000));
	else
		fprintf(fp, "%s = %lldms\n", key, (long long)ms);
}

/*
 * The fewest decimals (0 to 25) of v*mult, followed by suffix, that read
 * back through parse (parse_rate or parse_cpu) as exactly v: then -n prints
 * a configuration that parses to the same one. 25 decimals always do for
 * the values these keys take (at least 1e-5), so the fallback is never cut.
 */
static void
fmt_exact(char *buf, size_t len, double v, double mult, const char *suffix,
    int (*parse)(const char *, double *))
{
	double back;

	for (int dec = 0; dec <= 25; dec++) {
		snprintf(buf, len, "%.*f%s", dec, v * mult, suffix);
		if (parse(buf, &back) >= 0 && back == v)
			return;
	}
	snprintf(buf, len, "%.25f%s", v * mult, suffix);
}

/* The unit that shows the rate most simply: "10/s" rather than "600/m". */
static void
print_rate(FILE *fp, double r)
{
	static const char *unit[] = { "/s", "/m", "/h", "/d" };
	static const double mult[] = { 1, 60, 3600, 86400 };
	char buf[64], best[64];

	fmt_exact(best, sizeof(best), r, 1, unit[0], parse_rate);
	for (int i = 1; i < 4 && strchr(best, '.') != NULL; i++) {
		fmt_exact(buf, sizeof(buf), r, mult[i], unit[i], parse_rate);
		if (strlen(buf) < strlen(best))
			memcpy(best, buf, sizeof(best));
	}
	fprintf(fp, "rate = %s\n", best);
}

static const char *
stderr_name(enum stderr_mode m)
{
	switch (m) {
	case STDERR_SOCKET: return "socket";
	case STDERR_NULL: return "null";
	case STDERR_LOG: return "log";
	}
	return "?";
}

static void
print_size(FILE *fp, const char *key, uint64_t v)
{
	const char *u = "KMGT";
	int i = -1;

	while (v != 0 && v % 1024 == 0 && i < 3) {
		v /= 1024;
		i++;
	}
	if (i < 0)
		fprintf(fp, "%s = %llu\n", key, (unsigned long long)v);
	else
		fprintf(fp, "%s = %llu%c\n", key, (unsigned long long)v, u[i]);
}

static void
print_list(FILE *fp, const char *key, char **v, int n, const char *sep)
{
	if (n == 0)
		return;
	if (*sep == '\n') {
		for (int i = 0; i < n; i++)
			fprintf(fp, "%s = %s\n", key, v[i]);
		return;
	}
	fprintf(fp, "%s =", key);
	for (int i = 0; i < n; i++)
		fprintf(fp, " %s", v[i]);
	fputc('\n', fp);
}

static void
print_cidrs(FILE *fp, const char *key, const struct cidr *v, int n)
{
	char buf[64];

	if (n == 0)
		return;
	fprintf(fp, "%s =", key);
	for (int i = 0; i < n; i++) {
		cidr_format(&v[i], buf, sizeof(buf));
		fprintf(fp, "%s %s", i ? "," : "", buf);
	}
	fputc('\n', fp);
}

static void
print_escaped(FILE *fp, const char *key, const char *v)
{
	fprintf(fp, "%s = ", key);
	for (; *v != '\0'; v++)
		if (*v == '\n')
			fputs("\\n", fp);
		else if (*v == '\t')
			fputs("\\t", fp);
		else if (*v == '\\')
			fputs("\\\\", fp);
		else
			fputc(*v, fp);
	fputc('\n', fp);
}

static void
print_gate(FILE *fp, const struct gatecfg *g)
{
	print_cidrs(fp, "proxy-from", g->proxy_from, g->nproxy_from);
	print_duration(fp, "proxy-timeout", g->proxy_timeout_ms);
	fprintf(fp, "pow = %u\n", (unsigned)g->pow);
	print_duration(fp, "pow-timeout", g->pow_timeout_ms);
	print_cidrs(fp, "pow-exempt", g->pow_exempt, g->npow_exempt);
	if (g->pow_prompt != NULL)
		print_escaped(fp, "pow-prompt", g->pow_prompt);
	fprintf(fp, "pending-per-ip = %d\n", g->pending_per_ip);
}

static void
print_health(FILE *fp, const struct service *s)
{
	if (s->hc_argv == NULL) {
		fprintf(fp, "# healthcheck: none\n");
		return;
	}
	fprintf(fp, "healthcheck = ");
	for (int i = 0; i < s->hc_argc; i++) {
		if (i > 0)
			fputc(' ', fp);
		print_word(fp, s->hc_argv[i]);
	}
	fputc('\n', fp);
	print_duration(fp, "healthcheck-interval", s->hc_interval_ms);
	print_duration(fp, "healthcheck-timeout", s->hc_timeout_ms);
	fprintf(fp, "healthcheck-user = %s\n", s->hc_user);
}

static void
print_sandbox(FILE *fp, const struct service *s)
{
	char num[64], pct[64];

	fprintf(fp, "sandbox = %s\n", s->sandbox ? "on" : "off");
	if (!s->sandbox)
		return;
	fprintf(fp, "uid-range = %u-%u\n", (unsigned)s->uid_min,
	    (unsigned)s->uid_max);
	print_size(fp, "memory", s->memory);
	fprintf(fp, "pids = %d\n", s->pids);
	fmt_exact(num, sizeof(num), s->cpu, 1, "", parse_cpu);
	/* "33.3%" is 0.333 only nearly, and then the shorter. */
	fmt_exact(pct, sizeof(pct), s->cpu, 100, "%", parse_cpu);
	fprintf(fp, "cpu = %s\n", strlen(pct) < strlen(num) ? pct : num);
	print_duration(fp, "cpu-time", s->cpu_time_ms);
	print_size(fp, "file-size", s->file_size);
	fprintf(fp, "open-files = %d\n", s->open_files);
	print_size(fp, "tmp-size", s->tmp_size);
	print_size(fp, "address-space", s->address_space);
	fprintf(fp, "hostname = %s\n", s->hostname);
	if (s->root != NULL)
		fprintf(fp, "root = %s\n", s->root);
	print_list(fp, "bind-ro", s->bind_ro, s->nbind_ro, "\n");
	print_list(fp, "bind-rw", s->bind_rw, s->nbind_rw, "\n");
	fprintf(fp, "network = %s\n", s->net_host ? "host" : "none");
	fprintf(fp, "setuid = %s\n", s->allow_setuid ? "on" : "off");
	fprintf(fp, "seccomp = %s\n", s->seccomp ? "on" : "off");
	fprintf(fp, "pool = %d\n", s->pool);
	print_list(fp, "seccomp-allow", s->sc_allow, s->nsc_allow, " ");
	print_list(fp, "seccomp-deny", s->sc_deny, s->nsc_deny, " ");
}

void
config_print(const struct config *c, FILE *fp)
{
	fprintf(fp, "[global]\n");
	if (c->pidfile != NULL)
		fprintf(fp, "pidfile = %s\n", c->pidfile);
	else
		fprintf(fp, "# pidfile: none\n");
	if (c->log != NULL)
		fprintf(fp, "log = %s\n", c->log);
	else
		fprintf(fp, "# log: stderr with -f, syslog when detached\n");
	fprintf(fp, "log-format = %s\n",
	    c->log_format == LOGFMT_JSON ? "json" : "text");
	print_duration(fp, "drain", c->drain_ms);
	print_duration(fp, "grace", c->grace_ms);
	fprintf(fp, "pending-max = %d\n", c->pending_max);
	if (c->admin_addr != NULL)
		fprintf(fp, strchr(c->admin_addr, ':') ? "admin = [%s]:%d\n" :
		    "admin = %s:%d\n", c->admin_addr, c->admin_port);
	else
		fprintf(fp, "admin = off\n");
	fprintf(fp, "admin-max-conns = %d\n", c->admin_max_conns);
	for (const struct service *s = c->services; s != NULL; s = s->next) {
		fprintf(fp, "\n[service %s]\n", s->name);
		fprintf(fp, "listen = %s\n", s->addr);
		fprintf(fp, "port = %d\n", s->port);
		fprintf(fp, "backlog = %d\n", s->backlog);
		fprintf(fp, "command = ");
		for (int i = 0; i < s->argc; i++) {
			if (i > 0)
				fputc(' ', fp);
			print_word(fp, s->argv[i]);
		}
		fputc('\n', fp);
		fprintf(fp, "workdir = %s\n", s->workdir);
		for (int i = 0; i < s->nenv; i++)
			fprintf(fp, "env = %s\n", s->env[i]);
		fprintf(fp, "stderr = %s\n", stderr_name(s->stderr_mode));
		fprintf(fp, "stdio = %s\n", s->stdio_mode == STDIO_PTY ? "pty" :
		    "socket");
		fprintf(fp, "kill-on-disconnect = %s\n", s->kill_disc ? "on" :
		    "off");
		print_duration(fp, "timeout", s->timeout_ms);
		fprintf(fp, "max-conns = %d\n", s->max_conns);
		fprintf(fp, "per-ip = %d\n", s->per_ip);
		fprintf(fp, "ipv4-prefix = %d\n", s->v4_prefix);
		fprintf(fp, "ipv6-prefix = %d\n", s->v6_prefix);
		print_rate(fp, s->rate);
		fprintf(fp, "burst = %d\n", s->burst);
		if (s->reject_msg != NULL)
			fprintf(fp, "reject-message = %s\n", s->reject_msg);
		for (int r = 0; r < REJ_NREASONS; r++)
			fprintf(fp, "%s%s = %s\n", REJECT_KEY, reject_name(r),
			    reject_text(s, r));
		print_gate(fp, &s->gate);
		print_health(fp, s);
		print_sandbox(fp, s);
	}
}
