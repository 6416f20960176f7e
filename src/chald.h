/*
 * chald.h: the shared structures of chald (configuration, services, sessions)
 * and the prototypes of every module, grouped by file.
 */
#ifndef CHALD_H
#define CHALD_H

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include <linux/filter.h>

#define CHALD_VERSION		"0.1.0"
#define CHALD_DEFAULT_PORT	1337
#define CHALD_ERRLEN		512
#define CHALD_MAX_ENV		256
#define CHALD_MAX_ENVP		(CHALD_MAX_ENV + 8)

/* How a session's fd 2 is connected. */
enum stderr_mode {
	STDERR_SOCKET,
	STDERR_NULL,
	STDERR_LOG,
};

/* What the challenge's stdin, stdout (and stderr) are. */
enum stdio_mode {
	STDIO_SOCKET,		/* the player's socket itself */
	STDIO_PTY,		/* a raw pty, relayed inside the session */
};

enum log_format {
	LOGFMT_TEXT,
	LOGFMT_JSON,
};

/* An address range: "proxy-from", "pow-exempt". */
struct cidr {
	uint8_t		 fam;		/* 4 or 6 */
	uint8_t		 prefix;
	uint8_t		 bytes[16];	/* masked */
};

/* The gate of a service (gate.c): what is read before a session starts. */
struct gatecfg {
	struct cidr	*proxy_from;	/* peers that must send a PROXY header */
	int		 nproxy_from;
	int64_t		 proxy_timeout_ms;
	uint32_t	 pow;		/* difficulty, 0: off */
	int64_t		 pow_timeout_ms;
	struct cidr	*pow_exempt;
	int		 npow_exempt;
	char		*pow_prompt;	/* NULL: kCTF's */
	int		 pending_per_ip; /* 0: no cap */
};

/*
 * Why a connection is refused, as the log's "reason=" names it; each has
 * its own line for the player (reject-message-REASON). The gate's come
 * last.
 */
enum reject_reason {
	REJ_PER_IP,
	REJ_MAX_CONNS,
	REJ_RATE,
	REJ_NO_FDS,
	REJ_NO_MEMORY,
	REJ_PROXY_MISSING,
	REJ_PROXY_BAD,
	REJ_POW_FAILED,
	REJ_POW_TIMEOUT,
	REJ_PENDING,
	REJ_PENDING_PER_IP,
	REJ_PROXY_TIMEOUT,
	REJ_SHUTDOWN,
	REJ_NREASONS
};

/* One challenge as configured: everything needed to listen and to spawn. */
struct service {
	char		*name;
	char		*file;		/* where it was defined, for errors */
	int		 line;

	char		*addr;		/* listen address, literal */
	int		 port;
	int		 backlog;

	char		**argv;		/* command, argv[0] is the program */
	int		 argc;
	int		 argv_line;
	char		*workdir;	/* NULL: the program's directory */
	int		 workdir_line;
	int		 port_line;
	char		**env;		/* "KEY=VALUE", NULL-terminated */
	int		 nenv;
	enum stderr_mode stderr_mode;
	enum stdio_mode	 stdio_mode;
	int		 kill_disc;	/* end the session when the player
					   has gone (kill-on-disconnect) */

	int64_t		 timeout_ms;	/* 0: none */
	int		 max_conns;	/* 0: no cap */
	int		 per_ip;	/* 0: no cap */
	int		 v4_prefix;
	int		 v6_prefix;
	double		 rate;		/* connections per second, 0: off */
	int		 burst;		/* 0: derived from rate */
	char		*reject_msg;	/* reject-message, NULL: not set */
	char		*reject_msgs[REJ_NREASONS];	/* reject-message-REASON,
					   NULL: not set */

	/* The jail (sandbox.c, cgroup.c, seccomp.c). */
	int		 sandbox;	/* 0: plain fork+exec, loudly logged */
	uid_t		 uid_min, uid_max;
	int		 uid_range_set;	/* given, not the default */
	uint64_t	 memory;	/* bytes, 0: no cap */
	int		 pids;		/* 0: no cap */
	double		 cpu;		/* cores, 0: no cap */
	int64_t		 cpu_time_ms;	/* 0: no cap */
	uint64_t	 file_size;	/* 0: no cap */
	int		 open_files;
	uint64_t	 tmp_size;
	uint64_t	 address_space;	/* 0: no cap */
	char		 hostname[HOST_NAME_MAX + 1];	/* the jail's */
	char		*root;		/* NULL: the skeleton with bind mounts */
	int		 root_line;
	char		**bind_ro;	/* NULL-terminated */
	int		*bind_ro_lines;	/* where each was set, 0: command line */
	int		 nbind_ro;
	char		**bind_rw;
	int		*bind_rw_lines;
	int		 nbind_rw;
	int		 net_host;	/* 1: share the host's network */
	int		 allow_setuid;	/* setuid = on: no no_new_privs, the
					   root's set-user-ID files work */
	int		 setuid_line;
	int		 seccomp;
	int		 pool;		/* jails kept ready */
	char		**sc_allow;	/* removed from the default deny list */
	int		 nsc_allow;
	char		**sc_deny;	/* added to it */
	int		 nsc_deny;
	int		 seccomp_line;	/* of the last seccomp* key */
	struct sock_fprog filter;	/* built by config_finish() */
	struct sock_fprog filter_outer;	/* its parts: the forker's */
	struct sock_fprog filter_inner;	/* and the jail's own */
	struct skel	*skel;		/* set by sandbox_check() */
	struct gatecfg	 gate;

	/* The health check (health.c). */
	char		**hc_argv;	/* NULL: none */
	int		 hc_argc;
	int		 hc_line;
	int64_t		 hc_interval_ms;
	int64_t		 hc_timeout_ms;
	char		*hc_user;
	uid_t		 hc_uid;	/* hc_user, resolved by config_finish() */
	gid_t		 hc_gid;

	struct service	*next;
};

/* A path of a command that its jail cannot see, or a set-user-ID file of
 * a jail with setuid = off (jailview.c). */
#define WARN_PATH	0
#define WARN_SETUID	1
struct cfgwarn {
	int		 kind;		/* WARN_PATH or WARN_SETUID */
	const char	*service;	/* the service's, while it lives */
	const char	*file;
	int		 line;
	char		*path;
	char		*why;
	char		*fix;		/* the key that fixes it, or NULL */
	struct cfgwarn	*next;
};

struct config {
	char		*file;		/* NULL when built from the command line */
	char		*pidfile;
	char		*log;		/* "stderr", "syslog" or a file name */
	enum log_format	 log_format;
	int64_t		 drain_ms;	/* at SIGTERM, sessions may finish */
	int64_t		 grace_ms;
	int		 pending_max;	/* connections in the gate, 0: no cap */
	int		 verbose;
	char		*admin_addr;	/* NULL: no admin listener */
	int		 admin_port;
	int		 admin_max_conns;
	struct service	*services;
	int		 nservices;
	struct cfgwarn	*warnings;	/* for -n and the log */
};

/*
 * A prefix of a peer address, the unit of per-source accounting: an IPv4
 * /32 (or shorter) or an IPv6 /64 (or other), masked, tagged by family.
 */
struct srckey {
	uint8_t		 fam;		/* 4 or 6 */
	uint8_t		 bytes[16];
};

