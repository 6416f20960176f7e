/*
 * log.c: one line per event, "event key=value ...", to stderr, a file or
 * syslog, as text or JSON. Callers write the key=value form once; JSON is
 * derived from it so the two formats always carry the same keys. Each line
 * goes out in a single write() so lines from a busy daemon never interleave.
 * Values come from players and challenges too: every line is cleaned on its
 * way out, so that a log holds valid UTF-8 without control characters, and
 * every JSON line parses, whatever a value held or wherever it was cut.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
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
 * What a line may carry. Any value can come from a player or a challenge
 * (a stderr line, above all), and a log is read on terminals, by pagers and
 * by JSON tools: no byte of a value may move a cursor, ring, erase, or turn
 * a line into two or into one that does not parse. So every line holds
 * valid UTF-8 only, and no control character: not C0 or DEL, not C1
 * (U+0080-U+009F, which some terminals take for ESC [), and none of the
 * line separators and bidi controls that make a viewer show other text
 * than the bytes say. Whatever is not allowed is escaped.
 */
static int
cp_unsafe(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
	    cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * The length of the valid UTF-8 sequence at s (1 to 4) and its code point;
 * 0 for a byte that does not start one: a stray continuation byte, an
 * overlong form, a surrogate, beyond U+10FFFF, or cut short.
 */
static size_t
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, c = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3, c = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
hex_run(const char *s, size_t n, size_t digits)
{
	if (n < digits)
		return 0;
	for (size_t i = 0; i < digits; i++)
		if (hexval((unsigned char)s[i]) < 0)
			return 0;
	return 1;
}

/*
 * The escapes of a quoted value, text format: \" \\ \n \r \t, \xHH for a
 * control byte or a byte that is not UTF-8, \uHHHH for an unsafe character.
 * Returns the length of the escape at s (s[0] is the backslash), 0 if it
 * is none: then the backslash stands for itself.
 */
static size_t
escape_len(const char *s, size_t n)
{
	if (n < 2)
		return 0;
	switch (s[1]) {
	case '"': case '\\': case 'n': case 'r': case 't':
		return 2;
	case 'x':
		return hex_run(s + 2, n - 2, 2) ? 4 : 0;
	case 'u':
		return hex_run(s + 2, n - 2, 4) ? 6 : 0;
	}
	return 0;
}

/* "\\xHH" (kind 'x') or "\\uHHHH" (kind 'u'), without printf's cost. */
static size_t
put_escape(char *out, char kind, uint32_t v)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = kind == 'x' ? 2 : 4;

	out[0] = '\\';
	out[1] = kind;
	for (size_t i = 0; i < n; i++)
		out[2 + i] = hex[v >> (4 * (n - 1 - i)) & 0xf];
	return n + 2;
}

/*
 * One character of a value as it goes into a text line: itself when it is
 * safe, an escape otherwise. *used says how many input bytes it took.
 * Quotes and backslashes are the caller's business.
 */
static size_t
text_char(const unsigned char *s, size_t n, char *out, size_t *used)
{
	uint32_t cp;
	size_t len = utf8_decode(s, n, &cp);

	*used = len ? len : 1;
	if (len == 0)
		return put_escape(out, 'x', s[0]);
	if (!cp_unsafe(cp)) {
		memcpy(out, s, len);
		return len;
	}
	switch (cp) {
	case '\n': memcpy(out, "\\n", 2); return 2;
	case '\r': memcpy(out, "\\r", 2); return 2;
	case '\t': memcpy(out, "\\t", 2); return 2;
	}
	if (cp < 0x80)
		return put_escape(out, 'x', cp);
	return put_escape(out, 'u', cp);
}

/* A value that needs no quotes: printable ASCII, no blank, '"', '=', '\'. */
static int
is_bare(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || c == '"' || c == '=' || c == '\\')
			return 0;
	}
	return 1;
}

/*
 * Quotes a value for key=value output unless it is bare (see is_bare),
 * escaping what a log must not hold. A value too long for the buffer is cut
 * between two whole characters or escapes, and always closed. Returns one
 * of a few rotating static buffers: enough for one log call.
 */
