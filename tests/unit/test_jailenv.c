/*
 * test_jailenv.c: pwn.red/jail's variables become the chald settings of
 * the same meaning, with the same defaults, and every bad value is refused
 * with an error that starts with the variable's name.
 */
#include <stdlib.h>

#include "chald.h"
#include "t.h"

static struct jailenv je;
static char err[CHALD_ERRLEN];

/* Parses a NULL-terminated list of NAME=VALUE. */
static int
parse(char **envp)
{
	err[0] = '\0';
	return jailenv_parse(envp, &je, err, sizeof(err));
}

/* The one variable given is refused, with its name first in the error. */
static void
refused(const char *var, const char *value)
{
	char buf[256], *envp[] = { buf, "PATH=/bin", NULL };
	size_t n = strlen(var);

	snprintf(buf, sizeof(buf), "%s=%s", var, value);
	if (parse(envp) != -1 || strncmp(err, var, n) != 0 ||
	    err[n] != ':') {
		t_failed++;
		fprintf(stderr, "FAIL: %s=%s: want an error naming it, got "
		    "\"%s\"\n", var, value, err);
	} else
		t_passed++;
}

/* The one variable given sets key to want. */
static void
sets(const char *var, const char *value, const char *key, const char *want)
{
	char buf[256], *envp[] = { buf, NULL };

	snprintf(buf, sizeof(buf), "%s=%s", var, value);
	if (parse(envp) == -1) {
		t_failed++;
		fprintf(stderr, "FAIL: %s=%s refused: %s\n", var, value, err);
		return;
	}
	CHECK_STR(jailenv_get(&je, key), want);
}

/* The settings as chald reads them: every one goes through its parser. */
static struct service *
applied(void)
{
	struct service *s = service_new("app", NULL, 0);
	char msg[CHALD_ERRLEN];

	for (int i = 0; i < je.nset; i++)
		if (config_set_service(s, je.set[i].key, je.set[i].value, "/",
		    msg, sizeof(msg)) == -1) {
			t_failed++;
			fprintf(stderr, "FAIL: %s = %s: %s\n", je.set[i].key,
			    je.set[i].value, msg);
		}
	return s;
}

static void
test_defaults(void)
{
	char *envp[] = { "PATH=/usr/bin", "HOME=/root", NULL };
	struct service *s;

	CHECK(parse(envp) == 0);
	CHECK_STR(jailenv_get(&je, "root"), "/srv");
	CHECK_STR(jailenv_get(&je, "workdir"), "/app");
	CHECK_STR(je.argv[0], "/app/run");
	CHECK(je.argv[1] == NULL);
	CHECK_STR(jailenv_get(&je, "hostname"), "app");
	CHECK_STR(jailenv_get(&je, "timeout"), "20s");
	CHECK_STR(jailenv_get(&je, "max-conns"), "0");
	CHECK_STR(jailenv_get(&je, "per-ip"), "0");
	CHECK_STR(jailenv_get(&je, "pids"), "6");
	CHECK_STR(jailenv_get(&je, "memory"), "5242880");
	CHECK_STR(jailenv_get(&je, "cpu"), "0.100");
	CHECK_STR(jailenv_get(&je, "port"), "5000");
	CHECK_STR(jailenv_get(&je, "tmp-size"), "4096");
	CHECK(je.tmp_none == 1);
	CHECK(jailenv_get(&je, "seccomp-allow") == NULL);
	CHECK(jailenv_get(&je, "env") == NULL);
	CHECK(jailenv_get(&je, "pow") == NULL);
	CHECK(je.pow == 0);
	/* null, zero, urandom: bits 0, 1 and 4 of jailfs's list */
	CHECK(je.devs == (1 | 2 | 16));

	s = applied();
	CHECK(s->timeout_ms == 20000);
	CHECK(s->max_conns == 0);
	CHECK(s->per_ip == 0);
	CHECK(s->v4_prefix == 32);
	CHECK(s->v6_prefix == 128);
	CHECK(s->pids == 6);
	CHECK(s->memory == 5 << 20);
	CHECK(s->cpu > 0.0999 && s->cpu < 0.1001);
	CHECK(s->port == 5000);
	CHECK(s->tmp_size == 4096);
	CHECK(s->cpu_time_ms == 0);
	CHECK(s->file_size == 0);
	CHECK(s->open_files == 0);
	CHECK(s->address_space == 0);
	CHECK_STR(s->root, "/srv");
	CHECK_STR(s->workdir, "/app");
	service_free(s);
}

