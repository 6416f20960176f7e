/*
 * jailview.c: the file tree as a jailed service's challenge will see it,
 * worked out by the daemon from the configuration: the service's own root
 * (or chald's skeleton: its default binds, the program's directory and
 * the workdir), plus bind-ro and bind-rw, each at its own path, and the
 * jail's own /tmp, /proc and /dev. Paths are followed the way the jail's
 * kernel will follow them: a symlink is taken relative to the jail's root,
 * and a bound directory is what is seen below its path.
 *
 * config.c uses it to find the program and check the workdir of a service
 * with a root of its own (not on the host), to pick the workdir of an
 * interpreter and its script, and to warn about each absolute path in the
 * command's arguments that the jail cannot see, naming the key that fixes
 * it (jailview_check).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define MAX_LINKS	40		/* as the kernel's */

/* What a path of the jail is, as far as the view can tell. */
enum {
	V_NONE,		/* not in the jail */
	V_HOST,		/* the host's file of that name is seen */
	V_DIR,		/* a directory made for mount points (the skeleton) */
	V_OWN,		/* the jail's own /tmp, /proc or /dev */
};

struct jview {
	const char	*root;		/* host directory; NULL: the skeleton */
	const char	**mnt;		/* bound at their own path */
	int		 nmnt;
};

static void
view_free(struct jview *v)
{
	for (int i = 0; i < v->nmnt; i++)
		free((char *)(uintptr_t)v->mnt[i]);
	free(v->mnt);
	v->mnt = NULL;
	v->nmnt = 0;
}

static void
view_add(struct jview *v, const char *path)
{
	char *p = strdup(path);

	if (p != NULL)
		v->mnt[v->nmnt++] = p;
}

/* The view of service s, as jailfs.c will mount it. */
static int
view_build(const struct service *s, struct jview *v)
{
	const char *const *dflt = jailfs_default_binds();
	int n = 2 + s->nbind_ro + s->nbind_rw;
	struct stat st;

	for (int i = 0; dflt[i] != NULL; i++)
		n++;
	v->root = s->root;
	v->nmnt = 0;
	if ((v->mnt = calloc((size_t)n, sizeof(*v->mnt))) == NULL)
		return -1;
	if (s->root == NULL) {
		char dir[PATH_MAX], *slash;

		for (int i = 0; dflt[i] != NULL; i++)
			if (lstat(dflt[i], &st) == 0)
				view_add(v, dflt[i]);
		snprintf(dir, sizeof(dir), "%s", s->argv[0]);
		slash = strrchr(dir, '/');
		if (slash != NULL && slash != dir)
			*slash = '\0';
		view_add(v, dir);
		if (s->workdir != NULL)
			view_add(v, s->workdir);
	}
	for (int i = 0; i < s->nbind_ro; i++)
		view_add(v, s->bind_ro[i]);
	for (int i = 0; i < s->nbind_rw; i++)
		view_add(v, s->bind_rw[i]);
	return 0;
}

/* What the jail has at path jp, whose directories are no symlinks. */
static int
view_map(const struct jview *v, const char *jp, char *host, size_t len)
{
	const char *own[] = { "/tmp", "/proc", "/dev" };
	int ancestor = 0;

	for (int i = 0; i < v->nmnt; i++) {
		if (path_under(jp, v->mnt[i])) {
			snprintf(host, len, "%s", jp);
			return V_HOST;
		}
		ancestor |= path_under(v->mnt[i], jp);
	}
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (path_under(jp, own[i]))
			return ancestor ? V_DIR : V_OWN;
	if (v->root != NULL) {
		snprintf(host, len, "%s%s", v->root, strcmp(jp, "/") == 0 ?
		    "" : jp);
		return V_HOST;
	}
	return ancestor || strcmp(jp, "/") == 0 ? V_DIR : V_NONE;
}

/*
 * Follows path through the view. Returns V_HOST with the host's name of
 * what the jail sees in host, V_DIR or V_OWN, or -1 with errno (ENOENT:
 * not in the jail). jp, if not NULL, gets the path in the jail without
 * symlinks.
 */