const char *
log_quote(const char *s)
{
	static char bufs[4][LINE_MAX_LEN];
	static unsigned next;
	char *b = bufs[next++ & 3], u[8];
	size_t pos = 0, n, used, ulen;

	if (s == NULL)
		s = "";
	if (is_bare(s))
		return s;
	n = strlen(s);
	b[pos++] = '"';
	for (size_t i = 0; i < n; i += used) {
		if (s[i] == '"' || s[i] == '\\') {
			u[0] = '\\';
			u[1] = s[i];
			ulen = 2;
			used = 1;
		} else
			ulen = text_char((const unsigned char *)s + i, n - i,
			    u, &used);
		if (pos + ulen + 2 > sizeof(bufs[0]))
			break;
		memcpy(b + pos, u, ulen);
		pos += ulen;
	}
	b[pos++] = '"';
	b[pos] = '\0';
	return b;
}

/*
 * Where a line is, for the cleaner and the JSON converter alike:
 * "event key=value key="quoted \"value\"" ...". A quote opens a value only
 * right after the '=' that ends a key.
 */
enum lex { LX_EVENT, LX_SEP, LX_KEY, LX_VALUE, LX_BARE, LX_QUOTED };

static enum lex
lex_next(enum lex st, char c)
{
	switch (st) {
	case LX_EVENT:
		return c == ' ' ? LX_SEP : LX_EVENT;
	case LX_SEP:
		return c == ' ' ? LX_SEP : c == '=' ? LX_VALUE : LX_KEY;
	case LX_KEY:
		return c == ' ' ? LX_SEP : c == '=' ? LX_VALUE : LX_KEY;
	case LX_VALUE:
		return c == ' ' ? LX_SEP : c == '"' ? LX_QUOTED : LX_BARE;
	case LX_BARE:
		return c == ' ' ? LX_SEP : LX_BARE;
	case LX_QUOTED:
		return c == '"' ? LX_KEY : LX_QUOTED;
	}
	return st;
}

/* A line that vsnprintf() cut may end in part of a character: drop it. */
static size_t
drop_partial_char(const char *s, size_t n)
{
	for (size_t back = 1; back <= 3 && back <= n; back++) {
		unsigned char c = (unsigned char)s[n - back];

		if ((c & 0xc0) == 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xf4 &&
		    back < (c >= 0xf0 ? 4u : c >= 0xe0 ? 3u : 2u))
			return n - back;
		break;
	}
	return n;
}

/*
 * The last guard, whatever the callers did: copies a formatted line into
 * out (outlen bytes), escaping any byte a log must not hold (see
 * cp_unsafe), and cuts it to fit, only between whole characters or
 * escapes, closing a quoted value that the cut (or the caller) left open.
 * A line from log_quote()d values passes unchanged when it fits.
 */
static void
line_clean(const char *in, size_t n, int truncated, char *out,
    size_t outlen)
{
	enum lex st = LX_EVENT, nx;
	size_t pos = 0, used, ulen;
	char u[8];

	if (truncated)
		n = drop_partial_char(in, n);
	for (size_t i = 0; i < n; i += used) {
		unsigned char c = (unsigned char)in[i];

		used = 1;
		if (st == LX_QUOTED && c == '\\') {
			nx = st;
			ulen = escape_len(in + i, n - i);
			if (ulen > 0) {
				memcpy(u, in + i, ulen);
				used = ulen;
			} else {	/* a lone backslash: itself */
				memcpy(u, "\\\\", 2);
				ulen = 2;
			}
		} else if (c == ' ' || c == '"' || c == '=' || c == '\\') {
			nx = lex_next(st, (char)c);
			u[0] = (char)c;
			ulen = 1;
		} else {
			nx = lex_next(st, (char)c);
			ulen = text_char((const unsigned char *)in + i, n - i,
			    u, &used);
		}
		if (pos + ulen + (nx == LX_QUOTED) + 1 > outlen)
			break;
		memcpy(out + pos, u, ulen);
		pos += ulen;
		st = nx;
	}
	if (st == LX_QUOTED)
		out[pos++] = '"';
	out[pos] = '\0';
}

