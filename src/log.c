/*
 * log.c: one line per event, "event key=value ...", to stderr, a file or
 * syslog, as text or JSON. Callers write the key=value form once; JSON is
 * derived from it so the two formats always carry the same keys. Each line
 * goes out in a single write() so lines from a busy daemon never interleave.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "chald.h"

#define LINE_MAX_LEN	4096

static int		 log_target_fd = STDERR_FILENO;
static int		 log_use_syslog;
static int		 log_verbose;
static enum log_format	 log_fmt = LOGFMT_TEXT;

int
log_init(const char *target, enum log_format fmt, int verbose)
{
	int fd;

	log_fmt = fmt;
	log_verbose = verbose;
	if (log_target_fd > STDERR_FILENO)
		close(log_target_fd);
	log_target_fd = STDERR_FILENO;
	if (target == NULL || strcmp(target, "stderr") == 0) {
		log_target_fd = STDERR_FILENO;
		log_use_syslog = 0;
		return 0;
	}
	if (strcmp(target, "syslog") == 0) {
		openlog("chald", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_use_syslog = 1;
		log_target_fd = -1;
		return 0;
	}
	fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOCTTY, 0640);
	if (fd == -1)
		return -1;
	log_target_fd = fd;
	log_use_syslog = 0;
	return 0;
}

/*
 * syslog(3) hands lines to whatever listens on /dev/log, and drops them
 * without a word when nothing does (containers, minimal VMs): so look
 * first, the way it connects (datagram, then stream).
 */
int
log_syslog_reachable(char *why, size_t whylen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const int types[] = { SOCK_DGRAM, SOCK_STREAM };
	int e = 0;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", _PATH_LOG);
	for (int i = 0; i < 2; i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);

		if (fd == -1) {
			e = errno;
			continue;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return 1;
		}
		e = errno;
		close(fd);
		if (e != EPROTOTYPE)
			break;
	}
	snprintf(why, whylen, "nothing listens on %s: %s", _PATH_LOG,
	    strerror(e));
	return 0;
}

/*
 * The configured target: stderr in the foreground, syslog detached, or
 * LOG_FALLBACK when syslog would drop every line. An explicit "syslog"
 * that nothing would receive is an error. On error, -1 with err set.
 */
int
log_configure(const struct config *c, int foreground, char *err,
    size_t errlen)
{
	static int fell_back;
	const char *target = c->log;
	char why[128];

	if (target == NULL)
		target = foreground ? "stderr" : "syslog";
	if (strcmp(target, "syslog") == 0 &&
	    !log_syslog_reachable(why, sizeof(why))) {
		if (c->log != NULL) {
			snprintf(err, errlen, "log syslog: %s; run a syslog "
			    "daemon, or set log = FILE", why);
			return -1;
		}
		if (log_init(LOG_FALLBACK, c->log_format, c->verbose) == -1) {
			snprintf(err, errlen, "log: no syslog (%s), and the "
			    "fallback %s: %s; set log = FILE", why,
			    LOG_FALLBACK, strerror(errno));
			return -1;
		}
		if (!fell_back)
			log_event("log-fallback file=%s reason=%s",
			    LOG_FALLBACK, log_quote(why));
		fell_back = 1;
		return 0;
	}
	fell_back = 0;
	if (log_init(target, c->log_format, c->verbose) == -1) {
		snprintf(err, errlen, "log %s: %s", target, strerror(errno));
		return -1;
	}
	return 0;
}

void
log_close(void)
{
	if (log_use_syslog)
		closelog();
	else if (log_target_fd > STDERR_FILENO)
		close(log_target_fd);
	log_target_fd = STDERR_FILENO;
	log_use_syslog = 0;
}

/* The fd a service with "stderr = log" gets, or -1 for /dev/null. */
int
log_fd(void)
{
	return log_use_syslog ? -1 : log_target_fd;
}

/*
 * Quotes a value for key=value output when it holds blanks, quotes or '='.
 * Returns one of a few rotating static buffers: enough for one log call.
 */
const char *
log_quote(const char *s)
{
	static char bufs[4][1024];
	static int next;
	char *b = bufs[next++ & 3], *w = b, *end = b + sizeof(bufs[0]) - 3;

	if (s == NULL)
		s = "";
	if (*s != '\0' && strpbrk(s, " \t\"=\\\n\r") == NULL)
		return s;
	*w++ = '"';
	for (; *s != '\0' && w < end - 1; s++) {
		if (*s == '"' || *s == '\\') {
			*w++ = '\\';
			*w++ = *s;
		} else if (*s == '\n' || *s == '\r' || *s == '\t')
			*w++ = ' ';
		else if ((unsigned char)*s < 0x20)
			*w++ = '?';
		else
			*w++ = *s;
	}
	*w++ = '"';
	*w = '\0';
	return b;
}

