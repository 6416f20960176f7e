/*
 * test_metrics.c: the counters and how /metrics and /status show them
 * (metrics.c), on a daemon state built by hand: counts land in the right
 * series, histograms are cumulative, every family is announced once with
 * its samples right after it, labels are escaped, and pooled jails are
 * not shown as players.
 */
#include <math.h>
#include <stdlib.h>

#include "chald.h"
#include "t.h"

/* The value of the sample whose line starts with `series` + " ". */
static double
sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NAN;
}

/*
 * The structure of the text format: "# HELP f", "# TYPE f t" once per
 * family, then only samples of f (f_bucket, f_sum, f_count for a
 * histogram), each "name{...} value" or "name value".
 */
static int
format_ok(const char *text)
{
	char fam[128] = "", type[32] = "", seen[8192] = " ";
	const char *p = text;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		char line[1024], name[128], key[160];
		size_t len;

		if (nl == NULL)
			return fprintf(stderr, "no final newline\n"), 0;
		len = (size_t)(nl - p);
		if (len >= sizeof(line))
			return 0;
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl + 1;
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (sscanf(line, "# TYPE %127s %31s", fam, type) == 2) {
			snprintf(key, sizeof(key), " %s ", fam);
			if (strstr(seen, key) != NULL)
				return fprintf(stderr, "twice: %s\n", fam), 0;
			if (strlen(seen) + strlen(key) < sizeof(seen))
				strcat(seen, key + 1);
			continue;
		}
		if (line[0] == '#' || sscanf(line, "%127[a-zA-Z0-9_:]", name)
		    != 1)
			return fprintf(stderr, "bad line: %s\n", line), 0;
		if (strcmp(name, fam) != 0) {
			size_t f = strlen(fam);

			if (strcmp(type, "histogram") != 0 ||
			    strncmp(name, fam, f) != 0 ||
			    (strcmp(name + f, "_bucket") != 0 &&
			    strcmp(name + f, "_sum") != 0 &&
			    strcmp(name + f, "_count") != 0))
				return fprintf(stderr, "%s outside its family "
				    "(%s)\n", name, fam), 0;
		}
		if (strchr(line, ' ') == NULL)
			return fprintf(stderr, "no value: %s\n", line), 0;
	}
	return 1;
}

static struct svcstate *
state(struct daemon *d, struct service *svc, const char *name)
{
	struct svcstate *st = calloc(1, sizeof(*st));

	st->name = strdup(name);
	st->svc = svc;
	st->fd = 7;
	st->next = d->states;
	d->states = st;
	return st;
}

