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

#define CHALD_VERSION		"0.1.0"
#define CHALD_DEFAULT_PORT	1337
#define CHALD_ERRLEN		512
#define CHALD_MAX_ENV		256

/* How a session's fd 2 is connected. */
enum stderr_mode {
	STDERR_SOCKET,
	STDERR_NULL,
	STDERR_LOG,
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
	char		**env;		/* "KEY=VALUE", NULL-terminated */
	int		 nenv;
	enum stderr_mode stderr_mode;

	int64_t		 timeout_ms;	/* 0: none */
	int		 max_conns;	/* 0: no cap */
	int		 per_ip;	/* 0: no cap */
	int		 v4_prefix;
	int		 v6_prefix;
	double		 rate;		/* connections per second, 0: off */
	int		 burst;		/* 0: derived from rate */
	char		*reject_msg;

	struct service	*next;
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
struct svcstate {
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
	struct svcstate	*next;
};

enum end_cause {
	CAUSE_NONE,
	CAUSE_TIMEOUT,
	CAUSE_SHUTDOWN,
};

struct session {
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
void		 addr_format(const struct sockaddr *, char *ip, size_t iplen,
		    int *port);

/* spawn.c */
struct spawn_req {
	const struct service	*svc;
	int			 sock;
	const struct sockaddr	*peer;
	const char		*peer_ip;
	int			 peer_port;
};
int		 spawn_init(void);
pid_t		 spawn_session(const struct spawn_req *, pid_t *failed,
		    char *err, size_t errlen);

/* util */
int64_t		 now_ms(void);

#endif /* CHALD_H */
