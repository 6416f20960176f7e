/*
 * main.c: options, the order of startup, and the event loop. The parent
 * only accepts, counts, spawns and reaps: one epoll loop over the listeners
 * and a self-pipe written by the signal handlers, with the next session
 * deadline as its timeout. Everything about a connection beyond counting
 * happens in the child (spawn.c).
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chald.h"

#define ACCEPT_BURST	64	/* per wakeup, so one listener can't starve
				   the others */
#define PAUSE_MS	100	/* listener rest after EMFILE/ENFILE */
#define SWEEP_MS	10000	/* idle per-source entries dropped this often */
#define KILL_WAIT_MS	3000	/* after SIGKILL at shutdown, before giving up */
#define CGROUP_RETRY_MS	50	/* while a jail's cgroup is not empty yet */
#define REAP_SWEEP_MS	200	/* SIGCHLD sweeps at most this often, */
#define REAP_IDLE_MS	2000	/* or this, when every session has a pidfd */
#define POOL_QUIET_MS	5	/* refill the pools only this long after the
				   last accept: a jail being built would slow
				   the player just accepted */
#define MAX_OVERRIDES	128

struct override {
	const char	*key;
	const char	*value;
	int		 global;
};

/* The one configuration and the session table; nothing else is global. */
static struct config	*conf;
static struct svcstate	*states;
static struct sesstable	 sessions;
static struct sandbox	 sandbox;

static int		 epfd = -1;
static int		 sigpipe_fds[2] = { -1, -1 };
static int		 pidfd = -1;
static char		 selfpipe_tag;	/* epoll data for the self-pipe */

static volatile sig_atomic_t got_chld, got_hup, got_term;

static int		 shutting_down;
static int		 pool_deficit;	/* jails the pools still lack */
static int64_t		 last_accept_ms;
static int64_t		 next_reap_ms;	/* the next SIGCHLD sweep, at the earliest */
static int		 killed_all;
static int64_t		 grace_end_ms, hard_end_ms, next_sweep_ms;

/* What the command line said, kept for reloads. */
static const char	*config_path;
static char		**cmd_argv;
static const char	*cmd_name;
static char		 cwd[PATH_MAX];
static struct override	 overrides[MAX_OVERRIDES];
static int		 noverrides;

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
"      --grace DURATION    wait this long at shutdown before SIGKILL (5s)\n"
"  -v, --verbose           log debug events too\n"
"  -h, --help              this text\n"
"      --version           print the version\n"
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
"      --reject-message TEXT      line sent to a refused player\n"
"      --backlog N         listen backlog (4096)\n"
"\n"
"The jail (on by default; needs root):\n"
"      --sandbox on|off    jail each session (on)\n"
"      --uid-range A-B     one uid per live session (200000-299999)\n"
"      --memory SIZE       memory of the whole session (256M, 0: no cap)\n"
"      --pids N            processes of the whole session (64)\n"
"      --cpu CORES         CPU share, e.g. 0.5 or 50%% (1)\n"
"      --cpu-time DURATION CPU time per process (30s)\n"
"      --file-size SIZE    largest file written (16M)\n"
"      --open-files N      fds per process (256)\n"
"      --tmp-size SIZE     the session's /tmp (16M)\n"
"      --address-space SIZE  RLIMIT_AS (0: none)\n"
"      --root DIR          the jail's root (default: a skeleton + binds)\n"
"      --bind-ro PATH, --bind-rw PATH   more paths in the jail\n"
"      --network none|host own empty network namespace (none)\n"
"      --seccomp on|off    the syscall filter (on)\n"
"      --pool N            jails built ahead, waiting for players (2)\n"
"      --seccomp-allow LIST, --seccomp-deny LIST   adjust the filter\n"
"\n"
"See chald(8) and chald.conf(5).\n");
}

/* Configuration, from the file or the command line, plus overrides. */

static char *
cwd_join(const char *p)
{
	char *out;

	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s/%s", cwd, p) < 0)
		return NULL;
	return out;
}

static struct config *
config_load(char *err, size_t errlen)
{
	struct config *c = config_new();
	char msg[CHALD_ERRLEN];

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (config_path != NULL) {
		if (config_parse_file(c, config_path, err, errlen) == -1)
			goto fail;
	} else {
		struct service *s;
		const char *base = strrchr(cmd_argv[0], '/');
		int n = 0;

		s = service_new(cmd_name ? cmd_name : base ? base + 1 :
		    cmd_argv[0], NULL, 0);
		while (cmd_argv[n] != NULL)
			n++;
		s->argv = calloc(n + 1, sizeof(*s->argv));
		for (int i = 0; i < n; i++)
			s->argv[i] = i == 0 && strchr(cmd_argv[0], '/') ?
			    cwd_join(cmd_argv[0]) : strdup(cmd_argv[i]);
		s->argc = n;
		config_add_service(c, s);
	}
	for (int i = 0; i < noverrides; i++) {
		struct override *o = &overrides[i];

		if (o->global) {
			if (config_set_global(c, o->key, o->value, msg,
			    sizeof(msg)) == -1) {
				snprintf(err, errlen, "--%s: %s", o->key, msg);
				goto fail;
			}
			continue;
		}
		for (struct service *s = c->services; s != NULL; s = s->next)
			if (config_set_service(s, o->key, o->value, cwd, msg,
			    sizeof(msg)) == -1) {
				snprintf(err, errlen, "--%s: %s",
				    strcmp(o->key, "listen") == 0 ? "bind" :
				    o->key, msg);
				goto fail;
			}
	}
	if (config_finish(c, err, errlen) == -1)
		goto fail;
	/* The daemon works from "/": file names are taken from here, now. */
	if (c->log != NULL && strcmp(c->log, "stderr") != 0 &&
	    strcmp(c->log, "syslog") != 0 && c->log[0] != '/') {
		char *abs = cwd_join(c->log);

		free(c->log);
		c->log = abs;
	}
	if (c->pidfile != NULL && c->pidfile[0] != '/') {
		char *abs = cwd_join(c->pidfile);

		free(c->pidfile);
		c->pidfile = abs;
	}
	return c;
fail:
	config_free(c);
	return NULL;
}