/* Per-source accounting: live sessions and a token bucket. */
struct source {
	struct srckey	 key;
	int		 conns;
	double		 tokens;
	int64_t		 last_ms;
	struct source	*next;
};

struct srctable {
	struct source	**buckets;
	size_t		 nbuckets;
	size_t		 count;
};

/* Wrong proofs of work per source (strikes.c), in a fixed table. */
#define STRIKES_SLOTS		4096
#define STRIKES_FORGET_MS	60000	/* a strike this old is forgotten */

struct strike {
	struct srckey	 key;
	uint32_t	 count;		/* wrong solutions in a row */
	int64_t		 last_ms;
};

struct strikes {
	struct strike	*ents;
	size_t		 n;
};

/*
 * A service at run time: survives reloads for as long as the service keeps
 * its name, so live sessions keep counting against the right caps.
 */
/* What an epoll event's data.ptr points at: both structs start with it. */
enum evkind {
	EV_LISTENER = 1,
	EV_JAIL,
	EV_STDERR,
	EV_EXIT,	/* a session's pidfd: its first process exited */
	EV_GATE,	/* a connection in the gate */
	EV_PEER,	/* an unjailed session's socket: the player went */
	EV_ADMIN,	/* the admin listener (admin.c) */
	EV_ADMIN_CONN,	/* an admin connection */
	EV_HEALTH_EXIT,	/* a health check's pidfd (health.c) */
	EV_HEALTH_OUT,	/* a health check's output pipe */
	EV_POW,		/* the gate's checkers finished a check */
};

struct session;
struct rusage;

/* A host path's identity, to notice it was replaced (jailid.c). */
struct pathid {
	dev_t		 dev;
	ino_t		 ino;
};

/* epoll data for a session's stderr pipe ("stderr = log"). */
struct evtag {
	enum evkind	 kind;		/* EV_STDERR */
	struct session	*sess;
};

/*
 * What is counted (metrics.c). Each list is one line per item: the enum,
 * its name in the log and the metrics, and for counters the help text.
 * Adding a refusal reason, an end cause or a counter is adding a line.
 */
/* The "cause" of a session's end line. */
#define END_CAUSES(X)							\
	X(ENDED_EXIT,		"exit")					\
	X(ENDED_SIGNAL,		"signal")				\
	X(ENDED_TIMEOUT,	"timeout")				\
	X(ENDED_SHUTDOWN,	"shutdown")				\
	X(ENDED_OOM,		"oom")					\
	X(ENDED_CPU_TIME,	"cpu-time")				\
	X(ENDED_PIDS,		"pids")					\
	X(ENDED_DISCONNECT,	"disconnect")				\
	X(ENDED_SECCOMP,	"seccomp")

/* A service's plain counters, shown as chald_NAME_total{service=...}. */
#define SVC_COUNTERS(X)							\
	X(M_ACCEPTED, "accepted",					\
	    "Connections accepted on the service's listener")		\
	X(M_STARTED, "sessions_started",				\
	    "Sessions started (accepted, neither refused nor failed)")	\
	X(M_SPAWN_FAILED, "spawn_failures",				\
	    "Accepted connections whose challenge could not be started") \
	X(M_EXEC_FAILED, "exec_failures",				\
	    "Jailed sessions whose challenge could not be run once the " \
	    "jail had the player (also counted as started and ended)")	\
	X(M_OOM_KILLS, "oom_kills",					\
	    "Jailed sessions in which the cgroup's OOM killer struck")	\
	X(M_POOL_FAILED, "pool_failures",				\
	    "Jails built ahead for the pool that failed")		\
	X(M_POW_ISSUED, "pow_issued",					\
	    "Proofs of work asked of players")				\
	X(M_POW_PASSED, "pow_passed",					\
	    "Proofs of work solved (the health check's bypass not counted)") \
	X(M_POW_FAILED, "pow_failed",					\
	    "Wrong or malformed solutions")

/* The daemon's own counters, shown as chald_NAME_total. */
#define DAEMON_COUNTERS(X)						\
	X(D_RELOADS, "reloads",						\
	    "Configurations taken over on SIGHUP")			\
	X(D_RELOAD_FAILURES, "reload_failures",				\
	    "SIGHUP reloads that were refused, the old configuration kept") \
	X(D_ADMIN_REQUESTS, "admin_requests",				\
	    "Requests answered on the admin listener")			\
	X(D_ADMIN_REFUSED, "admin_refused",				\
	    "Admin connections closed at once: admin-max-conns were open") \
	X(D_ADMIN_TIMEOUTS, "admin_timeouts",				\
	    "Admin connections closed at their deadline")

#define X_ENUM(e, ...)	e,
enum ended { END_CAUSES(X_ENUM) ENDED_N };
enum svc_counter { SVC_COUNTERS(X_ENUM) SVC_NCOUNTERS };
enum daemon_counter { DAEMON_COUNTERS(X_ENUM) DAEMON_NCOUNTERS };

/* Fixed buckets; counts per bucket, the last one is +Inf. */
#define HIST_MAX	16
struct histogram {
	uint64_t	 counts[HIST_MAX + 1];
	uint64_t	 count;
	double		 sum;
};

struct svcmetrics {
	uint64_t	 c[SVC_NCOUNTERS];
	uint64_t	 refused[REJ_NREASONS];	/* by enum reject_reason */
	uint64_t	 ended[ENDED_N];
	struct histogram duration;	/* session, seconds */
	struct histogram exec[2];	/* accept to exec: unjailed, jailed */
};

struct svcstate;

/* epoll data for a service's health check (health.c). */
struct svctag {
	enum evkind	 kind;		/* EV_HEALTH_EXIT, EV_HEALTH_OUT */
	struct svcstate	*st;
};

#define HEALTH_OUT_KEEP	256	/* bytes of a check's output logged */

/* A service's health check: the one running, and the last result. */
struct health {
	struct svctag	 exittag, outtag;
	pid_t		 pid;		/* 0: none running; the fds below
					   are valid only while one runs */
	int		 pidfd;		/* -1: reaped by the sweep */
	int		 outfd;		/* -1: closed */
	int64_t		 start_us;
	int64_t		 deadline_ms;
	int64_t		 next_ms;	/* when the next one starts */
	enum { HEALTH_RUNNING, HEALTH_TIMED_OUT, HEALTH_STOPPED } killed;
	enum { HEALTH_PENDING, HEALTH_PASSED, HEALTH_FAILED } result;
	double		 last_secs;
	char		 why[64];	/* of the last failure */
	char		 out[HEALTH_OUT_KEEP];
	size_t		 outlen;
	uint64_t	 runs[2];	/* failed, passed */
};

