/*
 * metrics.c: what the daemon counts, and how /metrics and /status show
 * it. Counting is a few increments in the service's own struct
 * (svcmetrics, in its svcstate), so the accept path pays O(1) and nothing
 * is looked up by name; everything else shown is read from the live state
 * (sessions, pools, health) only when a page is asked for. No I/O here:
 * admin.c reads the process's own numbers (struct procstat) and does the
 * writing, so the formats can be unit-tested (tests/unit/test_metrics.c).
 *
 * /metrics is the Prometheus text exposition format 0.0.4: each family
 * once, its HELP and TYPE, then its samples; counters end in _total, times
 * are in seconds and sizes in bytes. Every series of a service exists
 * from its start (zeros included), so that rate() and increase() see the
 * first event.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define X_NAME(e, name, ...)	name,
#define X_HELP(e, name, help)	help,

static const char *ended_names[] = { END_CAUSES(X_NAME) };
static const char *svc_counter_names[] = { SVC_COUNTERS(X_NAME) };
static const char *svc_counter_help[] = { SVC_COUNTERS(X_HELP) };
static const char *daemon_counter_names[] = { DAEMON_COUNTERS(X_NAME) };
static const char *daemon_counter_help[] = { DAEMON_COUNTERS(X_HELP) };

/* Seconds. Sessions last from a failed exec to the whole CTF; the
 * accept-to-exec latency from well under a millisecond (unjailed, or a
 * pooled jail) to a jail built while the player waits. */
static const double duration_bounds[] = {
	0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
};
static const double exec_bounds[] = {
	0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2,
	5,
};
#define NBOUNDS(a)	((int)(sizeof(a) / sizeof((a)[0])))

const char *
ended_name(enum ended e)
{
	return e >= 0 && e < ENDED_N ? ended_names[e] : "unknown";
}

/* Counting: called on the accept path and at each end. */

void
metrics_inc(struct svcmetrics *m, enum svc_counter c)
{
	m->c[c]++;
}

void
metrics_refused(struct svcmetrics *m, enum reject_reason r)
{
	if ((unsigned)r < REJ_NREASONS)
		m->refused[r]++;
}