/* Signals reach the loop through a self-pipe. */

static void
on_signal(int sig)
{
	int saved = errno;

	if (sig == SIGCHLD)
		got_chld = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = sig;
	if (write(sigpipe_fds[1], "", 1) == -1) {
		/* full: the loop will look anyway */
	}
	errno = saved;
}

static void
signals_setup(void)
{
	struct sigaction sa;
	const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT };

	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) == -1)
			fatal("sigaction");
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static void
signals_drain(void)
{
	char buf[256];

	while (read(sigpipe_fds[0], buf, sizeof(buf)) > 0)
		;
}

/* Listeners. */

static void
state_poll(struct svcstate *st, int on)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = st };

	if (st->fd == -1)
		return;
	if (epoll_ctl(epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, st->fd,
	    &ev) == -1 && errno != ENOENT && errno != EEXIST)
		log_warn("epoll_ctl");
}

static void
state_free(struct svcstate *st)
{
	struct svcstate **pp;

	for (pp = &states; *pp != NULL; pp = &(*pp)->next)
		if (*pp == st) {
			*pp = st->next;
			break;
		}
	srctable_free(&st->sources);
	free(st->name);
	free(st);
}

/* A service dropped by a reload goes once no session or jail needs it. */
static void
state_free_unused(struct svcstate *st)
{
	if (st->removed && st->conns == 0 && st->unserved == 0)
		state_free(st);
}

static void
state_close(struct svcstate *st)
{
	if (st->fd == -1)
		return;
	if (!st->paused)
		state_poll(st, 0);
	close(st->fd);
	st->fd = -1;
	st->paused = 0;
}

/*
 * When the process or the system is out of fds, accept fails until a
 * session ends; polling again at once would spin. Rest the listener.
 */
static void
listener_pause(struct svcstate *st, int error)
{
	state_poll(st, 0);
	st->paused = 1;
	st->pause_until_ms = now_ms() + PAUSE_MS;
	log_event("accept-paused service=%s error=%s ms=%d", st->name,
	    log_quote(strerror(error)), PAUSE_MS);
}

static void
listeners_resume(int64_t now)
{
	for (struct svcstate *st = states; st != NULL; st = st->next)
		if (st->paused && now >= st->pause_until_ms) {
			st->paused = 0;
			state_poll(st, 1);
		}
}

/*
 * Exits: each session's pidfd is in the epoll set, so the session that
 * ended is reaped by its own pid, whatever the number of live sessions
 * (waitid(P_ALL) walks every child: 0.75 ms with 10,000 of them here).
 * Sessions are only collected during an epoll batch and reaped after it,
 * so no later event of the same batch can meet a freed session.
 */
static struct session	*exited;
static size_t		 unwatched;	/* sessions without a watched pidfd */

/* Left to the SIGCHLD sweep, which then runs every REAP_SWEEP_MS. */
static void
exit_to_sweep(struct session *sess)
{
	int64_t soon = now_ms() + REAP_SWEEP_MS;

	sess->unwatched = 1;
	unwatched++;
	if (next_reap_ms > soon)
		next_reap_ms = soon;
}

static void
exit_watch(struct session *sess)
{
	struct epoll_event ev = { .events = EPOLLIN };

	sess->exittag.kind = EV_EXIT;
	sess->exittag.sess = sess;
	ev.data.ptr = &sess->exittag;
	if (sess->pidfd >= 0 &&
	    epoll_ctl(epfd, EPOLL_CTL_ADD, sess->pidfd, &ev) == 0)
		return;
	if (sess->pidfd >= 0)
		log_warn("epoll_ctl pidfd");
	exit_to_sweep(sess);
}

static void
exit_unwatch(struct session *sess)
{
	if (sess->unwatched)
		unwatched--;
	else
		epoll_ctl(epfd, EPOLL_CTL_DEL, sess->pidfd, NULL);
	sess->unwatched = 0;
}

static void
exit_event(struct session *sess)
{
	if (sess->exited)
		return;
	sess->exited = 1;
	sess->enext = exited;
	exited = sess;
}

/* Jails: started ahead for the pool, or at accept when none is ready. */

static void
jail_poll(struct session *sess, int on)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = sess };

	if (sess->ctlfd < 0)
		return;
	if (epoll_ctl(epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, sess->ctlfd,
	    &ev) == -1 && errno != ENOENT && errno != EEXIST)
		log_warn("epoll_ctl");
}

/*
 * epoll watches the file, not the fd: the registration goes first, so
 * that no other reference to the file can keep it alive after close().
 */
static void
jail_close_ctl(struct session *sess)
{
	if (sess->ctlfd < 0)
		return;
	jail_poll(sess, 0);
	close(sess->ctlfd);
	sess->ctlfd = -1;
}

static struct session *
jail_new(struct svcstate *st, char *err, size_t errlen)
{
	struct session *sess = calloc(1, sizeof(*sess));

	if (sess == NULL) {
		snprintf(err, errlen, "step=memory error=%s",
		    log_quote(strerror(ENOMEM)));
		return NULL;
	}
	sess->kind = EV_JAIL;
	sess->svc = st;
	sess->pidfd = -1;
	sess->ctlfd = -1;
	sess->errfd = -1;
	if (sandbox_start(&sandbox, st->svc, sess, err, errlen) == -1) {
		free(sess);
		return NULL;
	}
	if (sesstable_add(&sessions, sess) == -1) {
		/* Untracked it cannot be reaped properly: don't run it. */
		session_kill(sess, SIGKILL);
		waitpid(sess->pid, NULL, 0);
		close(sess->ctlfd);
		sandbox_end(&sandbox, sess, &(struct cgstats){ 0 });
		free(sess);
		snprintf(err, errlen, "step=memory error=%s",
		    log_quote(strerror(ENOMEM)));
		return NULL;
	}
	st->unserved++;
	jail_poll(sess, 1);
	exit_watch(sess);
	return sess;
}