struct svcstate {
	enum evkind	 kind;		/* EV_LISTENER */
	char		*name;
	struct service	*svc;		/* current configuration, NULL once
					   removed by a reload */
	double		 rate;		/* kept for sessions that outlive svc */
	int		 burst;
	int		 fd;		/* listener, -1 when closed */
	int		 port;		/* the port actually bound */
	int		 conns;
	int		 removed;	/* dropped by a reload, freed when empty */
	int		 paused;	/* not polled until pause_until_ms */
	int64_t		 pause_until_ms;
	struct srctable	 sources;
	struct session	*pool;		/* jails built ahead, ready */
	int		 pool_ready;	/* in pool */
	int		 pool_starting;	/* being built for the pool */
	int		 unserved;	/* jails alive with no player yet */
	int		 gating;	/* connections in the gate */
	int64_t		 pool_pause_until_ms;	/* after a jail failed */
	/* What the pool's jails have bound (jailid.c), taken before the
	 * first of them was started, for the configuration ident_svc. */
	struct pathid	*ident;
	int		 nident;
	const struct service *ident_svc;
	int64_t		 ident_next_ms;	/* the refill's next look at it */
	struct svcmetrics metrics;
	struct health	 health;
	struct svcstate	*next;
};

enum end_cause {
	CAUSE_NONE,
	CAUSE_TIMEOUT,
	CAUSE_SHUTDOWN,
	CAUSE_DISCONNECT,	/* the player went away (kill-on-disconnect) */
};

/* cgroup controllers chald uses, and what it found at startup. */
enum { CG_PIDS, CG_MEMORY, CG_CPU, CG_CPUACCT, CG_NCTRL };

/*
 * The files of a session cgroup read (or reset) at every session's end and
 * refresh, kept open per cgroup while the fd budget allows (cgroup.c,
 * files[]); CGF_JOIN + i is v1's tasks file of hierarchy i, write-only,
 * handed to the init that joins.
 */
enum { CGF_PEAK, CGF_OOM, CGF_PIDSEV, CGF_CPU, CGF_USAGE, CGF_TCP, CGF_IDLE,
    CGF_JOIN, CGF_N = CGF_JOIN + CG_NCTRL };

struct cgroups {
	int		 version;	/* 0: none, 1 or 2 */
	char		 base[PATH_MAX];	/* v2: parent of sessions */
	char		 v1[CG_NCTRL][PATH_MAX];	/* v1: per controller */
	int		 have[CG_NCTRL];
	int		 memsw;		/* v1: swap is accounted */
	int		 tcpmem;	/* v1: socket buffers can be capped */
	int		 cpuacct_alias;	/* v1: cpuacct is cpu's hierarchy */
	int		 recycle;	/* a session's cgroup can be made fresh
					   again (v2: memory.peak resets) */
	long long	 slack;		/* bytes a spare may still have charged */
	int		 basefd[CG_NCTRL];	/* O_PATH: v2 base (in [0]), v1
					   chald.<pid> per controller; the
					   session files are opened below */
	int		 kept;		/* fds the session cgroups keep open */
	int		 kept_max;	/* and at most (a share of NOFILE) */
};

/*
 * A session's cgroup (cgroup.c). Used by one live session at a time, or
 * kept spare for the next session of the same service and limits
 * (cgspare.c); the counters the kernel cannot reset are taken as
 * differences from their values when this use began.
 */
struct cgslot {
	struct cgslot	*next;		/* in the spares, oldest first */
	unsigned long long id;		/* its directory: s<id> */
	char		*svc;		/* the service it was made for */
	uint64_t	 memory;	/* and the limits it was made with */
	int		 pids;
	double		 cpu;
	long long	 cpu0;		/* cpu usage (us) when this use began */
	long long	 oom0;		/* oom kills then */
	long long	 pidsmax0;	/* forks refused at pids.max then */
	long long	 mem0;		/* bytes charged then, off the peak */
	int		 dirfd;		/* v2: O_PATH, for CLONE_INTO_CGROUP */
	int		 fd[CGF_N];	/* the files kept open, or -1; v2's
					   memory.peak always (reset per fd) */
	int		 bad;		/* a counter could not be read */
	int64_t		 ended_ms;	/* when its last session ended */
	unsigned	 uses;		/* sessions it has held */
};

struct cgspares {
	struct cgslot	*head;		/* oldest first */
	struct cgslot	*tail;
	int		 n;
};

struct cgstats {
	int		 oom;		/* the OOM killer struck */
	int		 pids_max;	/* a fork hit pids.max */
	long long	 peak;		/* bytes, -1: unknown */
	long long	 cpu_us;	/* whole session, -1: unknown */
	int		 seccomp;	/* the session ran under the filter */
	char		 syscall[48];	/* "ABI:name" the filter last killed
					   a process of it for, or "" */
};

/* A kill by a seccomp filter, as the kernel's audit reports it (audit.c). */
struct audit_kill {
	uid_t		 uid;
	uint32_t	 arch;		/* AUDIT_ARCH_* */
	long		 nr;
	int64_t		 ms;		/* CLOCK_REALTIME_COARSE */
};

#define AUDIT_RING	32
struct audit {
	int		 on;		/* fd is the audit socket */
	int		 fd;
	struct audit_kill ring[AUDIT_RING];
	unsigned	 next;
};

/*
 * Where a uid range's turn is (sessions.c). uids are handed out in turn, so
 * that one is used again only after the whole range, and the turn never
 * falls behind a mark that the clock moves through the range once every
 * UID_SWEEP_SECS. A new turn (chald started, even after a reboot) begins
 * UID_AHEAD_SECS of the mark's way ahead of it: past the uids its last life
 * used, as long as that started sessions no faster than the mark moves
 * (578 a second on the default range), or not much longer than that.
 */
#define UID_SWEEP_SECS	(2 * 86400)
#define UID_AHEAD_SECS	60
#define UID_DEFAULT_MIN	1900000000U	/* 100,000,000 uids */
#define UID_DEFAULT_MAX	1999999999U
#define UID_RANGE_MAX	1000000000U	/* uids in one range, at most */

struct uidturn {
	uid_t		 lo, hi;
	int		 started;
	uint64_t	 next;		/* lo + next % width is tried first */
	struct uidturn	*link;
};

/* A set of uids in use by live or not yet cleaned-up sessions. */
struct uidset {
	uint32_t	*slots;		/* 0: empty, 1: deleted, else uid+2 */
	size_t		 cap;
	size_t		 used;		/* live + deleted */
	size_t		 count;
};

/* A jailed session whose cgroup is still being emptied. */
struct cgpending {
	unsigned long long id;
	uid_t		 uid;
	int		 tries;
	struct cgpending *next;
};

/* A jail's read-only skeleton (jailfs.c), shared by a service's jails. */
struct skel {
	char		 path[PATH_MAX];
	int		 jails;		/* live jails built on it */
	int		 current;	/* a service of the live config uses it */
	int		 tmpl;		/* its template's mount namespace, or -1 */
	struct pathid	*tmpl_ident;	/* what the template bound (jailid.c) */
	int		 tmpl_nident;
	int64_t		 tmpl_retry_ms;	/* no template: try again then */
	struct skel	*next;
};

/*
 * Network namespaces for jails, made ahead and recycled (netpool.c): ready
 * ones, and those of ended sessions, cooling until they are checked.
 */
#define NETPOOL_SPARES	256	/* ready + cooling, at most */
#define NETPOOL_READY	4	/* made ahead in idle turns */
#define NETPOOL_COOL_MS	100	/* after a session, before the check */
#define NETSNAP_FILES	11
struct netcool {
	int		 fd;
	int64_t		 at;		/* when its session ended */
};
/* The /proc/net files of a namespace, kept open so that its check is
 * preads from the daemon's own namespace (netpool.c). */