/* Bounded by HIST_MAX: a handful of comparisons. */
void
histogram_observe(struct histogram *h, const double *bounds, int nbounds,
    double v)
{
	int i = 0;

	if (!(v >= 0))
		v = 0;		/* a clock step, or NaN */
	while (i < nbounds && i < HIST_MAX && v > bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

void
metrics_ended(struct svcmetrics *m, enum ended e, double secs)
{
	if (e >= 0 && e < ENDED_N)
		m->ended[e]++;
	histogram_observe(&m->duration, duration_bounds,
	    NBOUNDS(duration_bounds), secs);
}

void
metrics_exec(struct svcmetrics *m, int jailed, double secs)
{
	histogram_observe(&m->exec[jailed != 0], exec_bounds,
	    NBOUNDS(exec_bounds), secs);
}

/* The Prometheus text format. */

/* Label values: backslash, double quote and newline are escaped. */
static void
label_value(struct http_buf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			http_buf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			http_buf_add(b, "\\n", 2);
		else
			http_buf_add(b, v, 1);
	}
}

static void
family(struct http_buf *b, const char *name, const char *type,
    const char *help)
{
	http_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/* name{service="S"[,key="value"]} */
static void
series(struct http_buf *b, const char *name, const struct svcstate *st,
    const char *key, const char *value)
{
	http_buf_printf(b, "%s{service=\"", name);
	label_value(b, st->name);
	http_buf_add(b, "\"", 1);
	if (key != NULL) {
		http_buf_printf(b, ",%s=\"", key);
		label_value(b, value);
		http_buf_add(b, "\"", 1);
	}
	http_buf_add(b, "}", 1);
}

/* Floats as Go's strconv.ParseFloat reads them back exactly. */
static void
sample_double(struct http_buf *b, double v)
{
	if (isnan(v))
		http_buf_printf(b, " NaN\n");
	else if (isinf(v))
		http_buf_printf(b, " %sInf\n", v > 0 ? "+" : "-");
	else if (v == floor(v) && fabs(v) < 1e15)
		http_buf_printf(b, " %.0f\n", v);
	else {
		char s[40];

		/* The shortest of the two that reads back as v. */
		snprintf(s, sizeof(s), "%.15g", v);
		if (strtod(s, NULL) != v)
			snprintf(s, sizeof(s), "%.17g", v);
		http_buf_printf(b, " %s\n", s);
	}
}

static void
sample_u64(struct http_buf *b, uint64_t v)
{
	http_buf_printf(b, " %llu\n", (unsigned long long)v);
}

static void
gauge1(struct http_buf *b, const char *name, const char *help, double v)
{
	family(b, name, "gauge", help);
	http_buf_printf(b, "%s", name);
	sample_double(b, v);
}

static void
histogram_lines(struct http_buf *b, const char *name,
    const struct svcstate *st, const char *key, const char *value,
    const struct histogram *h, const double *bounds, int nbounds)
{
	char full[128], le[32];
	uint64_t cum = 0;

	snprintf(full, sizeof(full), "%s_bucket", name);
	for (int i = 0; i <= nbounds && i <= HIST_MAX; i++) {
		cum += h->counts[i];
		if (i == nbounds || i == HIST_MAX)
			snprintf(le, sizeof(le), "+Inf");
		else
			snprintf(le, sizeof(le), "%g", bounds[i]);
		http_buf_printf(b, "%s{service=\"", full);
		label_value(b, st->name);
		if (key != NULL) {
			http_buf_printf(b, "\",%s=\"", key);
			label_value(b, value);
		}
		http_buf_printf(b, "\",le=\"%s\"}", le);
		sample_u64(b, cum);
	}
	snprintf(full, sizeof(full), "%s_sum", name);
	series(b, full, st, key, value);
	sample_double(b, h->sum);
	snprintf(full, sizeof(full), "%s_count", name);
	series(b, full, st, key, value);
	sample_u64(b, h->count);
}

static void
format_process(const struct procstat *ps, struct http_buf *b)
{
	family(b, "chald_build_info", "gauge",
	    "Always 1; the version of chald in its label");
	http_buf_printf(b, "chald_build_info{version=\"%s\"} 1\n",
	    CHALD_VERSION);
	gauge1(b, "chald_uptime_seconds", "Seconds since the daemon started",
	    ps->uptime_secs);
	gauge1(b, "process_start_time_seconds",
	    "Start time of the process since the Unix epoch, in seconds",
	    ps->start_unix);
	family(b, "process_cpu_seconds_total", "counter",
	    "User and system CPU time of the daemon itself, in seconds");
	http_buf_printf(b, "process_cpu_seconds_total");
	sample_double(b, ps->cpu_secs);
	gauge1(b, "process_resident_memory_bytes",
	    "Resident memory of the daemon, in bytes", ps->rss_bytes);
	gauge1(b, "process_virtual_memory_bytes",
	    "Virtual memory of the daemon, in bytes", ps->vsize_bytes);
	if (ps->open_fds >= 0)
		gauge1(b, "process_open_fds", "Open file descriptors of the "
		    "daemon", ps->open_fds);
	gauge1(b, "process_max_fds", "The daemon's file descriptor limit",
	    ps->max_fds);
}

static void
format_daemon(const struct daemon *d, struct http_buf *b)
{
	for (int i = 0; i < DAEMON_NCOUNTERS; i++) {
		char name[96];

		snprintf(name, sizeof(name), "chald_%s_total",
		    daemon_counter_names[i]);
		family(b, name, "counter", daemon_counter_help[i]);
		http_buf_printf(b, "%s", name);
		sample_u64(b, d->counters[i]);
	}
	gauge1(b, "chald_admin_connections", "Open admin connections",
	    d->admin.nconns);
	gauge1(b, "chald_shutting_down", "1 once a shutdown has begun",
	    d->shutting_down);
}

/* One gauge per service, read by get(). */
static void
per_service(const struct daemon *d, struct http_buf *b, const char *name,
    const char *help, double (*get)(const struct svcstate *))
{
	family(b, name, "gauge", help);
	for (const struct svcstate *st = d->states; st != NULL; st = st->next) {
		series(b, name, st, NULL, NULL);
		sample_double(b, get(st));
	}
}

static double
get_listening(const struct svcstate *st)
{
	return st->fd != -1 && !st->removed;
}

static double
get_sessions(const struct svcstate *st)
{
	return st->conns;
}

static double
get_max(const struct svcstate *st)
{
	return st->svc != NULL ? st->svc->max_conns : 0;
}

static double
get_pool_ready(const struct svcstate *st)
{
	return st->pool_ready;
}

static double
get_pool_starting(const struct svcstate *st)
{
	return st->pool_starting;
}

static void
format_counters(const struct daemon *d, struct http_buf *b)
{
	char name[96];

	for (int i = 0; i < SVC_NCOUNTERS; i++) {
		snprintf(name, sizeof(name), "chald_%s_total",
		    svc_counter_names[i]);
		family(b, name, "counter", svc_counter_help[i]);
		for (const struct svcstate *st = d->states; st != NULL;
		    st = st->next) {
			series(b, name, st, NULL, NULL);
			sample_u64(b, st->metrics.c[i]);
		}
	}
	family(b, "chald_refused_total", "counter",
	    "Connections refused before a session, by reason");
	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		for (int r = 0; r < REJ_NREASONS; r++) {
			series(b, "chald_refused_total", st, "reason",
			    reject_name(r));
			sample_u64(b, st->metrics.refused[r]);
		}
	family(b, "chald_sessions_ended_total", "counter",
	    "Sessions that ended, by cause (as in the end line)");
	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		for (int e = 0; e < ENDED_N; e++) {
			series(b, "chald_sessions_ended_total", st, "cause",
			    ended_names[e]);
			sample_u64(b, st->metrics.ended[e]);
		}
}

static void
format_histograms(const struct daemon *d, struct http_buf *b)
{
	family(b, "chald_session_duration_seconds", "histogram",
	    "Wall-clock time of ended sessions, in seconds");
	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		histogram_lines(b, "chald_session_duration_seconds", st, NULL,
		    NULL, &st->metrics.duration, duration_bounds,
		    NBOUNDS(duration_bounds));
	family(b, "chald_accept_to_exec_seconds", "histogram",
	    "From the accept to the exec of the challenge, in seconds; "
	    "jailed and unjailed apart");
	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		for (int j = 0; j < 2; j++)
			histogram_lines(b, "chald_accept_to_exec_seconds", st,
			    "jailed", j ? "true" : "false",
			    &st->metrics.exec[j], exec_bounds,
			    NBOUNDS(exec_bounds));
}

static int
has_check(const struct svcstate *st)
{
	return st->svc != NULL && st->svc->hc_argv != NULL;
}

static void
format_health(const struct daemon *d, struct http_buf *b)
{
	int any = 0;

	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		any |= has_check(st);
	if (!any)
		return;
	family(b, "chald_healthcheck_up", "gauge",
	    "1 when the service's last health check passed, 0 when it "
	    "failed or has not finished yet");
	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		if (has_check(st)) {
			series(b, "chald_healthcheck_up", st, NULL, NULL);
			sample_double(b, st->health.result == HEALTH_PASSED);
		}
	family(b, "chald_healthcheck_duration_seconds", "gauge",
	    "How long the service's last health check ran, in seconds");
	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		if (has_check(st)) {
			series(b, "chald_healthcheck_duration_seconds", st,
			    NULL, NULL);
			sample_double(b, st->health.last_secs);
		}
	family(b, "chald_healthcheck_runs_total", "counter",
	    "Health checks run, by result");
	for (const struct svcstate *st = d->states; st != NULL; st = st->next)
		if (has_check(st))
			for (int r = 1; r >= 0; r--) {
				series(b, "chald_healthcheck_runs_total", st,
				    "result", r ? "pass" : "fail");
				sample_u64(b, st->health.runs[r]);
			}
}

void
metrics_format(const struct daemon *d, const struct procstat *ps,
    struct http_buf *b)
{
	format_process(ps, b);
	format_daemon(d, b);
	per_service(d, b, "chald_service_listening", "1 while the service's "
	    "listener is open", get_listening);
	per_service(d, b, "chald_sessions", "Live sessions (with a player)",
	    get_sessions);
	per_service(d, b, "chald_sessions_max", "The service's max-conns "
	    "(0: no cap)", get_max);
	per_service(d, b, "chald_pool_ready_jails", "Jails built ahead and "
	    "waiting for a player", get_pool_ready);
	per_service(d, b, "chald_pool_starting_jails", "Jails being built "
	    "for the pool", get_pool_starting);
	format_counters(d, b);
	format_histograms(d, b);
	format_health(d, b);
}

/* /status: the services and the live sessions, as JSON. */

#define STATUS_MAX_SESSIONS	10000	/* listed; the count is whole */

static void
json_str(struct http_buf *b, const char *s)
{
	http_buf_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			http_buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			http_buf_printf(b, "\\u%04x", c);
		else
			http_buf_add(b, s, 1);
	}
	http_buf_add(b, "\"", 1);
}

static const char *
health_word(const struct svcstate *st)
{
	if (!has_check(st))
		return "none";
	switch (st->health.result) {
	case HEALTH_PASSED:
		return "passed";
	case HEALTH_FAILED:
		return "failed";
	case HEALTH_PENDING:
		break;
	}
	return "pending";
}

static void
status_service(struct http_buf *b, const struct svcstate *st)
{
	const struct service *s = st->svc;

	http_buf_add(b, "{\"name\":", 8);
	json_str(b, st->name);
	http_buf_printf(b, ",\"listening\":%s,\"removed\":%s,\"addr\":",
	    get_listening(st) ? "true" : "false",
	    st->removed ? "true" : "false");
	json_str(b, s != NULL ? s->addr : "");
	http_buf_printf(b, ",\"port\":%d,\"jailed\":%s,\"sessions\":%d,"
	    "\"max_conns\":%d,\"pool_ready\":%d,\"health\":{\"result\":\"%s\"",
	    st->port, s != NULL && s->sandbox ? "true" : "false", st->conns,
	    s != NULL ? s->max_conns : 0, st->pool_ready, health_word(st));
	if (has_check(st) && st->health.result != HEALTH_PENDING) {
		http_buf_printf(b, ",\"secs\":%.3f", st->health.last_secs);
		if (st->health.result == HEALTH_FAILED) {
			http_buf_add(b, ",\"why\":", 7);
			json_str(b, st->health.why);
		}
	}
	http_buf_add(b, "}}", 2);
}

static void
status_session(struct http_buf *b, const struct session *s, int64_t now)
{
	http_buf_add(b, "{\"service\":", 11);
	json_str(b, s->svc->name);
	http_buf_printf(b, ",\"pid\":%d,\"ip\":", (int)s->pid);
	json_str(b, s->ip);
	http_buf_printf(b, ",\"port\":%d,\"secs\":%.3f,\"jailed\":%s", s->port,
	    (double)(now - s->start_ms) / 1000, s->jailed ? "true" : "false");
	if (s->jailed)
		http_buf_printf(b, ",\"uid\":%u", (unsigned)s->uid);
	http_buf_add(b, "}", 1);
}

void
metrics_status(const struct daemon *d, int64_t now, struct http_buf *b)
{
	const struct sesstable *t = &d->sessions;
	size_t shown = 0, live = 0;
	int first = 1;

	http_buf_printf(b, "{\"version\":\"%s\",\"pid\":%d,"
	    "\"uptime_secs\":%.3f,\"shutting_down\":%s,\"services\":[",
	    CHALD_VERSION, (int)getpid(), (double)(now - d->start_ms) / 1000,
	    d->shutting_down ? "true" : "false");
	for (const struct svcstate *st = d->states; st != NULL; st = st->next) {
		if (!first)
			http_buf_add(b, ",", 1);
		first = 0;
		status_service(b, st);
	}
	http_buf_add(b, "],\"sessions\":[", 14);
	for (size_t i = 0; i < t->nbuckets; i++)
		for (const struct session *s = t->buckets[i]; s != NULL;
		    s = s->hnext) {
			/* A jail waiting in the pool has no player yet. */
			if (s->jailed && !s->served)
				continue;
			live++;
			if (shown == STATUS_MAX_SESSIONS)
				continue;
			if (shown++ > 0)
				http_buf_add(b, ",", 1);
			status_session(b, s, now);
		}
	http_buf_printf(b, "],\"sessions_total\":%zu,\"sessions_shown\":%zu}\n",
	    live, shown);
}