/* Takes a jail out of the pool's counts (served, failed or flushed). */
static void
pool_forget(struct session *sess)
{
	struct svcstate *st = sess->svc;

	if (!sess->pooled)
		return;
	sess->pooled = 0;
	if (sess->state == JAIL_STARTING) {
		st->pool_starting--;
		return;
	}
	st->pool_ready--;
	for (struct session **pp = &st->pool; *pp != NULL;
	    pp = &(*pp)->pnext)
		if (*pp == sess) {
			*pp = sess->pnext;
			break;
		}
}

static struct session *
pool_take(struct svcstate *st)
{
	struct session *sess = st->pool;

	if (sess == NULL)
		return NULL;
	pool_forget(sess);
	return sess;
}

static void
pools_flush(void)
{
	for (struct svcstate *st = states; st != NULL; st = st->next)
		for (size_t i = 0; i < sessions.nbuckets; i++)
			for (struct session *s = sessions.buckets[i];
			    s != NULL; s = s->hnext)
				if (s->svc == st && s->pooled) {
					pool_forget(s);
					session_kill(s, SIGKILL);
				}
}

/* Builds jails for the pool, a few per loop turn so accepts come first. */
static int
pools_refill(int64_t now)
{
	char err[CHALD_ERRLEN];
	int deficit = 0;

	if (shutting_down)
		return 0;
	if (now < last_accept_ms + POOL_QUIET_MS)
		return 1;	/* come back when it is quiet */
	for (struct svcstate *st = states; st != NULL; st = st->next) {
		struct service *s = st->svc;
		int started = 0;

		if (st->removed || s == NULL || !s->sandbox ||
		    now < st->pool_pause_until_ms)
			continue;
		while (st->pool_ready + st->pool_starting < s->pool &&
		    started < 2) {
			struct session *sess = jail_new(st, err, sizeof(err));

			if (sess == NULL) {
				log_event("pool-failed service=%s %s",
				    st->name, err);
				st->pool_pause_until_ms = now + 1000;
				break;
			}
			sess->pooled = 1;
			st->pool_starting++;
			started++;
		}
		if (now >= st->pool_pause_until_ms)
			deficit += s->pool - st->pool_ready - st->pool_starting;
	}
	return deficit;
}

static void
jail_event(struct session *sess)
{
	struct svcstate *st = sess->svc;
	char err[CHALD_ERRLEN];
	int r = sandbox_ctl_read(sess, err, sizeof(err));

	switch (r) {
	case STEP_NONE:
		break;
	case STEP_EXECD:
		/* Kept, unpolled: init may say the player went (STEP_GONE),
		 * read when the session ends. */
		jail_poll(sess, 0);
		break;
	case STEP_READY:
		if (sess->served || !sess->pooled)
			break;
		/* Nothing more to hear until it has a player. */
		jail_poll(sess, 0);
		st->pool_starting--;
		sess->pnext = st->pool;
		st->pool = sess;
		st->pool_ready++;
		break;
	default:
		if (sess->served)
			log_event("spawn-failed service=%s ip=%s port=%d pid=%d "
			    "%s", st->name, sess->ip, sess->port,
			    (int)sess->pid, err);
		else if (sess->pooled) {
			/* A flushed jail dies on purpose: nothing to report. */
			log_event("pool-failed service=%s pid=%d %s", st->name,
			    (int)sess->pid, err);
			pool_forget(sess);
			st->pool_pause_until_ms = now_ms() + 1000;
		}
		jail_close_ctl(sess);
		break;
	}
}

/* Sessions. */

static void
session_reject(struct svcstate *st, int fd, const char *ip, int port,
    const char *reason)
{
	struct service *s = st->svc;
	char line[1100];
	int n;

	n = snprintf(line, sizeof(line), "%s\n", s->reject_msg);
	if (n > 0 && send(fd, line, (size_t)n < sizeof(line) ? (size_t)n :
	    sizeof(line) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
		/* the player is gone already */
	}
	close(fd);
	log_event("reject service=%s ip=%s port=%d reason=%s conns=%d/%d",
	    st->name, ip, port, reason, st->conns, s->max_conns);
}

/*
 * "stderr = log": the challenge writes into a pipe and the daemon logs
 * what comes out, a line per event, up to STDERR_CAP bytes a session. The
 * challenge never holds the log itself (a terminal, or a file it could
 * truncate).
 */
#define STDERR_CAP	65536

static int
stderr_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1) {
		close(p[0]);
		close(p[1]);
		p[0] = p[1] = -1;
		return -1;
	}
	return 0;
}

static void
stderr_watch(struct session *sess, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };

	sess->errfd = fd;
	if (fd < 0)
		return;
	sess->errtag.kind = EV_STDERR;
	sess->errtag.sess = sess;
	ev.data.ptr = &sess->errtag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_warn("epoll_ctl");
		close(fd);
		sess->errfd = -1;
	}
}

static void
stderr_close(struct session *sess)
{
	if (sess->errfd < 0)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, sess->errfd, NULL);
	close(sess->errfd);
	sess->errfd = -1;
}

/* Reads what is there; logs each line while under the cap. */
static void
stderr_event(struct session *sess)
{
	char buf[4096];
	ssize_t n;

	for (int i = 0; i < 16; i++) {
		n = read(sess->errfd, buf, sizeof(buf) - 1);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			stderr_close(sess);
			return;
		}
		buf[n] = '\0';
		for (char *line = buf, *nl; line < buf + n; line = nl + 1) {
			nl = memchr(line, '\n', (size_t)(buf + n - line));
			if (nl == NULL)
				nl = buf + n;
			*nl = '\0';
			if (*line == '\0' || sess->errbytes >= STDERR_CAP)
				continue;
			log_event("stderr service=%s pid=%d line=%s",
			    sess->svc->name, (int)sess->pid, log_quote(line));
			sess->errbytes += (size_t)(nl - line) + 1;
			if (sess->errbytes >= STDERR_CAP)
				log_event("stderr-capped service=%s pid=%d "
				    "bytes=%d", sess->svc->name,
				    (int)sess->pid, STDERR_CAP);
		}
	}
}