struct netkept {
	int		 nsfd;		/* -1: a free slot; -2: being filled */
	int		 files[NETSNAP_FILES];
	int64_t		 taken_ms;	/* when a session took it; 0: pooled */
};
#define NETPOOL_KEPT	256	/* namespaces with kept files, at most */
#define NETPOOL_HELD_MS	2000	/* a session this old gives its slot up */
struct netpool {
	int		 ready[NETPOOL_SPARES];
	int		 nready;
	struct netcool	 cool[NETPOOL_SPARES];	/* a ring, oldest first */
	int		 chead, ncool;
	char		*base;		/* a fresh one's counters and tables */
	size_t		 baselen;
	int		 used;		/* some jail took one */
	int		 warned;
	unsigned long long made, reused, dropped;
	unsigned long long evicted;	/* kept files a long session gave up */
	struct netkept	*kept;		/* kept_max slots, by nsfd */
	int		 nkept, kept_max;
};

/* A forker of jails (forker.c). */
struct forker {
	struct forker	*next;
	struct sock_fprog outer;	/* the filter part it attached */
	pid_t		 pid;		/* 0: not running */
	int		 pidfd;
	int		 sock;
	unsigned	 jails;		/* forked since it started */
	int64_t		 pause_until_ms;	/* after a failure */
};
struct forkers {
	struct forker	*list;
};

struct sandbox {
	struct cgroups	 cg;
	struct uidset	 uids;
	struct cgpending *pending;
	struct cgspares	 spares;	/* empty cgroups for the next sessions */
	unsigned long long next_id;
	struct uidturn	*turns;		/* one per uid range in use */
	unsigned long	 uid_shift;	/* default ranges moved this far */
	int		 ready;		/* cgroup_init() done */
	int		 init_ready;	/* chald-init is in its slot */
	char		 rootdir[PATH_MAX];	/* mount point for jails */
	struct skel	*skels;
	struct skel	*building;	/* for a load not yet committed */
	unsigned long long next_skel;
	struct audit	 audit;		/* the filter's kills */
	struct netpool	 net;
	struct forkers	 forkers;
};

/* A min-heap of deadlines, of nodes embedded in their owners. */
struct dnode {
	int64_t		 at;
	size_t		 idx;
};

struct dheap {
	struct dnode	**v;
	size_t		 len;
	size_t		 cap;
};

/* Where a jailed session is in its life. */
enum jail_state {
	JAIL_NONE,		/* not jailed */
	JAIL_STARTING,		/* building, no player yet */
	JAIL_READY,		/* built, waiting in the pool */
	JAIL_EXEC,		/* has its player, challenge not yet exec'd */
	JAIL_LIVE,		/* the challenge runs */
};

struct session {
	enum evkind	 kind;		/* EV_JAIL, for its control socket */
	pid_t		 pid;
	struct svcstate	*svc;
	struct srckey	 src;
	char		 ip[46];
	int		 port;
	int64_t		 start_ms;
	int64_t		 accept_us;	/* for the accept-to-exec latency */
	struct dnode	 deadline;	/* at 0: none; idx SIZE_MAX when not
					   in the heap */
	enum end_cause	 cause;
	int		 tracked;	/* counted in svc->sources */
	int		 jailed;
	enum jail_state	 state;
	int		 served;	/* a player was handed over */
	int		 pooled;	/* counted in svc->pool_* */
	int		 ctlfd;		/* jail control socket, -1: closed */
	int		 heldfd;	/* the player's socket, kept from the
					   handoff to the exec for a retry on
					   a fresh jail, or -1 */
	int		 helderr;	/* the same for the stderr pipe */
	int		 respawns;	/* fresh jails the player was given */
	struct session	*pnext;		/* in svc->pool */
	int		 errfd;		/* stderr pipe, read end, -1: none */
	size_t		 errbytes;	/* logged from it so far */
	struct evtag	 errtag;
	struct evtag	 exittag;
	struct evtag	 peertag;	/* EV_PEER once peer_watch()ed */
	int		 peerfd;	/* the daemon's copy of the socket */
	struct session	*enext;		/* exited, to be reaped this turn */
	int		 exited;
	int		 unwatched;	/* no pidfd in epoll: the sweep reaps */
	struct skel	*skel;		/* the jail's skeleton, if any */
	int		 pidfd;		/* -1 when not jailed */
	struct cgslot	*cgslot;	/* its cgroup, when jailed */
	uid_t		 uid;
	int64_t		 cpu_time_ms;	/* the service's cap, for the cause */
	int		 seccomp;	/* its jail has the filter */
	int64_t		 jail_start_ms;	/* CLOCK_REALTIME_COARSE, for audit */
	int		 netfd;		/* its pooled network namespace, or -1 */
	int		 net_recycle;	/* it may go back to the pool */
	struct session	*hnext;
};

/* Live sessions by pid, plus a min-heap of deadlines. */
struct sesstable {
	struct session	**buckets;
	size_t		 nbuckets;
	size_t		 count;
	struct dheap	 deadlines;
};

/* What the command line said, kept for reloads (confload.c). */
#define MAX_OVERRIDES	512	/* --jail-env adds up to JAILENV_MAX_SET */
struct override {
	const char	*key;
	const char	*value;
	int		 global;
};

struct cmdline {
	const char	*config_path;	/* absolute, or NULL */
	char		**argv;		/* the command-line service */
	const char	*name;		/* --name */
	char		 cwd[PATH_MAX];
	struct override	 overrides[MAX_OVERRIDES];
	int		 noverrides;
	int		 foreground;
};

/* http.c: a request as the admin listener reads it. */
#define HTTP_REQ_MAX	4096	/* request line and headers */
#define HTTP_HEADERS_MAX 64
#define HTTP_BUF_MAX	(16 << 20)	/* the largest response built */

enum http_result { HTTP_MORE, HTTP_DONE, HTTP_BAD };

struct http_req {
	int		 state;
	size_t		 total;		/* bytes taken */
	char		 line[1024];	/* the request line so far */
	size_t		 linelen;
	int		 nheaders;
	char		 method[16];
	char		 path[256];	/* the target without its query */
	int		 minor;		/* HTTP/1.minor */
	int		 status;	/* HTTP_BAD: the status to answer */
	const char	*why;		/* HTTP_BAD: what was wrong */
};

/* A response being built; failed once it could not grow. */
struct http_buf {
	char		*data;
	size_t		 len, cap;
	int		 failed;
};

/* admin.c: the admin listener and its connections. */
enum admin_phase { ADMIN_READ, ADMIN_WRITE, ADMIN_LINGER };

struct adminconn {
	enum evkind	 kind;		/* EV_ADMIN_CONN */
	int		 fd;
	enum admin_phase phase;
	int64_t		 deadline_ms;
	size_t		 sent;
	size_t		 lingered;	/* bytes read and dropped after the
					   response */
	struct http_req	 req;
	struct http_buf	 out;
	struct adminconn *prev, *next;	/* in accept (= deadline) order */
};

struct admin {
	enum evkind	 kind;		/* EV_ADMIN */
	int		 fd;		/* -1: no admin listener */
	int		 port;
	int		 paused;	/* after EMFILE, until pause_until_ms */
	int64_t		 pause_until_ms;
	int		 nconns;
	struct adminconn *conns, *tail;
};