static int
view_resolve(const struct jview *v, const char *path, char *jp, size_t jplen,
    char *host, size_t hostlen)
{
	char work[PATH_MAX * 2], cur[PATH_MAX] = "", next[PATH_MAX];
	char link[PATH_MAX], tmp[PATH_MAX * 2];
	const char *p = work;
	int links = 0, kind;

	if (snprintf(work, sizeof(work), "%s", path) >= (int)sizeof(work)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (;;) {
		struct stat st;
		size_t n;
		ssize_t ln;

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, "/");
		if (n == 1 && p[0] == '.') {
			p += n;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *slash = strrchr(cur, '/');

			if (slash != NULL)
				*slash = '\0';
			p += n;
			continue;
		}
		if (snprintf(next, sizeof(next), "%s/%.*s", cur, (int)n, p) >=
		    (int)sizeof(next)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		p += n;
		kind = view_map(v, next, host, hostlen);
		if (kind == V_NONE) {
			errno = ENOENT;
			return -1;
		}
		if (kind == V_OWN) {
			if (jp != NULL)
				snprintf(jp, jplen, "%s%s", next, p);
			return V_OWN;
		}
		if (kind == V_HOST) {
			if (lstat(host, &st) == -1)
				return -1;
			if (S_ISLNK(st.st_mode)) {
				if (++links > MAX_LINKS) {
					errno = ELOOP;
					return -1;
				}
				ln = readlink(host, link, sizeof(link) - 1);
				if (ln < 0)
					return -1;
				link[ln] = '\0';
				if (link[0] == '/')
					cur[0] = '\0';
				snprintf(tmp, sizeof(tmp), "%s/%s", link, p);
				snprintf(work, sizeof(work), "%s", tmp);
				p = work;
				continue;
			}
		}
		snprintf(cur, sizeof(cur), "%s", next);
	}
	if (jp != NULL)
		snprintf(jp, jplen, "%s", cur[0] != '\0' ? cur : "/");
	return view_map(v, cur[0] != '\0' ? cur : "/", host, hostlen);
}

/*
 * Looks path up in service s's jail: 0 with the host's name of the file
 * in host, or -1 with errno (ENOENT: the jail does not have it).
 */
int
jailview_lookup(const struct service *s, const char *path, char *host,
    size_t len)
{
	struct jview v;
	char jp[PATH_MAX];
	int kind;

	if (view_build(s, &v) == -1)
		return -1;
	kind = view_resolve(&v, path, jp, sizeof(jp), host, len);
	view_free(&v);
	if (kind == V_HOST)
		return 0;
	if (kind != -1)
		errno = ENOENT;	/* nothing the daemon could check */
	return -1;
}

/*
 * Why the jail lacks path: "in the jail (root ...)", or, for a path under
 * one of the jail's own mounts that no bind brings in, that mount.
 */
static const char *
where_root(const struct service *s, const char *path, char *buf,
    size_t len)
{
	const char *own[] = { "/tmp", "/proc", "/dev" };
	char host[PATH_MAX];
	struct jview v;

	snprintf(buf, len, "in the jail (root %s, plus its binds)", s->root);
	if (view_build(s, &v) == -1)
		return buf;
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (path_under(path, own[i]) && view_resolve(&v, path, NULL, 0, host,
		    sizeof(host)) == V_OWN)
			snprintf(buf, len, "in the jail: %s is the jail's own, "
			    "mounted afresh (bind-ro a directory there to bring "
			    "it in)", own[i]);
	view_free(&v);
	return buf;
}

/*
 * A service with a root of its own: its program is looked up in the
 * jail, PATH and all, and must be an executable regular file there. The
 * name is kept as given (a multi-call binary knows itself by it).
 */
int
jailview_program(struct service *s, char *err, size_t errlen)
{
	char host[PATH_MAX], cand[PATH_MAX], in[PATH_MAX + 64];
	const char *prog = s->argv[0], *path = "/usr/local/bin:/usr/bin:/bin";
	struct stat st;

	for (int i = 0; i < s->nenv; i++)
		if (strncmp(s->env[i], "PATH=", 5) == 0)
			path = s->env[i] + 5;
	where_root(s, prog, in, sizeof(in));
	if (strchr(prog, '/') == NULL) {
		while (*path != '\0') {
			size_t n = strcspn(path, ":");

			snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, path,
			    prog);
			path += n + (path[n] == ':');
			if (cand[0] == '/' && jailview_lookup(s, cand, host,
			    sizeof(host)) == 0 && stat(host, &st) == 0 &&
			    S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0) {
				free(s->argv[0]);
				s->argv[0] = strdup(cand);
				return s->argv[0] != NULL ? 0 : -1;
			}
		}
		snprintf(err, errlen, "command: program \"%s\" not found in the "
		    "PATH %s", prog, in);
		return -1;
	}
	if (jailview_lookup(s, prog, host, sizeof(host)) == -1 ||
	    stat(host, &st) == -1) {
		snprintf(err, errlen, "command: program %s: %s %s", prog,
		    strerror(errno), in);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "command: program %s: not a regular file "
		    "%s", prog, in);
		return -1;
	}
	if ((st.st_mode & 0111) == 0) {
		snprintf(err, errlen, "command: program %s: not executable %s",
		    prog, in);
		return -1;
	}
	return 0;
}