/* A jail from the pool, or a new one, is handed the player's socket. */
static struct session *
session_jail(struct svcstate *st, int fd, int errfd, const char *ip,
    int port)
{
	struct session *sess = NULL;
	char err[CHALD_ERRLEN];

	/* A pooled jail may have died unseen: then try a fresh one. */
	for (int tries = 0; tries < 2; tries++) {
		sess = tries == 0 ? pool_take(st) : NULL;
		if (sess == NULL &&
		    (sess = jail_new(st, err, sizeof(err))) == NULL) {
			log_event("spawn-failed service=%s ip=%s port=%d %s",
			    st->name, ip, port, err);
			close(fd);
			return NULL;
		}
		if (sandbox_handoff(sess, fd, errfd, ip, port) == 0)
			break;
		log_event("spawn-failed service=%s ip=%s port=%d pid=%d "
		    "step=handoff error=%s", st->name, ip, port,
		    (int)sess->pid, log_quote(strerror(errno)));
		session_kill(sess, SIGKILL);	/* reaped as unserved */
		if (tries == 1) {
			close(fd);
			return NULL;
		}
	}
	close(fd);
	st->unserved--;
	jail_poll(sess, 1);
	return sess;
}

/* An unjailed session: fork+exec the vfork way (spawn.c). */
static struct session *
session_spawn(struct svcstate *st, int fd, int errfd,
    const struct sockaddr *sa, const char *ip, int port)
{
	struct spawn_req req = { .svc = st->svc, .sock = fd, .errfd = errfd,
	    .peer = sa, .peer_ip = ip, .peer_port = port };
	struct session *sess = calloc(1, sizeof(*sess));
	char err[CHALD_ERRLEN];
	pid_t pid, failed;
	int pfd;

	if (sess == NULL) {
		session_reject(st, fd, ip, port, "no-memory");
		return NULL;
	}
	pid = spawn_session(&req, &pfd, &failed, err, sizeof(err));
	if (pid == -1 || !st->svc->kill_disc) {
		close(fd);
		fd = -1;	/* else the daemon watches it (peer.c) */
	}
	if (pid == -1) {
		log_event("spawn-failed service=%s ip=%s port=%d %s", st->name,
		    ip, port, err);
		if (failed > 0)
			waitpid(failed, NULL, 0);
		free(sess);
		return NULL;
	}
	sess->pid = pid;
	sess->pidfd = pfd;
	sess->ctlfd = -1;
	sess->errfd = -1;
	sess->svc = st;
	if (sesstable_add(&sessions, sess) == -1) {
		/* No memory to track it: don't run it untracked. */
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (pfd >= 0)
			close(pfd);
		if (fd >= 0)
			close(fd);
		free(sess);
		log_event("spawn-failed service=%s ip=%s port=%d step=memory "
		    "error=%s", st->name, ip, port, log_quote(strerror(ENOMEM)));
		return NULL;
	}
	exit_watch(sess);
	peer_watch(epfd, sess, fd);
	return sess;
}

static void
session_start(struct svcstate *st, int fd, const struct sockaddr *sa)
{
	struct service *s = st->svc;
	struct source *src = NULL;
	struct session *sess;
	struct srckey key;
	char ip[INET6_ADDRSTRLEN];
	int port, errp[2] = { -1, -1 };
	int64_t now = now_ms();
	pid_t pid;

	addr_format(sa, ip, sizeof(ip), &port);
	if (s->per_ip > 0 || s->rate > 0) {
		srckey_make(&key, sa, s->v4_prefix, s->v6_prefix);
		src = srctable_get(&st->sources, &key, 1);
		if (src == NULL) {
			session_reject(st, fd, ip, port, "no-memory");
			return;
		}
		if (!source_take_token(src, s->rate, s->burst, now)) {
			session_reject(st, fd, ip, port, "rate");
			return;
		}
		if (s->per_ip > 0 && src->conns >= s->per_ip) {
			session_reject(st, fd, ip, port, "per-ip");
			return;
		}
	}
	if (s->max_conns > 0 && st->conns >= s->max_conns) {
		session_reject(st, fd, ip, port, "max-conns");
		return;
	}
	if (s->stderr_mode == STDERR_LOG && stderr_pipe(errp) == -1) {
		session_reject(st, fd, ip, port, "no-fds");
		return;
	}
	sess = s->sandbox ? session_jail(st, fd, errp[1], ip, port) :
	    session_spawn(st, fd, errp[1], sa, ip, port);
	if (errp[1] >= 0)
		close(errp[1]);
	if (sess == NULL) {
		if (errp[0] >= 0)
			close(errp[0]);
		return;
	}
	stderr_watch(sess, errp[0]);
	pid = sess->pid;
	sess->port = port;
	snprintf(sess->ip, sizeof(sess->ip), "%s", ip);
	sess->start_ms = now;
	if (src != NULL) {
		sess->src = key;
		sess->tracked = 1;
		src->conns++;
	}
	if (s->timeout_ms > 0 &&
	    sesstable_set_deadline(&sessions, sess, now + s->timeout_ms) == -1)
		session_kill(sess, SIGKILL);	/* no deadline: don't run it */
	st->conns++;
	if (sess->jailed)
		log_event("accept service=%s ip=%s port=%d pid=%d conns=%d/%d "
		    "uid=%u", st->name, ip, port, (int)pid, st->conns,
		    s->max_conns, (unsigned)sess->uid);
	else
		log_event("accept service=%s ip=%s port=%d pid=%d conns=%d/%d",
		    st->name, ip, port, (int)pid, st->conns, s->max_conns);
}

static void
accept_burst(struct svcstate *st)
{
	for (int i = 0; i < ACCEPT_BURST && st->fd != -1; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd;

		fd = accept4(st->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:
				return;
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
			case EPERM:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				listener_pause(st, errno);
				return;
			default:
				log_warn("service %s: accept", st->name);
				return;
			}
		}
		session_start(st, fd, (struct sockaddr *)&ss);
		last_accept_ms = now_ms();
	}
}

/*
 * A jailed session's init cannot die of a signal (it is pid 1 of its
 * namespace), so it exits with 128+N for a challenge killed by signal N.
 */
static void
status_decode(const struct session *sess, int status, int *sig, int *code)
{
	*sig = 0;
	*code = 0;
	if (WIFSIGNALED(status))
		*sig = WTERMSIG(status);
	else if (sess->jailed && WEXITSTATUS(status) > 128 &&
	    WEXITSTATUS(status) <= 128 + 64)
		*sig = WEXITSTATUS(status) - 128;
	else
		*code = WEXITSTATUS(status);
}