/* What admin.c reads of the process for /metrics. */
struct procstat {
	double		 rss_bytes;
	double		 vsize_bytes;
	double		 cpu_secs;
	int		 open_fds;	/* -1: unknown */
	double		 max_fds;
	double		 start_unix;	/* wall clock, seconds */
	double		 uptime_secs;
};

/*
 * The daemon at run time: owned by main.c and passed down, so that the
 * stages below the loop share no state but what they are given.
 */
struct daemon {
	struct config	*conf;
	const struct cmdline *cmd;
	struct svcstate	*states;
	struct sesstable sessions;
	struct sandbox	 sandbox;
	int		 epfd;

	/* Shutdown (loop.c): the drain, then SIGTERM and grace, then
	 * SIGKILL. */
	int		 shutting_down;	/* a SIGTERM came: listeners closed */
	int		 draining;	/* the same, for the admin listener:
					   no new players, /healthz says 503 */
	int		 terminating;	/* the drain is over: sessions were
					   sent SIGTERM */
	int		 killed_all;
	int64_t		 drain_end_ms, grace_end_ms, hard_end_ms;
	/* STATUS= for the service manager (notify.c), at a bounded rate. */
	size_t		 status_sessions;
	int		 status_ready;
	int		 status_phase;
	int		 status_due;	/* changed since the last one sent */
	int64_t		 status_next_ms;
	int		 pool_deficit;	/* jails the pools still lack */
	int64_t		 last_accept_ms;
	int64_t		 next_sweep_ms;	/* per-source entries */
	int64_t		 next_reap_ms;	/* the next SIGCHLD sweep, at the
					   earliest */
	struct session	*exited;	/* pidfds that fired this batch */
	size_t		 unwatched;	/* sessions without a watched pidfd */

	/* The gate (gate.c). */
	struct pending	*gate_all;	/* every connection in it */
	struct strikes	 gate_strikes;	/* sources of wrong solutions */
	struct dheap	 gate_deadlines;
	struct srctable	 gate_sources;	/* pending per source prefix */
	int		 npending;
	char		 pow_secret[65];	/* the health check's solution */

	struct admin	 admin;
	uint64_t	 counters[DAEMON_NCOUNTERS];
	int64_t		 start_ms;	/* monotonic, for the uptime */
	double		 start_unix;	/* wall clock */
	int		 health_running;	/* checks not yet reaped */
};

#define REAP_SWEEP_MS	200	/* SIGCHLD sweeps at most this often, */
#define REAP_IDLE_MS	2000	/* or this, when every session has a pidfd */
#define POOL_QUIET_MS	1	/* refill the pools only this long after the
				   last accept: a jail being built would slow
				   the player just accepted. Not longer: a
				   session here lasts 1-2 ms, and under a
				   steady load a pool that waits for 5 quiet
				   ms is never refilled (bench/README.md) */

/* clock.c */
int64_t		 now_ms(void);
int64_t		 now_us(void);
double		 now_unix(void);

/* confload.c: a config from the file or the command line, plus overrides */
struct config	*config_load(const struct cmdline *, char *err, size_t errlen);
void		 cmdline_override(struct cmdline *, const char *key,
		    const char *value, int global);
void		 cmdline_prepend(struct cmdline *, const char *key,
		    const char *value);

/* watch.c: what the one epoll set watches */
void		 watch_fd(struct daemon *, int fd, void *tag, int on);
void		 watch_events(struct daemon *, int fd, void *tag,
		    uint32_t events);
void		 watch_listener(struct daemon *, struct svcstate *, int on);
void		 watch_jail(struct daemon *, struct session *, int on);
void		 watch_exit(struct daemon *, struct session *);
void		 watch_exit_sweep(struct daemon *, struct session *);
void		 unwatch_exit(struct daemon *, struct session *);
void		 watch_stderr(struct daemon *, struct session *, int fd);
void		 watch_stderr_move(struct daemon *, struct session *from,
		    struct session *to);
void		 unwatch_stderr(struct daemon *, struct session *);

/* listener.c: services at run time, their listeners and sources */
void		 listener_open_all(struct daemon *);
struct svcstate	*listener_state_new(struct daemon *, const char *name);
void		 listener_free_unused(struct daemon *, struct svcstate *);
void		 listener_close(struct daemon *, struct svcstate *);
int		 listener_accept(struct daemon *, struct svcstate *,
		    struct sockaddr_storage *);
void		 listener_resume_all(struct daemon *, int64_t now);
void		 listener_announce(const struct daemon *);
void		 listener_sweep_sources(struct daemon *, int64_t now);
int64_t		 listener_next_resume(const struct daemon *, int64_t t);

/* pool.c: jails, built ahead for the pool or at accept */
struct session	*jail_new(struct daemon *, struct svcstate *, char *err,
		    size_t errlen);
void		 jail_close_ctl(struct daemon *, struct session *);
void		 jail_release_held(struct session *);
enum { JAIL_DONE, JAIL_RETRY, JAIL_QUIET };	/* jail_event() */
int		 jail_event(struct daemon *, struct session *, char *err,
		    size_t errlen);
int		 jail_settle(struct daemon *, struct session *, char *err,
		    size_t errlen);
int		 pool_check(struct daemon *, struct svcstate *);
void		 jail_end(struct daemon *, struct session *, int status);
struct session	*pool_take(struct svcstate *);
void		 pool_flush_all(struct daemon *);
int		 pool_refill_all(struct daemon *, int64_t now);
int64_t		 pool_next_wake(const struct daemon *, int64_t now, int64_t t);

/* gate.c: a connection before its session */
int		 gate_wants(const struct svcstate *, const struct sockaddr *);
void		 gate_begin(struct daemon *, struct svcstate *, int fd,
		    const struct sockaddr_storage *);
void		 gate_event(struct daemon *, void *tag);
void		 gate_checked(struct daemon *);
void		 gate_expire(struct daemon *, int64_t now);
int64_t		 gate_next_deadline(const struct daemon *, int64_t t);
void		 gate_close_all(struct daemon *);

/* session.c: a session's life in the parent */
int		 session_admit(struct daemon *, struct svcstate *,
		    const struct sockaddr *);
#define MAX_REJECT_LINE	1100	/* a refused player's line, newline included */
void		 session_reject(struct svcstate *, int fd, const char *ip,
		    int port, enum reject_reason);
void		 session_start(struct daemon *, struct svcstate *, int fd,
		    const struct sockaddr *client, const struct sockaddr *via,
		    int admitted);
void		 session_rejail(struct daemon *, struct session *,
		    const char *why);
void		 session_end(struct daemon *, struct session *, int status,
		    const struct rusage *);
void		 session_stderr(struct daemon *, struct session *);
void		 session_expire(struct daemon *, int64_t now);
void		 session_signal_all(struct daemon *, int sig, enum end_cause);
size_t		 session_served(const struct daemon *);

/* reap.c: collecting exited sessions */
void		 reap_mark(struct daemon *, struct session *);
void		 reap_marked(struct daemon *);
void		 reap_sweep(struct daemon *);

/* admin.c: the admin listener, in the one loop */
int		 admin_open(struct daemon *, char *err, size_t errlen);
void		 admin_close(struct daemon *);
void		 admin_accept(struct daemon *);
void		 admin_event(struct daemon *, struct adminconn *,
		    uint32_t events);
