/*
 * main.c: the options and the order of startup, nothing else. Everything
 * that can fail is checked before the daemon detaches, so that the
 * launcher's exit status tells whether chald is serving; then the loop
 * (loop.c) runs until shutdown.
 */
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

/* The one daemon state and what the command line said: nothing else is
 * global. */
static struct daemon	 daemon_state = { .epfd = -1 };
static struct cmdline	 cmdline;

static void
usage(FILE *fp)
{
	fprintf(fp,
"usage: chald [-fnv] [-c FILE] [-p PORT] [-b ADDR] [OPTIONS] [-- PROGRAM [ARG...]]\n"
"\n"
"Serves a challenge program to every TCP connection, one session each.\n"
"\n"
"  -c, --config FILE       read services from an INI file\n"
"  -n, --check             check the configuration, print it normalized, exit\n"
"  -f, --foreground        stay attached (containers, systemd, terminals)\n"
"  -p, --port PORT         port to listen on (default 1337)\n"
"  -b, --bind ADDR         address to listen on (default ::, dual-stack)\n"
"      --name NAME         name of the command-line service (default: program)\n"
"      --pidfile FILE      write and lock a pidfile\n"
"      --log stderr|syslog|FILE   where events go (default: stderr with -f,\n"
"                          syslog when detached)\n"
"      --log-format text|json\n"
"      --drain DURATION    at SIGTERM, let sessions finish this long (0)\n"
"      --grace DURATION    then SIGTERM, and wait this long before SIGKILL (5s)\n"
"      --admin ADDR:PORT   serve /metrics, /healthz, /status over HTTP (off)\n"
"      --admin-max-conns N admin connections at once (32)\n"
"  -v, --verbose           log debug events too\n"
"  -h, --help              this text\n"
"      --version           print the version\n"
"      --jail-env          serve /srv/app/run as pwn.red/jail would, from its\n"
"                          JAIL_* variables (the image's entrypoint)\n"
"\n"
"Service settings, -p and -b included (the keys of a [service] section;\n"
"with -c they override that key in every service of the file):\n"
"      --timeout DURATION  wall-clock limit per session (60s, 0: none)\n"
"      --max-conns N       concurrent sessions of the service (256, 0: no cap)\n"
"      --per-ip N          concurrent sessions per source prefix (8, 0: no cap)\n"
"      --ipv4-prefix N     IPv4 source prefix length (32)\n"
"      --ipv6-prefix N     IPv6 source prefix length (64)\n"
"      --rate N/s          new connections per source prefix (0: off)\n"
"      --burst N           token bucket size for --rate (default: the rate)\n"
"      --workdir DIR       working directory (default: the program's)\n"
"      --env NAME=VALUE    add a variable to the challenge's environment\n"
"      --stderr socket|null|log   where the challenge's fd 2 goes (socket)\n"
"      --stdio socket|pty  the socket itself, or a raw pty (socket)\n"
"      --kill-on-disconnect on|off   end a session whose player went (on)\n"
"      --reject-message TEXT      line sent to a refused player, whatever\n"
"                          the reason (default: one text per reason)\n"
"      --reject-message-REASON TEXT   the line for one reason: per-ip,\n"
"                          max-conns, rate, no-fds, no-memory, proxy-missing,\n"
"                          proxy-bad, pow-failed, pow-timeout, pending\n"
"      --backlog N         listen backlog (4096)\n"
"      --healthcheck 'PROGRAM [ARG...]'  run against the service, 0: healthy\n"
"      --healthcheck-interval DURATION, --healthcheck-timeout DURATION (30s, 20s)\n"
"      --healthcheck-user USER   the check's user (nobody)\n"
"\n"
"The gate, before a session starts:\n"
"      --proxy-from CIDR,...  peers that must send a PROXY header (none)\n"
"      --proxy-timeout DURATION  wait for the header (5s)\n"
"      --pow DIFFICULTY    kCTF proof of work first (0: off)\n"
"      --pow-timeout DURATION    wait for the solution (60s)\n"
"      --pow-exempt CIDR,...     clients that skip it (none)\n"
"      --pow-prompt TEXT   the prompt, with {challenge} (kCTF's)\n"
"      --pending-per-ip N  connections in the gate per source (16)\n"
"      --pending-max N     connections in the gate in all (1024)\n"
"\n"
"The jail (on by default; needs root):\n"
"      --sandbox on|off    jail each session (on)\n"
"      --uid-range A-B     uids, one per session (1900000000-1999999999)\n"
"      --memory SIZE       memory of the whole session (256M, 0: no cap)\n"
"      --pids N            processes of the whole session (64)\n"
"      --cpu CORES         CPU share, e.g. 0.5 or 50%% (1)\n"
"      --cpu-time DURATION CPU time per process (30s)\n"
"      --file-size SIZE    largest file written (16M)\n"
"      --open-files N      fds per process (256)\n"
"      --tmp-size SIZE     the session's /tmp (16M)\n"
"      --address-space SIZE  RLIMIT_AS (0: none)\n"
"      --hostname NAME     the jail's hostname (chald)\n"
"      --root DIR          the jail's root (default: a skeleton + binds)\n"
"      --bind-ro PATH, --bind-rw PATH   more paths in the jail\n"
"      --network none|host own empty network namespace (none)\n"
"      --seccomp on|off    the syscall filter (on)\n"
"      --setuid on|off     set-user-ID files of the root take effect (off)\n"
"      --pool N            jails built ahead, waiting for players (8)\n"
"      --seccomp-allow LIST, --seccomp-deny LIST   adjust the filter\n"
"\n"
"See chald(8) and chald.conf(5).\n");
}

