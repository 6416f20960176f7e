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
	char		*reject_msg;

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
	char		*root;		/* NULL: the skeleton with bind mounts */
	char		**bind_ro;	/* NULL-terminated */
	int		 nbind_ro;
	char		**bind_rw;
	int		 nbind_rw;
	int		 net_host;	/* 1: share the host's network */
	int		 seccomp;
	int		 pool;		/* jails kept ready */
	char		**sc_allow;	/* removed from the default deny list */
	int		 nsc_allow;
	char		**sc_deny;	/* added to it */
	int		 nsc_deny;
	struct sock_fprog filter;	/* built by config_finish() */
	struct skel	*skel;		/* set by sandbox_check() */

	struct service	*next;
};

/* A path of a command that its jail cannot see (jailview.c). */
struct cfgwarn {
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
	int64_t		 grace_ms;
	int		 verbose;
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
	EV_PEER,	/* an unjailed session's socket: the player went */
};

struct session;

/* epoll data for a session's stderr pipe ("stderr = log"). */
struct evtag {
	enum evkind	 kind;		/* EV_STDERR */
	struct session	*sess;
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
	int64_t		 pool_pause_until_ms;	/* after a jail failed */
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

struct cgroups {
	int		 version;	/* 0: none, 1 or 2 */
	char		 base[PATH_MAX];	/* v2: parent of sessions */
	char		 v1[CG_NCTRL][PATH_MAX];	/* v1: per controller */
	int		 have[CG_NCTRL];
	int		 memsw;		/* v1: swap is accounted */
	int		 cpuacct_alias;	/* v1: cpuacct is cpu's hierarchy */
};

struct cgstats {
	int		 oom;		/* the OOM killer struck */
	int		 pids_max;	/* a fork hit pids.max */
	long long	 peak;		/* bytes, -1: unknown */
	long long	 cpu_us;	/* whole session, -1: unknown */
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
	struct skel	*next;
};

struct sandbox {
	struct cgroups	 cg;
	struct uidset	 uids;
	struct cgpending *pending;
	unsigned long long next_id;
	uid_t		 uid_cursor;
	unsigned long	 uid_shift;	/* default ranges moved this far */
	int		 ready;		/* cgroup_init() done */
	int		 init_ready;	/* chald-init is in its slot */
	char		 rootdir[PATH_MAX];	/* mount point for jails */
	struct skel	*skels;
	struct skel	*building;	/* for a load not yet committed */
	unsigned long long next_skel;
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
	int64_t		 deadline_ms;	/* 0: none */
	size_t		 heap_idx;	/* SIZE_MAX when not in the heap */
	enum end_cause	 cause;
	int		 tracked;	/* counted in svc->sources */
	int		 jailed;
	enum jail_state	 state;
	int		 served;	/* a player was handed over */
	int		 pooled;	/* counted in svc->pool_* */
	int		 ctlfd;		/* jail control socket, -1: closed */
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
	unsigned long long cgid;	/* cgroup id, when jailed */
	uid_t		 uid;
	int64_t		 cpu_time_ms;	/* the service's cap, for the cause */
	struct session	*hnext;
};

/* Live sessions by pid, plus a min-heap of deadlines. */
struct sesstable {
	struct session	**buckets;
	size_t		 nbuckets;
	size_t		 count;
	struct session	**heap;
	size_t		 heaplen;
	size_t		 heapcap;
};

/* config.c */
struct config	*config_new(void);
void		 config_free(struct config *);
struct service	*service_new(const char *name, const char *file, int line);
void		 service_free(struct service *);
int		 config_add_service(struct config *, struct service *);
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

/* log.c */
int		 log_init(const char *target, enum log_format, int verbose);
void		 log_close(void);
void		 log_event(const char *fmt, ...)
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

/* daemon.c */
int		 pidfile_open(const char *path, char *err, size_t errlen);
int		 pidfile_write(int fd);
void		 pidfile_remove(const char *path, int fd);
int		 daemon_detach(void);
void		 daemon_ready(int fd, const char *errmsg);

/* listen.c */
int		 listen_open(const struct service *, int *port, char *err,
		    size_t errlen);

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
void		 jailview_warnings(const struct config *, FILE *);
void		 jailview_warnings_free(struct config *);

/* jailfs.c: the jail's file tree (daemon: build; init: mount) */
const char *const *jailfs_default_binds(void);
int		 jailfs_build(const struct service *, const char *dir,
		    char *where, size_t wherelen);
int		 jailfs_mount(const struct service *, const char *root,
		    const char *skel);

/* jailspec.c: what the jail's init is sent (no I/O) */
struct jailspec {
	struct service	 svc;		/* the fields a jail uses */
	uid_t		 uid;
	const char	*rootdir;	/* where the new root is mounted */
	const char	*skel;		/* the skeleton to mount there, or "" */
	const char	*procs[CG_NCTRL];	/* cgroup files to join, or "" */
	void		*mem;
};
size_t		 jailspec_pack(const struct service *, uid_t,
		    const char *rootdir, const char *skel,
		    char procs[CG_NCTRL][PATH_MAX], char *buf, size_t len);
int		 jailspec_unpack(const char *buf, size_t len, struct jailspec *,
		    char *err, size_t errlen);
void		 jailspec_free(struct jailspec *);

/* The jail's control socket, between the daemon and the jail's init. */
#define JAIL_CTL_FD	3	/* in the init */
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

const char	*spawn_step_name(int);
enum spawn_step {
	STEP_GONE = -3,		/* not a failure: the player went away */
	STEP_EXECD = -2,	/* not a failure: the challenge was exec'd */
	STEP_READY = -1,	/* not a failure: the jail is built */
	STEP_NONE, STEP_SIGNALS, STEP_SETSID, STEP_FDS, STEP_ENV, STEP_CHDIR,
	STEP_EXEC, STEP_CGROUP, STEP_MOUNTS, STEP_PIVOT, STEP_NETWORK,
	STEP_HOSTNAME, STEP_FORK, STEP_RLIMITS, STEP_PRIVILEGES, STEP_SECCOMP,
	STEP_CLONE, STEP_SPEC, STEP_PTY,
};

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
const char	*cgroup_describe(const struct cgroups *, char *, size_t);
int		 cgroup_create(const struct cgroups *, unsigned long long id,
		    const struct service *, int *dirfd,
		    char procs[CG_NCTRL][PATH_MAX]);
void		 cgroup_stats(const struct cgroups *, unsigned long long id,
		    struct cgstats *);
int		 cgroup_destroy(const struct cgroups *, unsigned long long id);
void		 cgroup_cleanup(const struct cgroups *);

/* seccomp.c */
int		 seccomp_build(char **allow, char **deny, struct sock_fprog *,
		    char *err, size_t errlen);
void		 seccomp_filter_free(struct sock_fprog *);
int		 seccomp_known(const char *);

/* sessions.c: uid sets */
int		 uidset_init(struct uidset *);
void		 uidset_free(struct uidset *);
int		 uidset_has(const struct uidset *, uid_t);
int		 uidset_add(struct uidset *, uid_t);
void		 uidset_del(struct uidset *, uid_t);
int		 uid_alloc(struct uidset *, uid_t lo, uid_t hi, uid_t *cursor,
		    uid_t *out);

/* util */
int64_t		 now_ms(void);

#endif /* CHALD_H */