void		 admin_tick(struct daemon *, int64_t now);
int64_t		 admin_next_wake(const struct daemon *, int64_t t);

/* health.c: the services' health checks */
void		 health_tick(struct daemon *, int64_t now);
int64_t		 health_next_wake(const struct daemon *, int64_t t);
void		 health_exited(struct daemon *, struct svcstate *);
void		 health_output(struct daemon *, struct svcstate *);
int		 health_reap_pid(struct daemon *, pid_t);
void		 health_stop_all(struct daemon *);
int		 health_page(const struct daemon *, struct http_buf *);

/* reload.c */
void		 reload(struct daemon *);

/* loop.c */
void		 loop_signals_setup(void);
void		 loop_run(struct daemon *);

/* config.c */
struct config	*config_new(void);
void		 config_free(struct config *);
struct service	*service_new(const char *name, const char *file, int line);
void		 service_free(struct service *);
int		 config_add_service(struct config *, struct service *);
int		 config_parse_stream(struct config *, FILE *, const char *path,
		    const char *basedir, char *err, size_t errlen);
int		 config_parse_file(struct config *, const char *path,
		    char *err, size_t errlen);
int		 config_set_global(struct config *, const char *key,
		    const char *value, char *err, size_t errlen);
int		 config_set_service(struct service *, const char *key,
		    const char *value, const char *basedir, char *err,
		    size_t errlen);
int		 config_is_service_key(const char *key);
int		 config_finish(struct config *, char *err, size_t errlen);
void		 config_print(const struct config *, FILE *);
int		 parse_duration(const char *, int64_t *ms);
int		 parse_size(const char *, uint64_t *bytes);
int		 parse_rate(const char *, double *per_sec);
int		 parse_int(const char *, long min, long max, long *out);
int		 split_command(const char *, char ***argv, int *argc);
const char	*reject_name(enum reject_reason);
int		 reject_parse(const char *name);
const char	*reject_text(const struct service *, enum reject_reason);

/* strikes.c */
int		 strikes_init(struct strikes *, size_t n);
void		 strikes_free(struct strikes *);
unsigned	 strikes_count(const struct strikes *, const struct srckey *,
		    int64_t now);
void		 strikes_fail(struct strikes *, const struct srckey *,
		    int64_t now);
void		 strikes_pass(struct strikes *, const struct srckey *);

/* sessions.c */
void		 srckey_make(struct srckey *, const struct sockaddr *,
		    int v4_prefix, int v6_prefix);
int		 srctable_init(struct srctable *);
void		 srctable_free(struct srctable *);
struct source	*srctable_get(struct srctable *, const struct srckey *,
		    int create);
int		 source_take_token(struct source *, double rate, int burst,
		    int64_t now_ms);
void		 srctable_release(struct srctable *, const struct srckey *,
		    double rate, int burst, int64_t now_ms);
size_t		 srctable_expire(struct srctable *, double rate, int burst,
		    int64_t now_ms);
int		 sesstable_init(struct sesstable *);
void		 sesstable_free(struct sesstable *);
int		 sesstable_add(struct sesstable *, struct session *);
struct session	*sesstable_find(struct sesstable *, pid_t);
void		 sesstable_remove(struct sesstable *, struct session *);
struct session	*sesstable_next_deadline(struct sesstable *);
int		 sesstable_set_deadline(struct sesstable *, struct session *,
		    int64_t deadline_ms);
void		 sesstable_clear_deadline(struct sesstable *,
		    struct session *);

/* http.c (no I/O) */
void		 http_init(struct http_req *);
enum http_result http_feed(struct http_req *, const void *buf, size_t len,
		    size_t *used);