/* Options. */

enum {
	OPT_VERSION = 256,
	OPT_NAME,
	OPT_GLOBAL,	/* the keys of [global] */
	OPT_SERVICE,	/* every per-service key */
	OPT_JAILENV,
};

static const struct option long_opts[] = {
	{ "config",	required_argument, NULL, 'c' },
	{ "check",	no_argument,	   NULL, 'n' },
	{ "foreground",	no_argument,	   NULL, 'f' },
	{ "port",	required_argument, NULL, 'p' },
	{ "bind",	required_argument, NULL, 'b' },
	{ "verbose",	no_argument,	   NULL, 'v' },
	{ "help",	no_argument,	   NULL, 'h' },
	{ "version",	no_argument,	   NULL, OPT_VERSION },
	{ "name",	required_argument, NULL, OPT_NAME },
	{ "jail-env",	no_argument,	   NULL, OPT_JAILENV },
	{ "pidfile",	required_argument, NULL, OPT_GLOBAL },
	{ "log",	required_argument, NULL, OPT_GLOBAL },
	{ "log-format",	required_argument, NULL, OPT_GLOBAL },
	{ "drain",	required_argument, NULL, OPT_GLOBAL },
	{ "grace",	required_argument, NULL, OPT_GLOBAL },
	{ "admin",	required_argument, NULL, OPT_GLOBAL },
	{ "admin-max-conns", required_argument, NULL, OPT_GLOBAL },
	{ "timeout",	required_argument, NULL, OPT_SERVICE },
	{ "max-conns",	required_argument, NULL, OPT_SERVICE },
	{ "per-ip",	required_argument, NULL, OPT_SERVICE },
	{ "ipv4-prefix", required_argument, NULL, OPT_SERVICE },
	{ "ipv6-prefix", required_argument, NULL, OPT_SERVICE },
	{ "rate",	required_argument, NULL, OPT_SERVICE },
	{ "burst",	required_argument, NULL, OPT_SERVICE },
	{ "workdir",	required_argument, NULL, OPT_SERVICE },
	{ "env",	required_argument, NULL, OPT_SERVICE },
	{ "stderr",	required_argument, NULL, OPT_SERVICE },
	{ "stdio",	required_argument, NULL, OPT_SERVICE },
	{ "kill-on-disconnect", required_argument, NULL, OPT_SERVICE },
	{ "reject-message", required_argument, NULL, OPT_SERVICE },
	{ "reject-message-per-ip", required_argument, NULL, OPT_SERVICE },
	{ "reject-message-max-conns", required_argument, NULL, OPT_SERVICE },
	{ "reject-message-rate", required_argument, NULL, OPT_SERVICE },
	{ "reject-message-no-fds", required_argument, NULL, OPT_SERVICE },
	{ "reject-message-no-memory", required_argument, NULL, OPT_SERVICE },
	{ "reject-message-proxy-missing", required_argument, NULL, OPT_SERVICE },
	{ "reject-message-proxy-bad", required_argument, NULL, OPT_SERVICE },
	{ "reject-message-pow-failed", required_argument, NULL, OPT_SERVICE },
	{ "reject-message-pow-timeout", required_argument, NULL, OPT_SERVICE },
	{ "reject-message-pending", required_argument, NULL, OPT_SERVICE },
	{ "backlog",	required_argument, NULL, OPT_SERVICE },
	{ "healthcheck", required_argument, NULL, OPT_SERVICE },
	{ "healthcheck-interval", required_argument, NULL, OPT_SERVICE },
	{ "healthcheck-timeout", required_argument, NULL, OPT_SERVICE },
	{ "healthcheck-user", required_argument, NULL, OPT_SERVICE },
	{ "sandbox",	required_argument, NULL, OPT_SERVICE },
	{ "uid-range",	required_argument, NULL, OPT_SERVICE },
	{ "memory",	required_argument, NULL, OPT_SERVICE },
	{ "pids",	required_argument, NULL, OPT_SERVICE },
	{ "cpu",	required_argument, NULL, OPT_SERVICE },
	{ "cpu-time",	required_argument, NULL, OPT_SERVICE },
	{ "file-size",	required_argument, NULL, OPT_SERVICE },
	{ "open-files",	required_argument, NULL, OPT_SERVICE },
	{ "tmp-size",	required_argument, NULL, OPT_SERVICE },
	{ "address-space", required_argument, NULL, OPT_SERVICE },
	{ "hostname",	required_argument, NULL, OPT_SERVICE },
	{ "root",	required_argument, NULL, OPT_SERVICE },
	{ "bind-ro",	required_argument, NULL, OPT_SERVICE },
	{ "bind-rw",	required_argument, NULL, OPT_SERVICE },
	{ "network",	required_argument, NULL, OPT_SERVICE },
	{ "seccomp",	required_argument, NULL, OPT_SERVICE },
	{ "setuid",	required_argument, NULL, OPT_SERVICE },
	{ "pool",	required_argument, NULL, OPT_SERVICE },
	{ "seccomp-allow", required_argument, NULL, OPT_SERVICE },
	{ "seccomp-deny", required_argument, NULL, OPT_SERVICE },
	{ "proxy-from",	required_argument, NULL, OPT_SERVICE },
	{ "proxy-timeout", required_argument, NULL, OPT_SERVICE },
	{ "pow",	required_argument, NULL, OPT_SERVICE },
	{ "pow-timeout", required_argument, NULL, OPT_SERVICE },
	{ "pow-exempt",	required_argument, NULL, OPT_SERVICE },
	{ "pow-prompt",	required_argument, NULL, OPT_SERVICE },
	{ "pending-per-ip", required_argument, NULL, OPT_SERVICE },
	{ "pending-max", required_argument, NULL, OPT_GLOBAL },
	{ NULL, 0, NULL, 0 }
};