static const char *
cause_name(const struct session *sess, int sig, int code,
    const struct cgstats *cg, int64_t cpu_ms)
{
	switch (sess->cause) {
	case CAUSE_TIMEOUT:
		return "timeout";
	case CAUSE_SHUTDOWN:
		return "shutdown";
	case CAUSE_DISCONNECT:
		return "disconnect";
	case CAUSE_NONE:
		break;
	}
	if (cg->oom)
		return "oom";
	if (sig == SIGXCPU || (sig == SIGKILL && sess->cpu_time_ms > 0 &&
	    cpu_ms >= sess->cpu_time_ms))
		return "cpu-time";
	/* A fork that failed at the cap only matters if the session died. */
	if (cg->pids_max && (sig != 0 || code != 0))
		return "pids";
	return sig ? "signal" : "exit";
}

static void
session_end(struct session *sess, int status, const struct rusage *ru)
{
	struct svcstate *st = sess->svc;
	struct cgstats cg = { .peak = -1, .cpu_us = -1 };
	int64_t now = now_ms(), cpu_ms;
	long long peak;
	char how[32], extra[96] = "";
	int sig, code;

	cpu_ms = (int64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000 +
	    (ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1000;
	exit_unwatch(sess);
	peer_unwatch(epfd, sess);
	if (sess->errfd >= 0) {
		stderr_event(sess);	/* what was written before the end */
		stderr_close(sess);
	}
	if (sess->jailed) {
		if (sess->cause == CAUSE_NONE && sandbox_player_gone(sess))
			sess->cause = CAUSE_DISCONNECT;
		jail_close_ctl(sess);
		sandbox_end(&sandbox, sess, &cg);
		snprintf(extra, sizeof(extra), " uid=%u", (unsigned)sess->uid);
		/* The kernel reaps what is left of a pid namespace itself, so
		 * only the cgroup knows the whole session's CPU time. */
		if (cg.cpu_us >= 0)
			cpu_ms = cg.cpu_us / 1000;
	}
	peak = cg.peak >= 0 ? cg.peak : (long long)ru->ru_maxrss * 1024;
	status_decode(sess, status, &sig, &code);
	if (sig)
		snprintf(how, sizeof(how), "signal:%d", sig);
	else
		snprintf(how, sizeof(how), "exit:%d", code);
	log_event("end service=%s pid=%d ip=%s port=%d status=%s cause=%s "
	    "secs=%.3f cpu_secs=%.3f peak_mem=%lld%s", st->name,
	    (int)sess->pid, sess->ip, sess->port, how,
	    cause_name(sess, sig, code, &cg, cpu_ms),
	    (double)(now - sess->start_ms) / 1000, (double)cpu_ms / 1000, peak,
	    extra);
	if (sess->pidfd >= 0)		/* a jail's is closed by sandbox_end */
		close(sess->pidfd);
	sesstable_remove(&sessions, sess);
	st->conns--;
	if (sess->tracked)
		srctable_release(&st->sources, &sess->src, st->rate,
		    st->burst, now);
	state_free_unused(st);
	free(sess);
}

/* A jail that never had a player: nothing to log but its cleanup. */
static void
jail_end(struct session *sess, int status)
{
	struct svcstate *st = sess->svc;
	struct cgstats cg;

	log_debug("jail-end service=%s pid=%d status=0x%x", st->name,
	    (int)sess->pid, status);
	pool_forget(sess);
	exit_unwatch(sess);
	jail_close_ctl(sess);
	sandbox_end(&sandbox, sess, &cg);
	sesstable_remove(&sessions, sess);
	st->unserved--;
	state_free_unused(st);
	free(sess);
}

/* Collects one exited child; sess is its session, if it has one. */
static int
reap_one(pid_t pid, struct session *sess)
{
	struct rusage ru;
	int status;

	/* A jail's pid namespace is emptied by the kernel instead. */
	if (sess != NULL && !sess->jailed)
		kill(-pid, SIGKILL);
	if (wait4(pid, &status, WNOHANG, &ru) <= 0)
		return -1;
	log_debug("reap pid=%d status=0x%x session=%s", (int)pid, status,
	    sess ? "yes" : "no");
	if (sess != NULL && sess->jailed && !sess->served)
		jail_end(sess, status);
	else if (sess != NULL)
		session_end(sess, status, &ru);
	return 0;
}

/* The sessions whose pidfd said so, after the epoll batch. */
static void
reap_exited(void)
{
	while (exited != NULL) {
		struct session *sess = exited;

		exited = sess->enext;
		if (reap_one(sess->pid, sess) == 0)
			continue;
		/* Exited but not waitable (a tracer holds the zombie): the
		 * level-triggered pidfd would wake every turn until then. */
		sess->exited = 0;
		epoll_ctl(epfd, EPOLL_CTL_DEL, sess->pidfd, NULL);
		exit_to_sweep(sess);
	}
}

/*
 * The SIGCHLD sweep: one SIGCHLD can stand for many exits, so it collects
 * until nothing is left. Sessions are reaped through their pidfds; this
 * catches whatever has none, at most every REAP_SWEEP_MS while some
 * session has none and every REAP_IDLE_MS otherwise, since it walks every
 * child. Leftovers of a session are killed while its leader is
 * still a zombie: the zombie holds the pid, so the process group id cannot
 * have been reused by then.
 */
static void
reap(void)
{
	for (;;) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == -1 ||
		    si.si_pid == 0)
			break;
		if (reap_one(si.si_pid, sesstable_find(&sessions, si.si_pid))
		    == -1)
			break;
	}
}

static void
deadlines_expire(int64_t now)
{
	struct session *sess;

	while ((sess = sesstable_next_deadline(&sessions)) != NULL &&
	    sess->deadline_ms <= now) {
		session_kill(sess, SIGKILL);
		sess->cause = CAUSE_TIMEOUT;
		sesstable_clear_deadline(&sessions, sess);
	}
}