static void
test_counts(void)
{
	sets("JAIL_TIME", "0", "timeout", "0s");
	sets("JAIL_TIME", "300", "timeout", "300s");
	sets("JAIL_CONNS", "100", "max-conns", "100");
	sets("JAIL_CONNS_PER_IP", "2", "per-ip", "2");
	/* chald's count has the jail's init in it, nsjail's has not */
	sets("JAIL_PIDS", "1", "pids", "2");
	sets("JAIL_PIDS", "0", "pids", "0");
	sets("JAIL_PORT", "1337", "port", "1337");
	sets("JAIL_PORT", "65535", "port", "65535");

	refused("JAIL_TIME", "");
	refused("JAIL_TIME", "20s");
	refused("JAIL_TIME", "-1");
	refused("JAIL_TIME", " 20");
	refused("JAIL_TIME", "99999999999999999999999");
	refused("JAIL_CONNS", "1000001");
	refused("JAIL_CONNS", "lots");
	refused("JAIL_CONNS_PER_IP", "1.5");
	refused("JAIL_PIDS", "0x10");
	refused("JAIL_PORT", "0");
	refused("JAIL_PORT", "65536");
	/* what Kubernetes sets for a Service named "jail" */
	refused("JAIL_PORT", "tcp://10.0.0.1:5000");
}

static void
test_sizes(void)
{
	sets("JAIL_MEM", "5M", "memory", "5242880");
	sets("JAIL_MEM", "5m", "memory", "5242880");
	sets("JAIL_MEM", "5MiB", "memory", "5242880");
	sets("JAIL_MEM", "5mb", "memory", "5242880");
	sets("JAIL_MEM", "5 M", "memory", "5242880");
	sets("JAIL_MEM", "512k", "memory", "524288");
	sets("JAIL_MEM", "1.5G", "memory", "1610612736");
	sets("JAIL_MEM", "1t", "memory", "1099511627776");
	sets("JAIL_MEM", "4096", "memory", "4096");
	sets("JAIL_MEM", "4096b", "memory", "4096");
	sets("JAIL_MEM", "0", "memory", "0");
	refused("JAIL_MEM", "");
	refused("JAIL_MEM", "M");
	refused("JAIL_MEM", "5X");
	refused("JAIL_MEM", "5MM");
	refused("JAIL_MEM", "-5M");
	refused("JAIL_MEM", "1e3");
	refused("JAIL_MEM", "5.M");
	refused("JAIL_MEM", "99999999999P");

	sets("JAIL_TMP_SIZE", "16M", "tmp-size", "16777216");
	CHECK(je.tmp_none == 0);
	/* chald's smallest /tmp */
	sets("JAIL_TMP_SIZE", "1k", "tmp-size", "4096");
	CHECK(je.tmp_none == 0);
	sets("JAIL_TMP_SIZE", "0", "tmp-size", "4096");
	CHECK(je.tmp_none == 1);
	refused("JAIL_TMP_SIZE", "big");
}

static void
test_cpu(void)
{
	struct service *s;

	sets("JAIL_CPU", "1000", "cpu", "1.000");
	sets("JAIL_CPU", "10", "cpu", "0.010");
	sets("JAIL_CPU", "2500", "cpu", "2.500");
	sets("JAIL_CPU", "0", "cpu", "0.000");
	s = applied();
	CHECK(s->cpu == 0);	/* no cap */
	service_free(s);
	sets("JAIL_CPU", "250", "cpu", "0.250");
	s = applied();
	CHECK(s->cpu > 0.2499 && s->cpu < 0.2501);
	service_free(s);
	/* below one quota of 1 ms per 100 ms period */
	refused("JAIL_CPU", "5");
	refused("JAIL_CPU", "1024001");
	refused("JAIL_CPU", "10%");
}