/* A workdir of a service with a root of its own, looked up in the jail. */
int
jailview_workdir(const struct service *s, char *err, size_t errlen)
{
	char host[PATH_MAX], in[PATH_MAX + 64];
	struct stat st;

	where_root(s, s->workdir, in, sizeof(in));
	if (jailview_lookup(s, s->workdir, host, sizeof(host)) == -1 ||
	    stat(host, &st) == -1) {
		snprintf(err, errlen, "workdir: %s: %s %s", s->workdir,
		    strerror(errno), in);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "workdir: %s: not a directory %s",
		    s->workdir, in);
		return -1;
	}
	return 0;
}

/* Where a program from these directories is an interpreter or a wrapper. */
static int
system_dir(const char *prog)
{
	const char *dirs[] = { "/bin", "/sbin", "/usr/bin", "/usr/sbin",
	    "/usr/local/bin", "/usr/local/sbin", NULL };
	const char *slash = strrchr(prog, '/');
	size_t n = slash != NULL ? (size_t)(slash - prog) : 0;

	for (const char **d = dirs; *d != NULL; d++)
		if (strlen(*d) == n && strncmp(prog, *d, n) == 0)
			return 1;
	return 0;
}

/* An argument that names an absolute path: "/x", or "--opt=/x". */
static const char *
arg_path(const char *a)
{
	const char *eq;

	if (a[0] == '/')
		return a;
	if (a[0] != '\0' && (eq = strchr(a, '=')) != NULL && eq[1] == '/' &&
	    strchr(a, ' ') == NULL)
		return eq + 1;
	return NULL;
}

/*
 * The default workdir (s->workdir NULL): the program's directory, but for
 * a program from a system directory (an interpreter, or a wrapper such as
 * timeout) followed by the path of a file, that file's directory: python3
 * /srv/x/server.py runs in /srv/x, which the skeleton then binds. Returns
 * a new string; the path is the host's, or with a root the jail's.
 */
char *
jailview_default_workdir(const struct service *s)
{
	const char *prog = s->argv[0], *slash;

	if (system_dir(prog))
		for (int i = 1; i < s->argc; i++) {
			const char *a = s->argv[i];
			char host[PATH_MAX];
			struct stat st;

			if (a[0] != '/' || strcmp(a, "/") == 0)
				continue;
			if (s->sandbox && s->root != NULL ? jailview_lookup(s, a,
			    host, sizeof(host)) == -1 : snprintf(host,
			    sizeof(host), "%s", a) < 0)
				continue;
			if (stat(host, &st) == -1 || !S_ISREG(st.st_mode))
				continue;
			prog = a;
			break;
		}
	slash = strrchr(prog, '/');
	return strndup(prog, slash == prog ? 1 : (size_t)(slash - prog));
}