static size_t
json_put(char *out, size_t pos, size_t len, const char *s, size_t n,
    int quote)
{
	if (quote && pos < len)
		out[pos++] = '"';
	for (size_t i = 0; i < n && pos + 7 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			out[pos++] = '\\';
			out[pos++] = (char)c;
		} else if (c < 0x20)
			pos += (size_t)snprintf(out + pos, len - pos,
			    "\\u%04x", c);
		else
			out[pos++] = (char)c;
	}
	if (quote && pos < len)
		out[pos++] = '"';
	return pos;
}

/* A JSON number: optional '-', digits, at most one '.' between digits. */
static int
is_number(const char *s, size_t n)
{
	size_t i = 0, digits = 0, dots = 0;

	if (n > 0 && s[0] == '-')
		i++;
	if (i < n && s[i] == '0' && i + 1 < n && s[i + 1] != '.')
		return 0;
	for (; i < n; i++) {
		if (isdigit((unsigned char)s[i]))
			digits++;
		else if (s[i] == '.' && digits > 0 && i + 1 < n && dots++ == 0)
			continue;
		else
			return 0;
	}
	return digits > 0;
}

/*
 * "accept service=a ip=1.2.3.4 msg=\"x y\"" becomes
 * {"event":"accept","service":"a","ip":"1.2.3.4","msg":"x y"}.
 */
int
log_kv_to_json(const char *line, char *out, size_t len)
{
	const char *p = line;
	size_t pos = 0, n;
	char val[LINE_MAX_LEN];

	if (len < 32)
		return -1;
	pos += (size_t)snprintf(out, len, "{\"event\":");
	n = strcspn(p, " ");
	pos = json_put(out, pos, len, p, n, 1);
	p += n;
	while (*p == ' ')
		p++;
	while (*p != '\0' && pos + 8 < len) {
		const char *key = p;
		size_t klen = strcspn(p, "= ");
		size_t vlen = 0;
		int quoted = 0;

		p += klen;
		if (*p == '=') {
			p++;
			if (*p == '"') {
				quoted = 1;
				p++;
				while (*p != '\0' && *p != '"' &&
				    vlen < sizeof(val) - 1) {
					if (*p == '\\' && p[1] != '\0')
						p++;
					val[vlen++] = *p++;
				}
				if (*p == '"')
					p++;
			} else {
				while (*p != '\0' && *p != ' ' &&
				    vlen < sizeof(val) - 1)
					val[vlen++] = *p++;
			}
		}
		out[pos++] = ',';
		pos = json_put(out, pos, len, key, klen, 1);
		out[pos++] = ':';
		pos = json_put(out, pos, len, val, vlen,
		    quoted || !is_number(val, vlen));
		while (*p == ' ')
			p++;
	}
	if (pos + 2 > len)
		pos = len - 2;
	out[pos++] = '}';
	out[pos] = '\0';
	return 0;
}

/* Returns the bytes the event took in the log. */
static int
log_emit(int prio, const char *line)
{
	char buf[LINE_MAX_LEN * 2];
	char ts[40];
	struct timespec tv;
	struct tm tm;
	int n;

	if (log_use_syslog) {
		if (log_fmt == LOGFMT_JSON &&
		    log_kv_to_json(line, buf, sizeof(buf)) == 0)
			line = buf;
		syslog(prio, "%s", line);
		return (int)strlen(line) + 1;
	}
	clock_gettime(CLOCK_REALTIME, &tv);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (log_fmt == LOGFMT_JSON) {
		char js[LINE_MAX_LEN * 2];

		log_kv_to_json(line, js, sizeof(js));
		n = snprintf(buf, sizeof(buf), "{\"ts\":\"%s.%03ldZ\",%s\n",
		    ts, tv.tv_nsec / 1000000, js + 1);
	} else
		n = snprintf(buf, sizeof(buf), "%s.%03ldZ %s\n", ts,
		    tv.tv_nsec / 1000000, line);
	if (n < 0)
		return 0;
	if ((size_t)n >= sizeof(buf)) {
		n = sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}
	if (write(log_target_fd, buf, (size_t)n) < 0) {
		/* A full disk or a closed terminal must not stop the daemon. */
	}
	return n;
}

static int
log_vemit(int prio, const char *fmt, va_list ap)
{
	char line[LINE_MAX_LEN];

	vsnprintf(line, sizeof(line), fmt, ap);
	return log_emit(prio, line);
}

int
log_event(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = log_vemit(LOG_INFO, fmt, ap);
	va_end(ap);
	return n;
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vemit(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

static void
log_vmsg(int prio, const char *event, int with_errno, const char *fmt,
    va_list ap)
{
	char msg[LINE_MAX_LEN / 2], line[LINE_MAX_LEN];
	int saved = errno;
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	if (with_errno && n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	snprintf(line, sizeof(line), "%s msg=%s", event, log_quote(msg));
	log_emit(prio, line);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_WARNING, "warning", 1, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_WARNING, "warning", 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, "fatal", 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, "fatal", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