static void
test_dev(void)
{
	sets("JAIL_DEV", "null", "root", "/srv");
	CHECK(je.devs == 1);
	sets("JAIL_DEV", "null,zero,full,random,urandom", "root", "/srv");
	CHECK(je.devs == 31);
	sets("JAIL_DEV", "", "root", "/srv");
	CHECK(je.devs == 0);
	refused("JAIL_DEV", "null,tty");
	CHECK(strstr(err, "\"tty\"") != NULL &&
	    strstr(err, "not supported yet") != NULL);
	refused("JAIL_DEV", "nul");
}

static void
test_syscalls(void)
{
	struct service *s;

	sets("JAIL_SYSCALLS", "ptrace,mount", "seccomp-allow",
	    "ptrace,mount");
	s = applied();
	CHECK(s->nsc_allow == 2);
	CHECK_STR(s->sc_allow[0], "ptrace");
	CHECK_STR(s->sc_allow[1], "mount");
	service_free(s);
	sets("JAIL_SYSCALLS", "", "root", "/srv");
	CHECK(jailenv_get(&je, "seccomp-allow") == NULL);
	refused("JAIL_SYSCALLS", "ptrace,no_such_call");
	CHECK(strstr(err, "no_such_call") != NULL);
}

static void
test_pow(void)
{
	char *envp[] = { "JAIL_POW=1500", NULL };

	sets("JAIL_POW", "0", "root", "/srv");
	CHECK(je.pow == 0);
	CHECK(jailenv_get(&je, "pow") == NULL);
	refused("JAIL_POW", "lots");
	/* The same sloth difficulty as chald's own pow key. */
	CHECK(parse(envp) == 0);
	CHECK_STR(jailenv_get(&je, "pow"), "1500");
	CHECK(je.pow == 1500);
}

static void
test_env(void)
{
	char *envp[] = { "JAIL_ENV_FLAG=ctf{x=y}", "JAIL_ENV_EMPTY=",
	    "OTHER=1", NULL };
	char *dup[] = { "JAIL_ENV_A=1", "JAIL_ENV_A=2", NULL };
	char *twice[] = { "JAIL_TIME=1", "JAIL_TIME=2", NULL };
	struct service *s;

	CHECK(parse(envp) == 0);
	s = applied();
	CHECK(s->nenv == 2);
	CHECK_STR(s->env[0], "FLAG=ctf{x=y}");
	CHECK_STR(s->env[1], "EMPTY=");
	service_free(s);

	refused("JAIL_ENV_", "x");
	refused("JAIL_ENV_1X", "y");
	refused("JAIL_ENV_A-B", "y");
	refused("JAIL_ENV_PROTO", "UDP");
	CHECK(parse(dup) == -1 && strncmp(err, "JAIL_ENV_A:", 11) == 0);
	CHECK(parse(twice) == -1 && strncmp(err, "JAIL_TIME:", 10) == 0);
}

static void
test_other_vars(void)
{
	refused("JAIL_MEMORY", "5M");
	refused("JAIL_", "1");
	refused("JAIL_READ_ONLY", "false");
	refused("JAIL_READ_ONLY", "maybe");
	sets("JAIL_READ_ONLY", "true", "root", "/srv");
	sets("JAILER", "1", "root", "/srv");
	sets("XJAIL_TIME", "x", "timeout", "20s");
}

int
main(void)
{
	test_defaults();
	test_counts();
	test_sizes();
	test_cpu();
	test_dev();
	test_syscalls();
	test_pow();
	test_env();
	test_other_vars();
	T_DONE();
}