/* fds 0-2 must be taken, or an accepted socket could land on one. */
static void
std_fds_ensure(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 &&
		    open("/dev/null", O_RDWR | O_NOCTTY) == -1)
			exit(1);
}

/* Each session holds a pidfd (and a jail its control socket), and bursts
 * of accepts hold sockets. */
static void
nofile_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * --jail-env: pwn.red/jail's JAIL_* variables make the one service that
 * serves /srv/app/run; they come before the command line's options, which
 * win.
 */
static void
jail_env_setup(struct cmdline *cl, int *argc, char ***argv)
{
	static struct jailenv je;
	char ebuf[CHALD_ERRLEN];

	if (cl->config_path != NULL || *argc > 0)
		errx(2, "--jail-env serves /srv/app/run: give neither -c FILE "
		    "nor a PROGRAM");
	if (image_setup(environ, &je, ebuf, sizeof(ebuf)) == -1)
		errx(1, "%s", ebuf);
	for (int i = je.nset - 1; i >= 0; i--)
		cmdline_prepend(cl, je.set[i].key, je.set[i].value);
	*argv = je.argv;
	*argc = 1;
	if (cl->name == NULL)
		cl->name = JAILENV_NAME;
}

/* What the built-in health check answers a proof of work with. */
static void
pow_secret_make(struct daemon *d)
{
	unsigned char rnd[32];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		err(1, "getrandom");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(d->pow_secret + 2 * i, 3, "%02x", rnd[i]);
}