static void
sessions_signal(int sig, enum end_cause cause)
{
	for (size_t i = 0; i < sessions.nbuckets; i++)
		for (struct session *s = sessions.buckets[i]; s != NULL;
		    s = s->hnext) {
			session_kill(s, sig);
			if (s->cause == CAUSE_NONE)
				s->cause = cause;
		}
}

static void
sources_sweep(int64_t now)
{
	for (struct svcstate *st = states; st != NULL; st = st->next)
		srctable_expire(&st->sources, st->rate, st->burst, now);
}

/* Startup, reload, shutdown. */

static int
states_open(struct config *c)
{
	char err[CHALD_ERRLEN];

	for (struct service *s = c->services; s != NULL; s = s->next) {
		struct svcstate *st = calloc(1, sizeof(*st));

		if (st == NULL || srctable_init(&st->sources) == -1)
			errx(1, "out of memory");
		st->kind = EV_LISTENER;
		st->name = strdup(s->name);
		st->svc = s;
		st->rate = s->rate;
		st->burst = s->burst;
		st->fd = listen_open(s, &st->port, err, sizeof(err));
		if (st->fd == -1)
			errx(1, "service %s: %s", s->name, err);
		st->next = states;
		states = st;
	}
	return 0;
}

static void
states_announce(void)
{
	for (struct svcstate *st = states; st != NULL; st = st->next)
		if (!st->removed)
			log_event("listening service=%s addr=%s port=%d",
			    st->name, st->svc->addr, st->port);
}

static int
log_setup(struct config *c, int foreground)
{
	const char *target = c->log;

	if (target == NULL)
		target = foreground ? "stderr" : "syslog";
	return log_init(target, c->log_format, c->verbose);
}

/* A listener of the old configuration that a new service can take over. */
struct slot {
	int		 fd;
	int		 port;
	struct svcstate	*from;
};

static struct svcstate *
reload_donor(const struct service *s, const struct slot *slots, int n)
{
	for (struct svcstate *st = states; st != NULL; st = st->next) {
		int taken = 0;

		if (st->removed || st->fd == -1 ||
		    st->svc->port != s->port ||
		    strcmp(st->svc->addr, s->addr) != 0)
			continue;
		/* "port = 0" picks a port: the same service keeps its own. */
		if (s->port == 0 && strcmp(st->name, s->name) != 0)
			continue;
		for (int j = 0; j < n; j++)
			taken |= slots[j].from == st;
		if (!taken)
			return st;
	}
	return NULL;
}

/*
 * A listener whose address and port stay is handed to the new service as
 * it is, so a reload never refuses players in between. Returns -1, with
 * everything it opened closed again, if a new listener cannot be opened.
 */
static int
reload_listeners(struct config *nc, struct slot *slots, char *err,
    size_t errlen)
{
	int i = 0;

	for (struct service *s = nc->services; s != NULL; s = s->next, i++) {
		slots[i].from = reload_donor(s, slots, i);
		if (slots[i].from != NULL) {
			slots[i].fd = slots[i].from->fd;
			slots[i].port = slots[i].from->port;
			continue;
		}
		slots[i].fd = listen_open(s, &slots[i].port, err, errlen);
		if (slots[i].fd == -1) {
			for (int j = 0; j < i; j++)
				if (slots[j].from == NULL)
					close(slots[j].fd);
			return -1;
		}
	}
	return 0;
}

/*
 * Sessions stay with the run-time state of the service name that accepted
 * them, so their counts and per-source entries carry over. Cannot fail.
 */
static void
reload_commit(struct config *nc, const struct slot *slots, int nsvc)
{
	struct svcstate *st, *next;
	int i = 0;

	for (st = states; st != NULL; st = st->next) {
		int kept = 0;

		for (int j = 0; j < nsvc; j++)
			kept |= slots[j].from == st;
		if (st->fd != -1 && !st->paused)
			state_poll(st, 0);
		if (!kept && st->fd != -1)
			close(st->fd);
		st->fd = -1;
		st->paused = 0;
		st->removed = 1;	/* revived below if it stays */
	}
	for (struct service *s = nc->services; s != NULL; s = s->next, i++) {
		for (st = states; st != NULL; st = st->next)
			if (st->removed && st->svc != NULL &&
			    strcmp(st->name, s->name) == 0)
				break;
		if (st == NULL) {
			st = calloc(1, sizeof(*st));
			if (st == NULL || srctable_init(&st->sources) == -1 ||
			    (st->name = strdup(s->name)) == NULL)
				fatalx("out of memory");
			st->kind = EV_LISTENER;
			st->next = states;
			states = st;
		}
		st->removed = 0;
		st->svc = s;
		st->rate = s->rate;
		st->burst = s->burst;
		st->fd = slots[i].fd;
		st->port = slots[i].port;
		state_poll(st, 1);
	}
	for (st = states; st != NULL; st = next) {
		next = st->next;
		if (st->removed) {
			st->svc = NULL;
			state_free_unused(st);
		}
	}
}

static void
reload(int foreground)
{
	struct config *nc;
	struct slot *slots;
	char err[CHALD_ERRLEN];

	/* SIGHUP also rotates the log, whatever becomes of the reload. */
	if (log_setup(conf, foreground) == -1)
		log_warn("log %s", conf->log);
	if (config_path == NULL) {
		log_event("reload-skipped reason=%s",
		    log_quote("no config file (command-line service)"));
		return;
	}
	nc = config_load(err, sizeof(err));
	if (nc == NULL) {
		log_event("reload-failed error=%s", log_quote(err));
		return;
	}
	nc->verbose = conf->verbose;
	/* The pidfile is locked and held: it cannot move while running. */
	if ((nc->pidfile == NULL) != (conf->pidfile == NULL) ||
	    (nc->pidfile != NULL && strcmp(nc->pidfile, conf->pidfile) != 0))
		log_warnx("reload: pidfile changes need a restart; keeping %s",
		    conf->pidfile ? conf->pidfile : "none");
	free(nc->pidfile);
	nc->pidfile = conf->pidfile ? strdup(conf->pidfile) : NULL;
	slots = calloc(nc->nservices, sizeof(*slots));
	if (slots == NULL ||
	    reload_listeners(nc, slots, err, sizeof(err)) == -1) {
		log_event("reload-failed error=%s",
		    log_quote(slots ? err : "out of memory"));
		free(slots);
		config_free(nc);
		return;
	}
	/* Last, as it registers the uid ranges: nothing may fail after it. */
	if (sandbox_check(&sandbox, nc, err, sizeof(err)) == -1) {
		log_event("reload-failed error=%s", log_quote(err));
		for (int i = 0; i < nc->nservices; i++)
			if (slots[i].from == NULL)
				close(slots[i].fd);
		free(slots);
		config_free(nc);
		return;
	}
	/* Pooled jails were built for the old settings. */
	pools_flush();
	reload_commit(nc, slots, nc->nservices);
	free(slots);
	config_free(conf);
	conf = nc;
	if (log_setup(conf, foreground) == -1)
		log_warn("log %s", conf->log);
	log_event("reload services=%d", conf->nservices);
	jailview_warnings(conf, NULL);
	states_announce();
}