int
main(void)
{
	struct daemon d;
	struct service *svc = service_new("pwn1", NULL, 0);
	struct svcstate *a, *b;
	struct procstat ps = { .rss_bytes = 4096, .open_fds = 12,
	    .max_fds = 1024, .cpu_secs = 0.25, .start_unix = 1.7e9,
	    .uptime_secs = 3.5 };
	struct http_buf out = { 0 };
	struct session s1, s2;
	const char *t;

	memset(&d, 0, sizeof(d));
	CHECK(sesstable_init(&d.sessions) == 0);
	a = state(&d, svc, "pwn1");
	b = state(&d, NULL, "we\"ird\\one");	/* removed by a reload */
	b->fd = -1;
	b->removed = 1;

	/* The names of every reason and cause are there, and distinct. */
	for (int i = 0; i < REJ_NREASONS; i++) {
		CHECK(strcmp(reject_name(i), "unknown") != 0);
		for (int j = 0; j < i; j++)
			CHECK(strcmp(reject_name(i), reject_name(j)) != 0);
	}
	CHECK_STR(reject_name(REJ_RATE), "rate");
	CHECK_STR(reject_name(REJ_NREASONS), "unknown");
	CHECK_STR(ended_name(ENDED_TIMEOUT), "timeout");
	CHECK_STR(ended_name(ENDED_N), "unknown");

	/* Counting. */
	for (int i = 0; i < 5; i++)
		metrics_inc(&a->metrics, M_ACCEPTED);
	metrics_refused(&a->metrics, REJ_RATE);
	metrics_refused(&a->metrics, REJ_RATE);
	metrics_refused(&a->metrics, REJ_PER_IP);
	metrics_refused(&a->metrics, REJ_NREASONS);	/* ignored */
	metrics_ended(&a->metrics, ENDED_EXIT, 0.05);
	metrics_ended(&a->metrics, ENDED_TIMEOUT, 60);
	metrics_ended(&a->metrics, ENDED_TIMEOUT, 1e6);	/* past the last */
	metrics_exec(&a->metrics, 0, 0.0003);
	metrics_exec(&a->metrics, 1, 0.004);
	metrics_exec(&a->metrics, 1, -1);		/* a clock step: 0 */
	a->conns = 2;
	a->pool_ready = 3;
	d.counters[D_RELOADS] = 4;
	svc->hc_argv = calloc(2, sizeof(char *));
	svc->hc_argv[0] = strdup("/bin/true");
	svc->hc_argc = 1;
	a->health.result = HEALTH_FAILED;
	a->health.last_secs = 1.5;
	a->health.runs[0] = 2;
	a->health.runs[1] = 7;

	metrics_format(&d, &ps, &out);
	CHECK(!out.failed);
	t = out.data;
	CHECK(format_ok(t));
	CHECK(strstr(t, "chald_build_info{version=\"" CHALD_VERSION "\"} 1\n")
	    != NULL);
	CHECK(sample(t, "chald_accepted_total{service=\"pwn1\"}") == 5);
	CHECK(sample(t, "chald_refused_total{service=\"pwn1\","
	    "reason=\"rate\"}") == 2);
	CHECK(sample(t, "chald_refused_total{service=\"pwn1\","
	    "reason=\"per-ip\"}") == 1);
	CHECK(sample(t, "chald_refused_total{service=\"pwn1\","
	    "reason=\"max-conns\"}") == 0);
	CHECK(sample(t, "chald_sessions_ended_total{service=\"pwn1\","
	    "cause=\"timeout\"}") == 2);
	CHECK(sample(t, "chald_sessions{service=\"pwn1\"}") == 2);
	CHECK(sample(t, "chald_sessions_max{service=\"pwn1\"}") == 256);
	CHECK(sample(t, "chald_pool_ready_jails{service=\"pwn1\"}") == 3);
	CHECK(sample(t, "chald_service_listening{service=\"pwn1\"}") == 1);
	CHECK(sample(t, "chald_reloads_total") == 4);
	CHECK(sample(t, "process_open_fds") == 12);
	CHECK(sample(t, "process_cpu_seconds_total") == 0.25);
	CHECK(sample(t, "chald_uptime_seconds") == 3.5);
	/* Histograms: cumulative, +Inf is the count. */
	CHECK(sample(t, "chald_session_duration_seconds_bucket{service="
	    "\"pwn1\",le=\"0.01\"}") == 0);
	CHECK(sample(t, "chald_session_duration_seconds_bucket{service="
	    "\"pwn1\",le=\"0.1\"}") == 1);
	CHECK(sample(t, "chald_session_duration_seconds_bucket{service="
	    "\"pwn1\",le=\"60\"}") == 2);
	CHECK(sample(t, "chald_session_duration_seconds_bucket{service="
	    "\"pwn1\",le=\"3600\"}") == 2);
	CHECK(sample(t, "chald_session_duration_seconds_bucket{service="
	    "\"pwn1\",le=\"+Inf\"}") == 3);
	CHECK(sample(t, "chald_session_duration_seconds_count{service="
	    "\"pwn1\"}") == 3);
	CHECK(fabs(sample(t, "chald_session_duration_seconds_sum{service="
	    "\"pwn1\"}") - 1000060.05) < 1e-6);
	CHECK(sample(t, "chald_accept_to_exec_seconds_bucket{service=\"pwn1\","
	    "jailed=\"false\",le=\"0.0005\"}") == 1);
	CHECK(sample(t, "chald_accept_to_exec_seconds_bucket{service=\"pwn1\","
	    "jailed=\"true\",le=\"0.0005\"}") == 1);
	CHECK(sample(t, "chald_accept_to_exec_seconds_bucket{service=\"pwn1\","
	    "jailed=\"true\",le=\"0.005\"}") == 2);
	CHECK(sample(t, "chald_accept_to_exec_seconds_count{service=\"pwn1\","
	    "jailed=\"true\"}") == 2);
	/* Health, only for the service that has a check. */
	CHECK(sample(t, "chald_healthcheck_up{service=\"pwn1\"}") == 0);
	CHECK(sample(t, "chald_healthcheck_duration_seconds{service="
	    "\"pwn1\"}") == 1.5);
	CHECK(sample(t, "chald_healthcheck_runs_total{service=\"pwn1\","
	    "result=\"pass\"}") == 7);
	CHECK(strstr(t, "chald_healthcheck_up{service=\"we") == NULL);
	/* A label value is escaped. */
	CHECK(sample(t, "chald_service_listening{service="
	    "\"we\\\"ird\\\\one\"}") == 0);
	http_buf_free(&out);

	/* /status: a player's session is listed, a pooled jail is not. */
	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	s1.pid = 100;
	s1.svc = a;
	s1.start_ms = 1000;
	s1.deadline.idx = SIZE_MAX;
	snprintf(s1.ip, sizeof(s1.ip), "203.0.113.7");
	s1.port = 4242;
	s2.pid = 101;
	s2.svc = a;
	s2.jailed = 1;
	s2.deadline.idx = SIZE_MAX;
	CHECK(sesstable_add(&d.sessions, &s1) == 0);
	CHECK(sesstable_add(&d.sessions, &s2) == 0);
	d.start_ms = 500;
	metrics_status(&d, 3500, &out);
	CHECK(!out.failed);
	t = out.data;
	CHECK(strstr(t, "\"uptime_secs\":3.000") != NULL);
	CHECK(strstr(t, "{\"service\":\"pwn1\",\"pid\":100,\"ip\":"
	    "\"203.0.113.7\",\"port\":4242,\"secs\":2.500,\"jailed\":false}")
	    != NULL);
	/* (the comma: the daemon's own "pid" may start with 101) */
	CHECK(strstr(t, "\"pid\":101,") == NULL);
	CHECK(strstr(t, "\"sessions_total\":1,\"sessions_shown\":1}") != NULL);
	CHECK(strstr(t, "\"name\":\"we\\\"ird\\\\one\",\"listening\":false,"
	    "\"removed\":true") != NULL);
	CHECK(strstr(t, "\"health\":{\"result\":\"failed\",\"secs\":1.500,"
	    "\"why\":\"\"}") != NULL);
	http_buf_free(&out);

	sesstable_free(&d.sessions);
	while (d.states != NULL) {
		struct svcstate *st = d.states;

		d.states = st->next;
		free(st->name);
		free(st);
	}
	service_free(svc);
	T_DONE();
}