int
main(int argc, char *argv[])
{
	struct daemon *d = &daemon_state;
	struct cmdline *cl = &cmdline;
	char ebuf[CHALD_ERRLEN];
	int ch, idx, check = 0, verbose = 0, readyfd = -1, pidfd = -1;
	int jail_env = 0;

	std_fds_ensure();
	if (getcwd(cl->cwd, sizeof(cl->cwd)) == NULL)
		err(1, "getcwd");
	while ((ch = getopt_long(argc, argv, "+c:nfp:b:vh", long_opts,
	    &idx)) != -1) {
		switch (ch) {
		case 'c':
			cl->config_path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'f':
			cl->foreground = 1;
			break;
		case 'p':
			cmdline_override(cl, "port", optarg, 0);
			break;
		case 'b':
			cmdline_override(cl, "listen", optarg, 0);
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("chald %s\n", CHALD_VERSION);
			return 0;
		case OPT_NAME:
			cl->name = optarg;
			break;
		case OPT_GLOBAL:
			cmdline_override(cl, long_opts[idx].name, optarg, 1);
			break;
		case OPT_SERVICE:
			cmdline_override(cl, long_opts[idx].name, optarg, 0);
			break;
		case OPT_JAILENV:
			jail_env = 1;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (jail_env)
		jail_env_setup(cl, &argc, &argv);
	if (cl->config_path == NULL && argc == 0) {
		fprintf(stderr, "chald: nothing to serve: give -c FILE or "
		    "-- PROGRAM [ARG...]\n");
		usage(stderr);
		return 2;
	}
	if (cl->config_path != NULL && argc > 0)
		errx(2, "give either -c FILE or a PROGRAM, not both");
	if (cl->config_path != NULL && cl->name != NULL)
		errx(2, "--name is for the command-line service; name "
		    "services in the file with [service NAME]");
	if (cl->name != NULL && (*cl->name == '\0' ||
	    strspn(cl->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") != strlen(cl->name)))
		errx(2, "--name %s: use letters, digits, '-', '_' and '.'",
		    cl->name);
	if (cl->config_path != NULL) {
		char *abs = realpath(cl->config_path, NULL);

		if (abs == NULL)
			err(1, "%s", cl->config_path);
		cl->config_path = abs;
	}
	cl->argv = argv;

	d->cmd = cl;
	d->conf = config_load(cl, ebuf, sizeof(ebuf));
	if (d->conf == NULL)
		errx(1, "%s", ebuf);
	d->conf->verbose = verbose;
	/* What the jail needs of the host, before anything is opened. */
	if (preflight_check(d->conf, ebuf, sizeof(ebuf)) == -1)
		errx(1, "%s", ebuf);
	if (check) {
		jailview_warnings(d->conf, stderr);
		config_print(d->conf, stdout);
		fprintf(stderr, "chald: configuration OK\n");
		return 0;
	}
	if (!cl->foreground && d->conf->log != NULL &&
	    strcmp(d->conf->log, "stderr") == 0)
		errx(1, "log stderr: a detached daemon has no stderr; use -f, "
		    "or log to syslog or a file");
	/* Before detaching, so that the launcher reports a log that cannot
	 * be had; opened again after it. */
	if (log_configure(d->conf, cl->foreground, ebuf, sizeof(ebuf)) == -1)
		errx(1, "%s", ebuf);
	if (!cl->foreground && d->conf->log == NULL &&
	    !log_syslog_reachable(ebuf, sizeof(ebuf)))
		warnx("no syslog (%s): logging to %s", ebuf, LOG_FALLBACK);
	if (notify_init(ebuf, sizeof(ebuf)) == -1)
		warnx("%s", ebuf);
	if (d->conf->pidfile != NULL) {
		pidfd = pidfile_open(d->conf->pidfile, ebuf, sizeof(ebuf));
		if (pidfd == -1)
			errx(1, "%s", ebuf);
	}
	nofile_raise();
	loop_signals_setup();
	listener_open_all(d);
	if (admin_open(d, ebuf, sizeof(ebuf)) == -1)
		errx(1, "admin: %s", ebuf);
	if (spawn_init() == -1)
		err(1, "spawn_init");
	if (sesstable_init(&d->sessions) == -1 ||
	    srctable_init(&d->gate_sources) == -1)
		errx(1, "out of memory");
	pow_secret_make(d);
	if (!cl->foreground) {
		for (struct service *s = d->conf->services; s != NULL;
		    s = s->next)
			if (s->sandbox && geteuid() == 0 &&
			    cgroup_enter_leaf() == -1)
				err(1, "sandbox: cgroup v2: cannot move into a "
				    "leaf cgroup");
		readyfd = daemon_detach();
		if (readyfd == -1)
			err(1, "daemon");
	}
	if (log_configure(d->conf, cl->foreground, ebuf, sizeof(ebuf)) == -1) {
		daemon_ready(readyfd, ebuf);
		errx(1, "%s", ebuf);
	}
	/* After detaching: the cgroups are named after the daemon's pid. */
	if (sandbox_init(&d->sandbox, d->conf, ebuf, sizeof(ebuf)) == -1) {
		char msg[CHALD_ERRLEN + 16];

		snprintf(msg, sizeof(msg), "sandbox: %s", ebuf);
		daemon_ready(readyfd, msg);
		errx(1, "%s", msg);
	}
	if (pidfd != -1 && pidfile_write(pidfd) == -1) {
		snprintf(ebuf, sizeof(ebuf), "pidfile %s: %s", d->conf->pidfile,
		    strerror(errno));
		daemon_ready(readyfd, ebuf);
		fatalx("%s", ebuf);
	}
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd == -1)
		fatal("epoll_create1");
	log_event("start version=%s pid=%d services=%d config=%s",
	    CHALD_VERSION, (int)getpid(), d->conf->nservices,
	    log_quote(cl->config_path ? cl->config_path : "command-line"));
	jailview_warnings(d->conf, NULL);
	listener_announce(d);
	daemon_ready(readyfd, NULL);

	loop_run(d);

	sandbox_shutdown(&d->sandbox);
	if (pidfd != -1)
		pidfile_remove(d->conf->pidfile, pidfd);
	log_event("exit sessions=%zu", d->sessions.count);
	log_close();
	return 0;
}
