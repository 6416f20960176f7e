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
	char		*basedir;
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
	"address-space", "root", "bind-ro", "bind-rw", "network", "seccomp",
	"pool",
	"seccomp-allow", "seccomp-deny",
	"healthcheck", "healthcheck-interval", "healthcheck-timeout",
	"healthcheck-user", NULL
};

static const char *global_keys[] = {
	"pidfile", "log", "log-format", "grace", "admin", "admin-max-conns",
	NULL
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

int
config_is_service_key(const char *key)
{
	return in_list(service_keys, key);
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

/* "90s", "2m", "1h", "500ms", "1.5s"; a bare number is seconds. */
int
parse_duration(const char *s, int64_t *ms)
{
	char *end;
	double v, mult;

	if (!isdigit((unsigned char)*s) || strpbrk(s, "xXeEpP") != NULL ||
	    strncasecmp(s, "inf", 3) == 0)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(v) || v < 0)
		return -1;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mult = 3600 * 1000;
	else if (strcmp(end, "d") == 0)
		mult = 86400 * 1000;
	else
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

/* "10/s", "100/m", "3600/h", "10"; 0 means off. */
int
parse_rate(const char *s, double *per_sec)
{
	char *end;
	double v, div = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || !isfinite(v) || v < 0 || v > 1e6)
		return -1;
	if (*end == '/') {
		end++;
		if (strcmp(end, "s") == 0)
			div = 1;
		else if (strcmp(end, "m") == 0)
			div = 60;
		else if (strcmp(end, "h") == 0)
			div = 3600;
		else
			return -1;
	} else if (*end != '\0')
		return -1;
	*per_sec = v / div;
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
	s->timeout_ms = 60 * 1000;
	s->max_conns = 256;
	s->per_ip = 8;
	s->v4_prefix = 32;
	s->v6_prefix = 64;
	s->rate = 0;
	s->burst = 0;
	s->reject_msg = xstrdup(
	    "chald: too many connections from your address, try again later");
	s->sandbox = 1;
	s->uid_min = 200000;
	s->uid_max = 299999;
	s->memory = 256ULL << 20;
	s->pids = 64;
	s->cpu = 1.0;
	s->cpu_time_ms = 30 * 1000;
	s->file_size = 16ULL << 20;
	s->open_files = 256;
	s->tmp_size = 16ULL << 20;
	s->seccomp = 1;
	s->pool = 2;
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
	free(s->root);
	strv_free(s->bind_ro);
	strv_free(s->bind_rw);
	strv_free(s->sc_allow);
	strv_free(s->sc_deny);
	strv_free(s->hc_argv);
	free(s->hc_user);
	seccomp_filter_free(&s->filter);
	free(s);
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
	free(s->reject_msg);
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
	s->timeout_ms = d->timeout_ms;
	s->max_conns = d->max_conns;
	s->per_ip = d->per_ip;
	s->v4_prefix = d->v4_prefix;
	s->v6_prefix = d->v6_prefix;
	s->rate = d->rate;
	s->burst = d->burst;
	s->reject_msg = xstrdup(d->reject_msg);
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
	s->root = d->root ? xstrdup(d->root) : NULL;
	s->bind_ro = strv_dup(d->bind_ro, d->nbind_ro);
	s->nbind_ro = d->nbind_ro;
	s->bind_rw = strv_dup(d->bind_rw, d->nbind_rw);
	s->nbind_rw = d->nbind_rw;
	s->net_host = d->net_host;
	s->seccomp = d->seccomp;
	s->pool = d->pool;
	s->sc_allow = strv_dup(d->sc_allow, d->nsc_allow);
	s->nsc_allow = d->nsc_allow;
	s->sc_deny = strv_dup(d->sc_deny, d->nsc_deny);
	s->nsc_deny = d->nsc_deny;
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
	char *end;
	double d;

	if (!isdigit((unsigned char)*v))
		return -1;
	d = strtod(v, &end);
	if (*end == '%') {
		d /= 100;
		end++;
	}
	if (*end != '\0' || !isfinite(d) || d < 0 || d > 1024 ||
	    (d > 0 && d < 0.01))
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
	    b > 4000000000UL || b - a >= 10000000UL)
		return -1;
	*lo = (uid_t)a;
	*hi = (uid_t)b;
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
			    "non-root, at most 10000000 uids: \"%s\"", value);
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
		if (strcmp(key, "bind-ro") == 0)
			strv_push(&s->bind_ro, &s->nbind_ro, p);
		else
			strv_push(&s->bind_rw, &s->nbind_rw, p);
	} else if (strcmp(key, "network") == 0) {
		if (strcmp(value, "none") == 0)
			s->net_host = 0;
		else if (strcmp(value, "host") == 0)
			s->net_host = 1;
		else
			return seterr(err, errlen, "expected none or host, got "
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

int
config_set_service(struct service *s, const char *key, const char *value,
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
		if (parse_rate(value, &r) == -1)
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
	} else if (strncmp(key, "healthcheck", 11) == 0)
		return set_health_key(s, key, value, basedir, err, errlen);
	else
		return set_sandbox_key(s, key, value, basedir, err, errlen);
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

int
config_set_global(struct config *c, const char *key, const char *value,
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
	} else if (strcmp(key, "grace") == 0) {
		if (parse_duration(value, &c->grace_ms) == -1)
			return seterr(err, errlen, "not a duration (e.g. 5s): "
			    "\"%s\"", value);
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

/* The file reader. */

/*
 * inih reads with a fixed buffer and would silently split a long line, and
 * Debian's build tells the handler neither line numbers nor where a section
 * starts. Our reader sees every line first: it counts them, turns an
 * overlong one into an error, and opens sections itself, so that empty,
 * duplicate or misspelt sections are reported at their own line.
 */
static int ctx_section(struct parse_ctx *, const char *);

/* A last line without its newline is not an overlong one. */
static int
at_eof(FILE *fp)
{
	int ch = fgetc(fp);

	if (ch == EOF)
		return 1;
	ungetc(ch, fp);
	return 0;
}

static char *
ctx_reader(char *str, int num, void *stream)
{
	struct parse_ctx *ctx = stream;
	char *p, *end;
	size_t len;

	if (fgets(str, num, ctx->fp) == NULL)
		return NULL;
	ctx->lineno++;
	len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n' &&
	    !at_eof(ctx->fp)) {
		int ch;

		if (!ctx->failed) {
			seterr(ctx->err, ctx->errlen, "%s:%d: line longer "
			    "than %d characters", ctx->path, ctx->lineno,
			    num - 2);
			ctx->failed = 1;
		}
		while ((ch = fgetc(ctx->fp)) != EOF && ch != '\n')
			;
		str[0] = '\0';
		return str;
	}
	for (p = str; isspace((unsigned char)*p); p++)
		;
	if (*p == '[' && !ctx->failed && (end = strchr(p, ']')) != NULL) {
		char name[MAX_LINE];

		snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1),
		    p + 1);
		ctx_section(ctx, name);
	}
	return str;
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

static int
ctx_handler(void *user, const char *section, const char *key,
    const char *value)
{
	struct parse_ctx *ctx = user;
	char msg[CHALD_ERRLEN];

	(void)section;
	if (ctx->failed)
		return 1;
	if (ctx->cur == NULL && !ctx->in_global)
		return ctx_fail(ctx, key, "key outside any section (start "
		    "with [global] or [service NAME])");
	if (ctx->cur != NULL) {
		if (config_is_service_key(key)) {
			if (config_set_service(ctx->cur, key, value,
			    ctx->basedir, msg, sizeof(msg)) == -1)
				return ctx_fail(ctx, key, msg);
			if (strcmp(key, "command") == 0)
				ctx->cur->argv_line = ctx->lineno;
			if (strcmp(key, "workdir") == 0)
				ctx->cur->workdir_line = ctx->lineno;
			if (strcmp(key, "port") == 0)
				ctx->cur->port_line = ctx->lineno;
			if (strcmp(key, "healthcheck") == 0)
				ctx->cur->hc_line = ctx->lineno;
			return 1;
		}
		if (in_list(global_keys, key))
			return ctx_fail(ctx, key, "belongs in [global]");
		return ctx_fail(ctx, key, "unknown key");
	}
	if (in_list(global_keys, key)) {
		if (config_set_global(ctx->conf, key, value, msg,
		    sizeof(msg)) == -1)
			return ctx_fail(ctx, key, msg);
		return 1;
	}
	if (config_is_service_key(key)) {
		if (config_set_service(ctx->defaults, key, value,
		    ctx->basedir, msg, sizeof(msg)) == -1)
			return ctx_fail(ctx, key, msg);
		if (strcmp(key, "command") == 0)
			ctx->defaults->argv_line = ctx->lineno;
		if (strcmp(key, "healthcheck") == 0)
			ctx->defaults->hc_line = ctx->lineno;
		return 1;
	}
	return ctx_fail(ctx, key, "unknown key");
}

int
config_parse_file(struct config *c, const char *path, char *err,
    size_t errlen)
{
	struct parse_ctx ctx;
	char *slash, *abs;
	int r;

	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = c;
	ctx.path = path;
	ctx.err = err;
	ctx.errlen = errlen;
	ctx.fp = fopen(path, "re");
	if (ctx.fp == NULL)
		return seterr(err, errlen, "%s: %s", path, strerror(errno));
	abs = realpath(path, NULL);
	if (abs == NULL) {
		fclose(ctx.fp);
		return seterr(err, errlen, "%s: %s", path, strerror(errno));
	}
	slash = strrchr(abs, '/');
	ctx.basedir = strndup(abs, slash == abs ? 1 : (size_t)(slash - abs));
	free(c->file);
	c->file = abs;
	ctx.defaults = service_new("global", path, 0);
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
	if (r > 0 && !ctx.failed) {
		ctx.lineno = r;
		ctx_fail(&ctx, NULL, "syntax error (expected [section], "
		    "key = value, or a comment)");
	} else if (r < 0 && !ctx.failed)
		seterr(err, errlen, "%s: cannot read", path);
	if (r < 0)
		ctx.failed = 1;
	fclose(ctx.fp);
	free(ctx.basedir);
	service_free(ctx.defaults);
	if (!ctx.failed && c->services == NULL)
		return seterr(err, errlen, "%s: no [service NAME] section",
		    path);
	return ctx.failed ? -1 : 0;
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
		char *slash = strrchr(s->argv[0], '/');

		s->workdir = strndup(s->argv[0],
		    slash == s->argv[0] ? 1 : (size_t)(slash - s->argv[0]));
		return 0;
	}
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

static int
path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' ||
	    path[n] == '/');
}