/* JSON output that always closes: room is kept for '"', '}' and NUL. */
struct jout {
	char	*b;
	size_t	 len, pos;
};

static int
j_put(struct jout *j, const char *s, size_t n, size_t keep)
{
	if (j->pos + n + keep > j->len)
		return -1;
	memcpy(j->b + j->pos, s, n);
	j->pos += n;
	return 0;
}

/* A code point into a JSON string: escaped if unsafe, UTF-8 otherwise. */
static size_t
json_char(uint32_t cp, char *out)
{
	switch (cp) {
	case '"': memcpy(out, "\\\"", 2); return 2;
	case '\\': memcpy(out, "\\\\", 2); return 2;
	case '\n': memcpy(out, "\\n", 2); return 2;
	case '\r': memcpy(out, "\\r", 2); return 2;
	case '\t': memcpy(out, "\\t", 2); return 2;
	}
	if (cp_unsafe(cp) || cp == 0xfffd)
		return put_escape(out, 'u', cp);
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * One character of the text line at s as a code point: a text escape is
 * undone when unescape is set (a quoted value); bytes that are not UTF-8,
 * and \xHH above 7f, become U+FFFD, as JSON has no way to carry them.
 */
static uint32_t
text_decode(const char *s, size_t n, int unescape, size_t *used)
{
	uint32_t cp;
	size_t len;

	if (unescape && s[0] == '\\' && (len = escape_len(s, n)) > 0) {
		*used = len;
		switch (s[1]) {
		case 'n': return '\n';
		case 'r': return '\r';
		case 't': return '\t';
		case 'x':
			cp = (uint32_t)(hexval(s[2]) << 4 | hexval(s[3]));
			return cp < 0x80 ? cp : 0xfffd;
		case 'u':
			cp = (uint32_t)(hexval(s[2]) << 12 | hexval(s[3]) << 8 |
			    hexval(s[4]) << 4 | hexval(s[5]));
			return cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp;
		}
		return (unsigned char)s[1];
	}
	len = utf8_decode((const unsigned char *)s, n, &cp);
	*used = len ? len : 1;
	return len ? cp : 0xfffd;
}

/*
 * s[0..n) as the inside of a JSON string, cut between whole characters
 * when out of room. Returns -1 when it was cut.
 */
static int
j_chars(struct jout *j, const char *s, size_t n, int unescape)
{
	char u[8];
	size_t used;

	for (size_t i = 0; i < n; i += used) {
		uint32_t cp = text_decode(s + i, n - i, unescape, &used);

		if (j_put(j, u, json_char(cp, u), 3) == -1)
			return -1;
	}
	return 0;
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

/* The end of the quoted value that starts after the quote at s. */
static size_t
quoted_len(const char *s)
{
	size_t i = 0, n = strlen(s), e;

	while (i < n && s[i] != '"') {
		if (s[i] == '\\' && (e = escape_len(s + i, n - i)) > 0)
			i += e;
		else
			i++;
	}
	return i;
}

/*
 * "accept service=a ip=1.2.3.4 msg=\"x y\"" becomes
 * {"event":"accept","service":"a","ip":"1.2.3.4","msg":"x y"}.
 * Whatever the line holds, the output is one JSON object of valid UTF-8
 * without control characters. Out of room, the last value is cut between
 * whole characters and closed; a pair whose key does not fit is left out.
 */
int
log_kv_to_json(const char *line, char *out, size_t len)
{
	struct jout j = { out, len, 0 };
	const char *p = line;
	size_t n;

	if (len < 32)
		return -1;
	j_put(&j, "{\"event\":\"", 10, 0);
	n = strcspn(p, " ");
	j_chars(&j, p, n, 0);
	j_put(&j, "\"", 1, 2);
	for (p += n; *p != '\0'; ) {
		const char *key, *val = "";
		size_t klen, vlen = 0, mark = j.pos;
		int quoted = 0;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		key = p;
		klen = strcspn(p, "= ");
		p += klen;
		if (*p == '=') {
			p++;
			if (*p == '"') {
				quoted = 1;
				val = ++p;
				vlen = quoted_len(p);
				p += vlen;
				if (*p == '"')
					p++;
			} else {
				val = p;
				vlen = strcspn(p, " ");
				p += vlen;
			}
		}
		if (j_put(&j, ",\"", 2, 2) == -1 ||
		    j_chars(&j, key, klen, 0) == -1 ||
		    j_put(&j, "\":", 2, 4) == -1) {
			j.pos = mark;
			break;
		}
		if (!quoted && is_number(val, vlen)) {
			if (j_put(&j, val, vlen, 2) == -1) {
				j.pos = mark;
				break;
			}
			continue;
		}
		j_put(&j, "\"", 1, 2);
		if (j_chars(&j, val, vlen, quoted) == -1) {
			j_put(&j, "\"", 1, 2);
			break;
		}
		j_put(&j, "\"", 1, 2);
	}
	j_put(&j, "}", 1, 1);
	out[j.pos] = '\0';
	return 0;
}

/*
 * A formatted line as it goes out, without the time: cleaned (see
 * line_clean) and cut to LINE_MAX_LEN, then in JSON if asked. n is the
 * line's length, truncated says that vsnprintf() cut it. -1 if out is too
 * small to hold anything.
 */
int
log_render(enum log_format fmt, const char *raw, size_t n, int truncated,
    char *out, size_t outlen)
{
	static char text[LINE_MAX_LEN];

	if (outlen < 32)
		return -1;
	if (fmt != LOGFMT_JSON) {
		line_clean(raw, n, truncated, out, outlen < LINE_MAX_LEN ?
		    outlen : LINE_MAX_LEN);
		return 0;
	}
	line_clean(raw, n, truncated, text, sizeof(text));
	return log_kv_to_json(text, out, outlen);
}

/*
 * Writes a line with the time, in one write(). The buffers are static: the
 * daemon logs from one thread, and a long line must not cost a deep stack.
 */
/* Returns the bytes the event took in the log. */
static int
log_emit(int prio, const char *raw, size_t n, int truncated)
{
	static char line[LINE_MAX_LEN * 3], buf[LINE_MAX_LEN * 3 + 64];
	char ts[40];
	struct timespec tv;
	struct tm tm;
	int len;

	if (log_render(log_fmt, raw, n, truncated, line, sizeof(line)) == -1)
		return 0;
	if (log_use_syslog) {
		syslog(prio, "%s", line);
		return (int)strlen(line) + 1;
	}
	clock_gettime(CLOCK_REALTIME, &tv);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	/* buf holds any line plus the time: nothing is cut here. */
	if (log_fmt == LOGFMT_JSON)
		len = snprintf(buf, sizeof(buf), "{\"ts\":\"%s.%03ldZ\",%s\n",
		    ts, tv.tv_nsec / 1000000, line + 1);
	else
		len = snprintf(buf, sizeof(buf), "%s.%03ldZ %s\n", ts,
		    tv.tv_nsec / 1000000, line);
	if (len < 0 || (size_t)len >= sizeof(buf))
		return 0;
	if (write(log_target_fd, buf, (size_t)len) < 0) {
		/* A full disk or a closed terminal must not stop the daemon. */
	}
	return len;
}

static int
log_vemit(int prio, const char *fmt, va_list ap)
{
	static char raw[LINE_MAX_LEN * 4];
	int n;

	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (n < 0)
		return 0;
	return log_emit(prio, raw, (size_t)n < sizeof(raw) ? (size_t)n :
	    sizeof(raw) - 1, (size_t)n >= sizeof(raw));
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
	char msg[LINE_MAX_LEN], line[LINE_MAX_LEN + 64];
	int saved = errno, len;
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	if (with_errno && n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	len = snprintf(line, sizeof(line), "%s msg=%s", event, log_quote(msg));
	if (len >= 0)
		log_emit(prio, line, (size_t)len < sizeof(line) ? (size_t)len :
		    sizeof(line) - 1, (size_t)len >= sizeof(line));
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