/* Sessions with a player; pooled jails are not counted. */
static size_t
sessions_served(void)
{
	size_t n = sessions.count;

	for (struct svcstate *st = states; st != NULL; st = st->next)
		n -= (size_t)st->unserved;
	return n;
}

static void
shutdown_begin(int sig)
{
	int64_t now = now_ms();

	if (shutting_down) {
		/* A second signal: don't wait for the grace period. */
		sessions_signal(SIGKILL, CAUSE_SHUTDOWN);
		killed_all = 1;
		hard_end_ms = now + KILL_WAIT_MS;
		return;
	}
	shutting_down = 1;
	log_event("shutdown signal=%s sessions=%zu grace=%.1f",
	    sigabbrev_np(sig), sessions_served(),
	    (double)conf->grace_ms / 1000);
	for (struct svcstate *st = states; st != NULL; st = st->next)
		state_close(st);
	pools_flush();
	sessions_signal(SIGTERM, CAUSE_SHUTDOWN);
	grace_end_ms = now + conf->grace_ms;
}

/* Returns 1 when the loop should end. */
static int
shutdown_step(int64_t now)
{
	if (!shutting_down)
		return 0;
	if (sessions.count == 0)
		return 1;
	if (!killed_all && now >= grace_end_ms) {
		sessions_signal(SIGKILL, CAUSE_SHUTDOWN);
		killed_all = 1;
		hard_end_ms = now + KILL_WAIT_MS;
	}
	if (killed_all && now >= hard_end_ms) {
		log_warnx("%zu sessions did not end after SIGKILL",
		    sessions.count);
		return 1;
	}
	return 0;
}

static int
loop_timeout(int64_t now)
{
	int64_t t = next_sweep_ms;
	struct session *sess = sesstable_next_deadline(&sessions);

	if (sess != NULL && sess->deadline_ms < t)
		t = sess->deadline_ms;
	if (sandbox.pending != NULL && now + CGROUP_RETRY_MS < t)
		t = now + CGROUP_RETRY_MS;
	if (got_chld && next_reap_ms < t)
		t = next_reap_ms;
	if (pool_deficit > 0)
		t = now < last_accept_ms + POOL_QUIET_MS ?
		    last_accept_ms + POOL_QUIET_MS : now;
	for (struct svcstate *st = states; st != NULL; st = st->next)
		if (st->pool_pause_until_ms > now &&
		    st->pool_pause_until_ms < t)
			t = st->pool_pause_until_ms;
	for (struct svcstate *st = states; st != NULL; st = st->next)
		if (st->paused && st->pause_until_ms < t)
			t = st->pause_until_ms;
	if (shutting_down)
		t = killed_all ? (hard_end_ms < t ? hard_end_ms : t) :
		    (grace_end_ms < t ? grace_end_ms : t);
	if (t <= now)
		return 0;
	return t - now > INT_MAX ? INT_MAX : (int)(t - now);
}

static void
loop_run(int foreground)
{
	struct epoll_event evs[64], ev;

	ev.events = EPOLLIN;
	ev.data.ptr = &selfpipe_tag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sigpipe_fds[0], &ev) == -1)
		fatal("epoll_ctl");
	next_sweep_ms = now_ms() + SWEEP_MS;
	pool_deficit = pools_refill(now_ms());
	for (;;) {
		int64_t now = now_ms();
		int n;

		n = epoll_wait(epfd, evs, 64, loop_timeout(now));
		if (n == -1 && errno != EINTR)
			fatal("epoll_wait");
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &selfpipe_tag)
				signals_drain();
			else if (*(enum evkind *)evs[i].data.ptr == EV_JAIL)
				jail_event(evs[i].data.ptr);
			else if (*(enum evkind *)evs[i].data.ptr == EV_STDERR)
				stderr_event(((struct evtag *)
				    evs[i].data.ptr)->sess);
			else if (*(enum evkind *)evs[i].data.ptr == EV_EXIT)
				exit_event(((struct evtag *)
				    evs[i].data.ptr)->sess);
			else if (*(enum evkind *)evs[i].data.ptr == EV_PEER)
				peer_event(epfd, ((struct evtag *)
				    evs[i].data.ptr)->sess);
			else
				accept_burst(evs[i].data.ptr);
		}
		reap_exited();
		if (got_chld && now_ms() >= next_reap_ms) {
			got_chld = 0;
			next_reap_ms = now_ms() + (unwatched > 0 ?
			    REAP_SWEEP_MS : REAP_IDLE_MS);
			reap();
		}
		if (got_term) {
			int sig = got_term;

			got_term = 0;
			shutdown_begin(sig);
		}
		if (got_hup) {
			got_hup = 0;
			if (!shutting_down)
				reload(foreground);
		}
		now = now_ms();
		deadlines_expire(now);
		listeners_resume(now);
		if (sandbox.pending != NULL)
			sandbox_tick(&sandbox);
		pool_deficit = pools_refill(now);
		if (now >= next_sweep_ms) {
			sources_sweep(now);
			next_sweep_ms = now + SWEEP_MS;
		}
		if (shutdown_step(now))
			break;
	}
}

/* Options. */