/* Bind sources must exist; an own root must have the mount points. */
static int
check_sandbox(struct service *s, char *err, size_t errlen)
{
	struct stat st;
	char p[PATH_MAX];

	for (int i = 0; i < s->nbind_ro + s->nbind_rw; i++) {
		char **b = i < s->nbind_ro ? &s->bind_ro[i] :
		    &s->bind_rw[i - s->nbind_ro];
		const char *key = i < s->nbind_ro ? "bind-ro" : "bind-rw";
		char *real;

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
	}
	if (s->root == NULL) {
		const char *taken[] = { "/", "/tmp", "/dev", "/proc", NULL };
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", s->argv[0]);
		slash = strrchr(dir, '/');
		*(slash == dir ? slash + 1 : slash) = '\0';
		for (const char **t = taken; *t != NULL; t++)
			if (strcmp(dir, *t) == 0 || strcmp(s->workdir, *t) == 0)
				return seterr(err, errlen, "sandbox: the "
				    "challenge's directory %s would hide the "
				    "jail's own %s: give the challenge a "
				    "directory of its own", *t, *t);
	}
	if (s->root != NULL) {
		if (check_dir("root", s->root, err, errlen) == -1)
			return -1;
		/* Inside the root, the jail's own /tmp, /dev and /proc would
		 * hide anything under them. */
		for (int i = 0; i < 3; i++) {
			const char *mp[] = { "/tmp", "/dev", "/proc" };
			size_t n = strlen(mp[i]);

			if ((strncmp(s->argv[0], mp[i], n) == 0 &&
			    s->argv[0][n] == '/') || (strncmp(s->workdir,
			    mp[i], n) == 0 && (s->workdir[n] == '/' ||
			    s->workdir[n] == '\0')))
				return seterr(err, errlen, "root: the program "
				    "and its workdir cannot be under %s, which "
				    "the jail mounts afresh", mp[i]);
		}
		snprintf(p, sizeof(p), "%s%s", s->root, s->argv[0]);
		if (access(p, X_OK) == -1)
			return seterr(err, errlen, "root: the program must be "
			    "at the same path inside the root: %s: %s", p,
			    strerror(errno));
		/* The root is bound read-only: mount points must be there. */
		for (int i = 0; i < s->nbind_ro + s->nbind_rw; i++) {
			const char *b = i < s->nbind_ro ? s->bind_ro[i] :
			    s->bind_rw[i - s->nbind_ro];

			snprintf(p, sizeof(p), "%s%s", s->root, b);
			if (stat(p, &st) == -1)
				return seterr(err, errlen, "%s: %s: no mount "
				    "point %s in root %s", i < s->nbind_ro ?
				    "bind-ro" : "bind-rw", b, p, s->root);
		}
		for (int i = 0; i < 3; i++) {
			const char *mp[] = { "proc", "dev", "tmp" };

			snprintf(p, sizeof(p), "%s/%s", s->root, mp[i]);
			if (check_dir("root", p, err, errlen) == -1)
				return -1;
		}
	}
	if (s->seccomp) {
		seccomp_filter_free(&s->filter);
		if (seccomp_build(s->sc_allow, s->sc_deny, &s->filter, err,
		    errlen) == -1)
			return -1;
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

	for (struct service *s = c->services; s != NULL; s = s->next) {
		if (s->argv == NULL) {
			where(s, s->line, pre, sizeof(pre));
			return seterr(err, errlen, "%sservice %s: no command "
			    "(command = /path/to/challenge [args])", pre,
			    s->name);
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
		if (s->sandbox && check_sandbox(s, msg, sizeof(msg)) == -1) {
			where(s, s->line, pre, sizeof(pre));
			return seterr(err, errlen, "%s%s", pre, msg);
		}
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

static void
print_word(FILE *fp, const char *w)
{
	if (*w != '\0' && strpbrk(w, " \t'\"\\;#") == NULL) {
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

/* The unit that shows the rate exactly, as it was most likely written. */
static void
print_rate(FILE *fp, double r)
{
	if (r == 0 || r == floor(r) || r * 3600 != floor(r * 3600))
		fprintf(fp, "rate = %.10g/s\n", r);
	else if (r * 60 == floor(r * 60))
		fprintf(fp, "rate = %.10g/m\n", r * 60);
	else
		fprintf(fp, "rate = %.10g/h\n", r * 3600);
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
	fprintf(fp, "sandbox = %s\n", s->sandbox ? "on" : "off");
	if (!s->sandbox)
		return;
	fprintf(fp, "uid-range = %u-%u\n", (unsigned)s->uid_min,
	    (unsigned)s->uid_max);
	print_size(fp, "memory", s->memory);
	fprintf(fp, "pids = %d\n", s->pids);
	fprintf(fp, "cpu = %g\n", s->cpu);
	print_duration(fp, "cpu-time", s->cpu_time_ms);
	print_size(fp, "file-size", s->file_size);
	fprintf(fp, "open-files = %d\n", s->open_files);
	print_size(fp, "tmp-size", s->tmp_size);
	print_size(fp, "address-space", s->address_space);
	if (s->root != NULL)
		fprintf(fp, "root = %s\n", s->root);
	print_list(fp, "bind-ro", s->bind_ro, s->nbind_ro, "\n");
	print_list(fp, "bind-rw", s->bind_rw, s->nbind_rw, "\n");
	fprintf(fp, "network = %s\n", s->net_host ? "host" : "none");
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
	print_duration(fp, "grace", c->grace_ms);
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
		print_duration(fp, "timeout", s->timeout_ms);
		fprintf(fp, "max-conns = %d\n", s->max_conns);
		fprintf(fp, "per-ip = %d\n", s->per_ip);
		fprintf(fp, "ipv4-prefix = %d\n", s->v4_prefix);
		fprintf(fp, "ipv6-prefix = %d\n", s->v6_prefix);
		print_rate(fp, s->rate);
		fprintf(fp, "burst = %d\n", s->burst);
		fprintf(fp, "reject-message = %s\n", s->reject_msg);
		print_health(fp, s);
		print_sandbox(fp, s);
	}
}