static void
warn_add_kind(struct config *c, const struct service *s, int kind, int line,
    const char *path, const char *why, const char *fix)
{
	struct cfgwarn *w = calloc(1, sizeof(*w)), **pp;

	if (w == NULL || (w->path = strdup(path)) == NULL ||
	    (w->why = strdup(why)) == NULL ||
	    (fix != NULL && (w->fix = strdup(fix)) == NULL)) {
		if (w != NULL) {
			free(w->path);
			free(w->why);
		}
		free(w);
		return;
	}
	w->kind = kind;
	w->service = s->name;
	w->file = s->file;
	w->line = line;
	for (pp = &c->warnings; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = w;
}

static void
warn_add(struct config *c, const struct service *s, const char *path,
    const char *why, const char *fix)
{
	warn_add_kind(c, s, WARN_PATH, s->argv_line > 0 ? s->argv_line :
	    s->line, path, why, fix);
}

/*
 * The key that makes path visible: bind its directory (a script's
 * neighbours come along), or the file itself where that directory is a
 * top-level one such as /etc.
 */
static void
bind_fix(const char *path, const struct stat *st, char *fix, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (S_ISDIR(st->st_mode) || slash == path ||
	    memchr(path + 1, '/', (size_t)(slash - path - 1)) == NULL)
		snprintf(fix, len, "bind-ro = %s", path);
	else
		snprintf(fix, len, "bind-ro = %.*s", (int)(slash - path),
		    path);
}

/*
 * Warns about every absolute path among the command's arguments that
 * service s's jail cannot see (the jail's /proc and /dev are its own, and
 * a path under /tmp that the host does not have is taken to be made by
 * the challenge there).
 */
void
jailview_check(struct config *c, const struct service *s)
{
	struct jview v;

	if (!s->sandbox || view_build(s, &v) == -1)
		return;
	for (int i = 1; i < s->argc; i++) {
		const char *path = arg_path(s->argv[i]);
		char host[PATH_MAX], fix[PATH_MAX + 64], why[PATH_MAX + 64];
		struct stat st;
		int kind;

		if (path == NULL || path_under(path, "/proc") ||
		    path_under(path, "/dev"))
			continue;
		kind = view_resolve(&v, path, NULL, 0, host, sizeof(host));
		if (kind == V_HOST || kind == V_DIR)
			continue;
		if (stat(path, &st) == -1) {
			if (kind == V_OWN)
				continue;	/* made in the jail's /tmp */
			if (s->root != NULL)
				snprintf(why, sizeof(why), "is neither in root "
				    "%s nor on the host", s->root);
			else
				snprintf(why, sizeof(why), "does not exist");
			warn_add(c, s, path, why, NULL);
			continue;
		}
		bind_fix(path, &st, fix, sizeof(fix));
		if (s->root != NULL)	/* a bind needs its mount point there */
			snprintf(fix + strlen(fix), sizeof(fix) - strlen(fix),
			    " and its mount point in the root");
		if (kind == V_OWN)
			snprintf(why, sizeof(why), "is under the jail's own "
			    "/tmp, which starts empty");
		else if (s->root != NULL)
			snprintf(why, sizeof(why), "is on the host but not in "
			    "root %s", s->root);
		else
			snprintf(why, sizeof(why), "is on the host but not in "
			    "the jail");
		warn_add(c, s, path, why, fix);
	}
	view_free(&v);
}

/*
 * The set-user-ID scan of a jail root, bounded: at most SUID_ENTRIES
 * entries, SUID_DEPTH directories deep, SUID_FILES files named; never
 * across file systems or through symlinks.
 */
#define SUID_ENTRIES	100000
#define SUID_DEPTH	32
#define SUID_FILES	8

struct suidscan {
	struct config		*c;
	const struct service	*s;
	const char		*top;		/* host path of the jail's "/" */
	const char		*fix;
	dev_t			 dev;
	int			 entries, files, line;
};

static void
suid_found(struct suidscan *sc, const char *path, const struct stat *st)
{
	char jp[PATH_MAX], why[160];
	const char *rel = path + strlen(sc->top);

	snprintf(jp, sizeof(jp), "%s%s", *rel == '/' ? "" : "/", rel);
	snprintf(why, sizeof(why), "is set-%s-ID (owner %u, mode %04o), which "
	    "does nothing in the jail while setuid = off",
	    (st->st_mode & S_ISUID) ? "user" : "group",
	    (unsigned)((st->st_mode & S_ISUID) ? st->st_uid : st->st_gid),
	    (unsigned)(st->st_mode & 07777));
	warn_add_kind(sc->c, sc->s, WARN_SETUID, sc->line, jp, why, sc->fix);
	sc->files++;
}

static void
suid_walk(struct suidscan *sc, const char *dir, int depth)
{
	char path[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (depth > SUID_DEPTH || (d = opendir(dir)) == NULL)
		return;
	while (sc->entries < SUID_ENTRIES && sc->files < SUID_FILES &&
	    (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		sc->entries++;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 || st.st_dev != sc->dev)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ==
		    0 ? "" : dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (S_ISDIR(st.st_mode))
			suid_walk(sc, path, depth + 1);
		else if (S_ISREG(st.st_mode) && (st.st_mode & (S_ISUID |
		    S_ISGID)) != 0 && (st.st_mode & 0111) != 0)
			suid_found(sc, path, &st);
	}
	closedir(d);
}

/*
 * A jailed service with setuid = off: each set-user-ID or set-group-ID
 * program of its root (or, without one, of the program's directory) is
 * named, since no_new_privs makes its bit do nothing: the player gets
 * "Permission denied" and the organizer an exit status.
 */
void
jailview_setuid_check(struct config *c, const struct service *s)
{
	struct suidscan sc = { .c = c, .s = s, .fix = "setuid = on" };
	char dir[PATH_MAX], *slash;
	struct stat st;

	if (!s->sandbox || s->allow_setuid)
		return;
	if (s->root != NULL) {
		snprintf(dir, sizeof(dir), "%s", s->root);
		sc.top = s->root;
		sc.line = s->root_line > 0 ? s->root_line : s->line;
	} else {
		/* The host's system directories are the host's business. */
		if (system_dir(s->argv[0]))
			return;
		snprintf(dir, sizeof(dir), "%s", s->argv[0]);
		slash = strrchr(dir, '/');
		if (slash == NULL || slash == dir)
			return;
		*slash = '\0';
		sc.top = "";
		sc.fix = "setuid = on and root = DIR (setuid = on needs a root "
		    "of the challenge's own)";
		sc.line = s->argv_line > 0 ? s->argv_line : s->line;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
		return;
	sc.dev = st.st_dev;
	suid_walk(&sc, dir, 0);
	if (sc.entries >= SUID_ENTRIES)
		warn_add_kind(c, s, WARN_SETUID, sc.line, dir, "has more than "
		    "100000 entries: the set-user-ID scan stopped there",
		    "nothing (or setuid = on if it holds one)");
}

void
jailview_warnings_free(struct config *c)
{
	while (c->warnings != NULL) {
		struct cfgwarn *w = c->warnings;

		c->warnings = w->next;
		free(w->path);
		free(w->why);
		free(w->fix);
		free(w);
	}
}

/*
 * -n prints them (fp), startup and reload log them (fp NULL), each with
 * the key that would fix it.
 */
void
jailview_warnings(const struct config *c, FILE *fp)
{
	for (const struct cfgwarn *w = c->warnings; w != NULL; w = w->next) {
		if (w->kind == WARN_SETUID) {
			if (fp != NULL)
				fprintf(fp, "chald: %s:%d: warning: service %s: "
				    "%s %s; add %s\n", w->file, w->line,
				    w->service, w->path, w->why, w->fix);
			else
				log_event("setuid-warning service=%s file=%s "
				    "problem=%s fix=%s", w->service,
				    log_quote(w->path), log_quote(w->why),
				    log_quote(w->fix));
			continue;
		}
		if (fp != NULL) {
			fprintf(fp, "chald: %s:%d: warning: service %s: command "
			    "argument %s %s", w->file, w->line, w->service,
			    w->path, w->why);
			if (w->fix != NULL)
				fprintf(fp, "; add %s", w->fix);
			fputc('\n', fp);
			continue;
		}
		log_event("path-warning service=%s arg=%s problem=%s%s%s",
		    w->service, log_quote(w->path), log_quote(w->why),
		    w->fix != NULL ? " fix=" : "",
		    w->fix != NULL ? log_quote(w->fix) : "");
	}
}