enum {
	OPT_VERSION = 256,
	OPT_NAME,
	OPT_GLOBAL,	/* --pidfile, --log, --log-format, --grace */
	OPT_SERVICE,	/* every per-service key */
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
	{ "pidfile",	required_argument, NULL, OPT_GLOBAL },
	{ "log",	required_argument, NULL, OPT_GLOBAL },
	{ "log-format",	required_argument, NULL, OPT_GLOBAL },
	{ "grace",	required_argument, NULL, OPT_GLOBAL },
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
	{ "backlog",	required_argument, NULL, OPT_SERVICE },
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
	{ "root",	required_argument, NULL, OPT_SERVICE },
	{ "bind-ro",	required_argument, NULL, OPT_SERVICE },
	{ "bind-rw",	required_argument, NULL, OPT_SERVICE },
	{ "network",	required_argument, NULL, OPT_SERVICE },
	{ "seccomp",	required_argument, NULL, OPT_SERVICE },
	{ "pool",	required_argument, NULL, OPT_SERVICE },
	{ "seccomp-allow", required_argument, NULL, OPT_SERVICE },
	{ "seccomp-deny", required_argument, NULL, OPT_SERVICE },
	{ NULL, 0, NULL, 0 }
};

static void
override_add(const char *key, const char *value, int global)
{
	if (noverrides == MAX_OVERRIDES)
		errx(2, "too many options");
	overrides[noverrides].key = key;
	overrides[noverrides].value = value;
	overrides[noverrides].global = global;
	noverrides++;
}

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

int
main(int argc, char *argv[])
{
	char ebuf[CHALD_ERRLEN];
	int ch, idx, check = 0, foreground = 0, verbose = 0, readyfd = -1;

	std_fds_ensure();
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		err(1, "getcwd");
	while ((ch = getopt_long(argc, argv, "+c:nfp:b:vh", long_opts,
	    &idx)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'p':
			override_add("port", optarg, 0);
			break;
		case 'b':
			override_add("listen", optarg, 0);
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
			cmd_name = optarg;
			break;
		case OPT_GLOBAL:
			override_add(long_opts[idx].name, optarg, 1);
			break;
		case OPT_SERVICE:
			override_add(long_opts[idx].name, optarg, 0);
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (config_path == NULL && argc == 0) {
		fprintf(stderr, "chald: nothing to serve: give -c FILE or "
		    "-- PROGRAM [ARG...]\n");
		usage(stderr);
		return 2;
	}
	if (config_path != NULL && argc > 0)
		errx(2, "give either -c FILE or a PROGRAM, not both");
	if (config_path != NULL && cmd_name != NULL)
		errx(2, "--name is for the command-line service; name "
		    "services in the file with [service NAME]");
	if (cmd_name != NULL && (*cmd_name == '\0' ||
	    strspn(cmd_name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") != strlen(cmd_name)))
		errx(2, "--name %s: use letters, digits, '-', '_' and '.'",
		    cmd_name);
	if (config_path != NULL) {
		char *abs = realpath(config_path, NULL);

		if (abs == NULL)
			err(1, "%s", config_path);
		config_path = abs;
	}
	cmd_argv = argv;

	conf = config_load(ebuf, sizeof(ebuf));
	if (conf == NULL)
		errx(1, "%s", ebuf);
	conf->verbose = verbose;
	if (check) {
		jailview_warnings(conf, stderr);
		config_print(conf, stdout);
		fprintf(stderr, "chald: configuration OK\n");
		return 0;
	}
	if (!foreground && conf->log != NULL &&
	    strcmp(conf->log, "stderr") == 0)
		errx(1, "log stderr: a detached daemon has no stderr; use -f, "
		    "or log to syslog or a file");
	if (conf->log != NULL && strcmp(conf->log, "syslog") != 0 &&
	    log_setup(conf, foreground) == -1)
		err(1, "log %s", conf->log);
	if (conf->pidfile != NULL) {
		pidfd = pidfile_open(conf->pidfile, ebuf, sizeof(ebuf));
		if (pidfd == -1)
			errx(1, "%s", ebuf);
	}
	nofile_raise();
	signals_setup();
	states_open(conf);
	if (spawn_init() == -1)
		err(1, "spawn_init");
	if (sesstable_init(&sessions) == -1)
		errx(1, "out of memory");
	if (!foreground) {
		for (struct service *s = conf->services; s != NULL;
		    s = s->next)
			if (s->sandbox && geteuid() == 0 &&
			    cgroup_enter_leaf() == -1)
				err(1, "sandbox: cgroup v2: cannot move into a "
				    "leaf cgroup");
		readyfd = daemon_detach();
		if (readyfd == -1)
			err(1, "daemon");
	}
	if (log_setup(conf, foreground) == -1) {
		snprintf(ebuf, sizeof(ebuf), "log %s: %s", conf->log,
		    strerror(errno));
		daemon_ready(readyfd, ebuf);
		errx(1, "%s", ebuf);
	}
	/* After detaching: the cgroups are named after the daemon's pid. */
	if (sandbox_init(&sandbox, conf, ebuf, sizeof(ebuf)) == -1) {
		char msg[CHALD_ERRLEN + 16];

		snprintf(msg, sizeof(msg), "sandbox: %s", ebuf);
		daemon_ready(readyfd, msg);
		errx(1, "%s", msg);
	}
	if (pidfd != -1 && pidfile_write(pidfd) == -1) {
		snprintf(ebuf, sizeof(ebuf), "pidfile %s: %s", conf->pidfile,
		    strerror(errno));
		daemon_ready(readyfd, ebuf);
		fatalx("%s", ebuf);
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd == -1)
		fatal("epoll_create1");
	for (struct svcstate *st = states; st != NULL; st = st->next)
		state_poll(st, 1);
	log_event("start version=%s pid=%d services=%d config=%s",
	    CHALD_VERSION, (int)getpid(), conf->nservices,
	    log_quote(config_path ? config_path : "command-line"));
	jailview_warnings(conf, NULL);
	states_announce();
	daemon_ready(readyfd, NULL);

	loop_run(foreground);

	sandbox_shutdown(&sandbox);
	if (pidfd != -1)
		pidfile_remove(conf->pidfile, pidfd);
	log_event("exit sessions=%zu", sessions.count);
	log_close();
	return 0;
}