const char	*http_reason(int status);
void		 http_buf_add(struct http_buf *, const void *, size_t);
void		 http_buf_printf(struct http_buf *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
void		 http_buf_free(struct http_buf *);
void		 http_respond(struct http_buf *out, int status,
		    const char *ctype, const struct http_buf *body,
		    const char *extra_headers);

/* metrics.c: counting (O(1), on the accept path) and showing (no I/O) */
const char	*ended_name(enum ended);
void		 metrics_inc(struct svcmetrics *, enum svc_counter);
void		 metrics_refused(struct svcmetrics *, enum reject_reason);
void		 metrics_ended(struct svcmetrics *, enum ended, double secs);
void		 metrics_exec(struct svcmetrics *, int jailed, double secs);
void		 histogram_observe(struct histogram *, const double *bounds,
		    int nbounds, double v);
void		 metrics_format(const struct daemon *, const struct procstat *,
		    struct http_buf *);
void		 metrics_status(const struct daemon *, int64_t now,
		    struct http_buf *);

/* log.c */
int		 log_init(const char *target, enum log_format, int verbose);
void		 log_close(void);
int		 log_event(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_warn(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
void		 fatal(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
void		 fatalx(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
const char	*log_quote(const char *);
int		 log_fd(void);
int		 log_kv_to_json(const char *line, char *out, size_t outlen);
#define LOG_FALLBACK	"/var/log/chald.log"	/* detached, without syslog */
int		 log_syslog_reachable(char *why, size_t whylen);
int		 log_configure(const struct config *, int foreground,
		    char *err, size_t errlen);
int		 log_render(enum log_format, const char *line, size_t len,
		    int truncated, char *out, size_t outlen);

/* daemon.c */
int		 pidfile_open(const char *path, char *err, size_t errlen);
int		 pidfile_write(int fd);
void		 pidfile_remove(const char *path, int fd);
int		 daemon_detach(void);
void		 daemon_ready(int fd, const char *errmsg);

/* listen.c */
int		 listen_open(const struct service *, int *port, char *err,
		    size_t errlen);
int		 listen_inherit(char *err, size_t errlen);
int		 listen_take_inherited(const struct service *, int *port);
int		 listen_inherited_close(void);

/* notify.c: the service manager's notify socket (sd_notify protocol) */
struct sockaddr_un;
int		 notify_addr(const char *name, struct sockaddr_un *,
		    socklen_t *len);
int		 notify_init(char *err, size_t errlen);
int		 notify_enabled(void);
void		 notify_ready(const char *status);
void		 notify_reloading(void);
void		 notify_stopping(const char *status);
void		 notify_status(const char *status);
void		 notify_status_text(char *buf, size_t len, const char *phase,
		    size_t sessions, int ready);
int		 listen_addr(const char *addr, int port, int backlog,
		    int *outport, char *err, size_t errlen);

/* spawn.c */
struct spawn_req {
	const struct service	*svc;
	int			 sock;
	int			 errfd;		/* pipe for "stderr = log" */
	const struct sockaddr	*peer;
	const char		*peer_ip;
	int			 peer_port;
};
int		 spawn_init(void);
enum { SLOT_SOCK, SLOT_ERR, SLOT_INIT, SPAWN_NSLOTS };
int		 spawn_slot(int);
int		 spawn_slot_set(int, int fd);
int		 spawn_unshare_fds(void);
char		*spawn_stack(void);
pid_t		 spawn_session(const struct spawn_req *, int *pidfd,
		    pid_t *failed, char *err, size_t errlen);

/* child.c: shared by spawn.c and the jail's init (jail.c) */
int		 child_signals(void);
int		 child_fds(const struct spawn_req *, int keepfd);
int		 child_env(const struct spawn_req *, char **envp,
		    char *buf, size_t len);
void		 addr_format(const struct sockaddr *, char *ip, size_t iplen,
		    int *port);

/* jailid.c: the identity of the host paths a service's jails bind */
int		 jailid_take(const struct service *, struct pathid **, int *n);
int		 jailid_changed(const struct service *, const struct pathid *,
		    int n, char *which, size_t whichlen);

/* relay.c: stdio = pty and the watch for a gone player, inside the session
 * (chald-init); never in the daemon */
struct relay {
	int		 sock;		/* the player's socket */
	int		 master;	/* the pty's master, -1: stdio = socket */
	int		 slave;		/* the relay's own slave fd, or -1 */
	int		 ctl;		/* jail control socket (STEP_GONE), -1 */
	int		 kill_disc;	/* kill-on-disconnect is on */
	int		 jailed;	/* pid 1 of a jail */
	int		 sigfd;		/* from relay_signals() */
	pid_t		 child;		/* the challenge */
};
int		 relay_pty(int *master, int *slave, uid_t owner);
int		 relay_signals(void);
int		 relay_run(struct relay *);
int		 relay_main(int argc, char **argv);

/* peer.c: kill-on-disconnect for unjailed sessions (the daemon's side) */
void		 peer_watch(int epfd, struct session *, int sock);
void		 peer_event(int epfd, struct session *);
void		 peer_unwatch(int epfd, struct session *);

/* jailview.c: the jail's file tree as seen from the configuration */
int		 jailview_lookup(const struct service *, const char *path,
		    char *host, size_t len);
int		 jailview_program(struct service *, char *err, size_t errlen);
int		 jailview_workdir(const struct service *, char *err,
		    size_t errlen);
char		*jailview_default_workdir(const struct service *);
void		 jailview_check(struct config *, const struct service *);
void		 jailview_setuid_check(struct config *, const struct service *);
void		 jailview_warnings(const struct config *, FILE *);
void		 jailview_warnings_free(struct config *);

/* jailfs.c: the jail's file tree (daemon: build; init: mount) */
const char *const *jailfs_default_binds(void);
int		 jailfs_build(const struct service *, const char *dir,
		    char *where, size_t wherelen);
int		 path_under(const char *path, const char *dir);
int		 jailfs_mount(const struct service *, const char *root,
		    const char *skel);
int		 jailfs_templatable(const struct service *);
int		 jailfs_template(const struct service *, const char *root,
		    const char *skel);
int		 jailfs_session(const struct service *);
int		 jailfs_pivot(const char *root);

/* jailsuid.c (chald-init): the tree of a jail with setuid = on */
int		 jailsuid_tree(void);

/* jailspec.c: what the jail's init is sent (no I/O) */
struct jailspec {
	struct service	 svc;		/* the fields a jail uses */
	uid_t		 uid;
	const char	*rootdir;	/* where the new root is mounted */
	const char	*skel;		/* the skeleton to mount there, or "" */
	const char	*procs[CG_NCTRL];	/* cgroup files to join, or "" */
	unsigned	 joinmask;	/* bit i: procs[i] comes as an fd */
	int		 joinfd[CG_NCTRL];	/* those fds (init_spec), or -1 */
	int		 tmpl;		/* a template's namespace comes last */
	int		 net_ready;	/* its network namespace has lo up */
	int		 forked;	/* its bounding set is empty already */
	void		*mem;
};
/* What a jail gets beyond its service's settings. */
struct jailrun {
	uid_t		 uid;
	int		 netready;	/* a pooled network namespace */
	int		 forked;	/* by a forker: the bounding set is
					   empty already (jailfork.c) */
	unsigned	 joinmask;	/* cgroup_joinfds: sent with the spec */
	int		 tmpl;		/* and a template's mount namespace */
	const struct sock_fprog *filter; /* to attach; NULL: none */
};
size_t		 jailspec_pack(const struct service *, const struct jailrun *,
		    const char *rootdir, const char *skel,
		    char procs[CG_NCTRL][PATH_MAX], char *buf, size_t len);
int		 jailspec_unpack(const char *buf, size_t len, struct jailspec *,
		    char *err, size_t errlen);
void		 jailspec_free(struct jailspec *);

/* The jail's control socket, between the daemon and the jail's init. */
#define JAIL_CTL_FD	3	/* in the init */
#define JAIL_HOSTNAME	"chald"	/* the hostname key's default */
struct jail_report {
	int	step;		/* STEP_READY, or the step that failed */
	int	err;
};
/* The player, as the daemon hands it over with the socket. */
struct jail_player {
	char	ip[46];
	int	port;
	int	nfds;		/* 1: the socket, 2: and a stderr pipe */
	int	errfd;		/* filled in by init */
};

/*
 * The forker (forker.c in the daemon, jailfork.c in chald-init): first the
 * outer part of a filter (a fork_filter, then its instructions), answered
 * by a fork_reply; then one fork_request per jail, with SCM_RIGHTS the
 * jail's control socket, then its network namespace (has_net), then its
 * cgroup (has_cgroup), answered by a fork_reply and the jail's pidfd.
 */
struct fork_filter {
	uint32_t	len;		/* instructions; 0: none */
};
struct fork_request {
	uint64_t	flags;		/* CLONE_NEW* only */
	int32_t		has_net;
	int32_t		has_cgroup;
};
struct fork_reply {
	int32_t		pid;		/* the jail's init, or -errno */
};
#define FORK_FLAGS	(CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | \
			 CLONE_NEWCGROUP | CLONE_NEWNS | CLONE_NEWNET)

/* chald-init: the jail's init (jail.c), and its forker (jailfork.c) */
void		 jail_main(int step) __attribute__((noreturn));
int		 jail_bset_drop(void);
void		 jail_loginuid(void);
int		 jailfork_main(void);
#define FORK_ENV	"CHALD_INIT=fork"

const char	*spawn_step_name(int);
enum spawn_step {
	STEP_GONE = -3,		/* not a failure: the player went away */
	STEP_EXECD = -2,	/* not a failure: the challenge was exec'd */
	STEP_READY = -1,	/* not a failure: the jail is built */
	STEP_NONE, STEP_SIGNALS, STEP_SETSID, STEP_FDS, STEP_ENV, STEP_CHDIR,
	STEP_EXEC, STEP_CGROUP, STEP_MOUNTS, STEP_PIVOT, STEP_NETWORK,
	STEP_HOSTNAME, STEP_FORK, STEP_RLIMITS, STEP_PRIVILEGES, STEP_SECCOMP,
	STEP_CLONE, STEP_SPEC, STEP_PEERLOCK, STEP_PTY,
};

/* fdpass.c: shared by the daemon and chald-init */
#define FDPASS_MAX	(1 + CG_NCTRL)	/* the template and the joins */
int		 fdpass_send(int sock, const void *buf, size_t len,
		    const int *fds, int nfds, int flags);

/* forker.c */
struct forker	*forker_get(struct forkers *, const struct service *,
		    pid_t (*start)(int *pidfd, int *sock));
pid_t		 forker_spawn(struct forker *, int ctl, uint64_t flags,
		    int netfd, int cgfd, int *pidfd, int *orphan);
void		 forker_prune(struct forkers *, const struct config *);

/* netpool.c */
int		 netpool_init(void);
int		 netpool_take(struct netpool *);
void		 netpool_give(struct netpool *, int fd, int recycle);
void		 netpool_idle(struct netpool *);
int64_t		 netpool_next_ms(const struct netpool *);
void		 netpool_free(struct netpool *);

/* netsnap.c (no I/O) */
int		 netsnap_idle(const char *sockstat, size_t len);

/* sandbox.c */
int		 sandbox_init(struct sandbox *, struct config *, char *err,
		    size_t errlen);
int		 sandbox_check(struct sandbox *, struct config *, char *err,
		    size_t errlen);
int		 sandbox_start(struct sandbox *, const struct service *,
		    struct session *, char *err, size_t errlen);
int		 sandbox_handoff(struct session *, int sock, int errfd,
		    const char *ip, int port);
int		 sandbox_ctl_read(struct session *, char *err, size_t errlen);
int		 sandbox_player_gone(struct session *);
void		 sandbox_end(struct sandbox *, struct session *,
		    struct cgstats *);
int		 sandbox_tick(struct sandbox *);
void		 sandbox_shutdown(struct sandbox *);
int		 session_kill(struct session *, int sig);

/* cgroup.c */
int		 cgroup_init(struct cgroups *, const int need[CG_NCTRL],
		    char *err, size_t errlen);
int		 cgroup_enter_leaf(void);
int		 cgroup_v2_host_root(const char *);
int		 cgroup_own_path(const char *ctrl, char *, size_t);
const char	*cgroup_describe(const struct cgroups *, char *, size_t);
struct cgslot	*cgroup_create(struct cgroups *, unsigned long long id,
		    const struct service *);
void		 cgroup_keep(struct cgroups *, struct cgslot *);
void		 cgroup_procs(const struct cgroups *, const struct cgslot *,
		    char procs[CG_NCTRL][PATH_MAX]);
unsigned	 cgroup_joinfds(const struct cgslot *,
		    char procs[CG_NCTRL][PATH_MAX], int fds[CG_NCTRL]);
void		 cgroup_stats(const struct cgroups *, struct cgslot *,
		    struct cgstats *);
int		 cgroup_idle(const struct cgroups *, const struct cgslot *);
int		 cgroup_refresh(const struct cgroups *, struct cgslot *);
void		 cgroup_slot_free(struct cgroups *, struct cgslot *);
int		 cgroup_destroy(const struct cgroups *, unsigned long long id);

/* cgspare.c */
#define CG_REST_MS	120	/* a spare cgroup rests this long: past the
				   end of a 100 ms CPU period, when the
				   quota is whole again, and the RCU-delayed
				   frees */
#define CG_SPARES_MAX	256	/* spare cgroups kept at most */
int		 cgspare_allowed(const struct service *);
int		 cgspare_fits(const struct cgslot *, const struct service *);
void		 cgspare_put(struct cgspares *, struct cgslot *);
struct cgslot	*cgspare_take(struct cgspares *, const struct service *,
		    int64_t now_ms);
struct cgslot	*cgspare_oldest(struct cgspares *);
struct cgslot	*cgspare_unfit(struct cgspares *, const struct config *);
void		 cgroup_cleanup(struct cgroups *);

/* seccomp.c */
/* The whole filter, or the part a jail inherits from its forker and the
 * part its init adds (seccomp.c). */
enum sc_part { SC_WHOLE, SC_OUTER, SC_INNER };
int		 seccomp_build(char **allow, char **deny, enum sc_part,
		    struct sock_fprog *, char *err, size_t errlen);
void		 seccomp_filter_free(struct sock_fprog *);
int		 seccomp_known(const char *);
void		 seccomp_name(uint32_t arch, long nr, char *, size_t);

/* audit.c */
int		 audit_open(struct audit *, char *err, size_t errlen);
int		 audit_parse(const char *rec, size_t len, struct audit_kill *);
void		 audit_drain(struct audit *);
int		 audit_take(struct audit *, uid_t, int64_t since_ms,
		    struct audit_kill *);
int64_t		 audit_now_ms(void);

/* netlo.c: the loopback of the caller's network namespace, up */
int		 netlo_up(void);

/* peerlock.c: the player's socket answers its player only */
size_t		 peerlock_build(const struct sockaddr *, struct sock_filter *,
		    size_t max);
int		 peerlock_apply(int sock);

/* sessions.c: deadlines and address ranges */
int		 dheap_push(struct dheap *, struct dnode *, int64_t at);
void		 dheap_remove(struct dheap *, struct dnode *);
struct dnode	*dheap_top(const struct dheap *);
void		 dheap_free(struct dheap *);
int		 cidr_parse(const char *, struct cidr *);
int		 cidr_match(const struct cidr *, int n, const struct sockaddr *);
void		 cidr_format(const struct cidr *, char *, size_t);

/* sessions.c: uid sets */
int		 uidset_init(struct uidset *);
void		 uidset_free(struct uidset *);
int		 uidset_has(const struct uidset *, uid_t);
int		 uidset_add(struct uidset *, uid_t);
void		 uidset_del(struct uidset *, uid_t);
struct uidturn	*uid_turn(struct uidturn **, uid_t lo, uid_t hi);
void		 uid_turns_free(struct uidturn **);
int		 uid_alloc(struct uidset *, struct uidturn *, uint64_t now_ms,
		    uid_t *out);

/*
 * jailenv.c: pwn.red/jail's JAIL_* variables as chald settings. Each is a
 * service key of chald.conf(5) with the variable it comes from; main.c
 * applies them before the command line's options.
 */
#define JAILENV_NAME		"app"		/* the service's name */
#define JAILENV_ROOT		"/srv"		/* the session's root */
#define JAILENV_PROGRAM		"/app/run"	/* /srv/app/run outside */
#define JAILENV_WORKDIR		"/app"
#define JAILENV_HOSTNAME	"app"		/* pwn.red/jail's */
#define JAILENV_MAX_SET		(CHALD_MAX_ENV + 32)
#define JAILENV_MAX_VAL		16

struct jailenv_set {
	const char	*var;		/* "JAIL_MEM", or "jail" for fixed ones */
	const char	*key;		/* "memory" */
	const char	*value;		/* into envp, a constant or val[] */
};

struct jailenv {
	struct jailenv_set set[JAILENV_MAX_SET];
	int		 nset;
	char		 val[JAILENV_MAX_VAL][64];	/* formatted values */
	int		 nval;
	char		*argv[2];	/* JAILENV_PROGRAM */
	unsigned long long pow;		/* JAIL_POW, for the pow key */
	int		 devs;		/* JAIL_DEV, a bit per device */
	int		 tmp_none;	/* JAIL_TMP_SIZE = 0: no /tmp asked */
};

int		 jailenv_parse(char *const envp[], struct jailenv *,
		    char *err, size_t errlen);
const char	*jailenv_get(const struct jailenv *, const char *key);

/* image.c */
int		 image_setup(char *const envp[], struct jailenv *, char *err,
		    size_t errlen);

/* preflight.c */
int		 preflight_caps(int net, char *err, size_t errlen);
int		 preflight_jail(int net, const char *hostname, char *err,
		    size_t errlen);
int		 preflight_check(const struct config *, char *err,
		    size_t errlen);

#endif /* CHALD_H */
