/*
 * jailspec.c: one session's jail, flattened into bytes for the jail's
 * init. The init is a separate, freshly exec'd program (jail.c): it shares
 * no memory with the daemon, so what it must build (the service's mounts,
 * limits, seccomp filter, command, and the session's uid and cgroups) is
 * sent to it as one message on its control socket. No I/O here.
 *
 * Both ends are built from the same source into the same binary (the init
 * is embedded in chald), so the layout is native and unversioned; the
 * magic number only catches a message that is not a spec at all. Unpacking
 * still checks every count and string against the length, as for any
 * bytes read from a socket.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chald.h"

#define JAILSPEC_MAGIC	0x4a43484cU	/* "LHCJ" */
#define JS_ROOT		0x1
#define JS_NET_HOST	0x2
#define JS_SECCOMP	0x4
#define JS_PTY		0x8	/* stdio = pty */
#define JS_KILL_DISC	0x10	/* kill-on-disconnect */
#define JS_SETUID	0x20	/* setuid = on */
#define JS_NET_READY	0x40	/* a pooled network namespace: lo is up */
#define JS_FORKED	0x80	/* by a forker: an empty bounding set */
#define JS_TMPL		0x1000	/* the template's mount namespace comes */
#define JS_JOIN0	0x100	/* << i: hierarchy i's tasks file comes */
#define JS_MAX_ITEMS	65536		/* per list: more is a broken spec */

struct jailspec_hdr {
	uint32_t	magic;
	uint32_t	uid;
	uint32_t	flags;
	int32_t		stderr_mode;
	int32_t		open_files;
	int32_t		pids;
	int64_t		cpu_time_ms;
	uint64_t	file_size;
	uint64_t	tmp_size;
	uint64_t	address_space;
	uint32_t	argc;
	uint32_t	nenv;
	uint32_t	nbind_ro;
	uint32_t	nbind_rw;
	uint32_t	nfilter;
	uint32_t	pad;
};

struct packer {
	char	*buf;
	size_t	 len;
	size_t	 off;
};

static void
put(struct packer *p, const void *src, size_t n)
{
	if (p->buf != NULL && p->off + n <= p->len)
		memcpy(p->buf + p->off, src, n);
	p->off += n;
}

static void
put_str(struct packer *p, const char *s)
{
	put(p, s != NULL ? s : "", (s != NULL ? strlen(s) : 0) + 1);
}

static void
put_strs(struct packer *p, char **v, int n)
{
	for (int i = 0; i < n; i++)
		put_str(p, v[i]);
}

/*
 * Writes the spec into buf when it fits in len. Returns the length the
 * spec needs either way: a caller may ask with buf NULL first.
 */
size_t
jailspec_pack(const struct service *s, const struct jailrun *run,
    const char *rootdir, const char *skel, char procs[CG_NCTRL][PATH_MAX],
    char *buf, size_t len)
{
	struct jailspec_hdr h;
	struct packer p = { buf, len, 0 };
	const struct sock_fprog *f = s->seccomp ? run->filter : NULL;
	uint32_t nfilter = f != NULL ? f->len : 0;

	memset(&h, 0, sizeof(h));
	h.magic = JAILSPEC_MAGIC;
	h.uid = (uint32_t)run->uid;
	h.flags = (s->root != NULL ? JS_ROOT : 0) |
	    (s->net_host ? JS_NET_HOST : 0) | (s->seccomp ? JS_SECCOMP : 0) |
	    (s->stdio_mode == STDIO_PTY ? JS_PTY : 0) |
	    (s->kill_disc ? JS_KILL_DISC : 0) |
	    (s->allow_setuid ? JS_SETUID : 0) |
	    (run->netready && !s->net_host ? JS_NET_READY : 0) |
	    (run->forked ? JS_FORKED : 0) | (run->tmpl ? JS_TMPL : 0);
	/* The fds that come with the spec, each named, in this order: the
	 * joins, then the template (init_spec, jail.c). */
	for (int i = 0; i < CG_NCTRL; i++)
		if (run->joinmask & (1U << i))
			h.flags |= JS_JOIN0 << i;
	h.stderr_mode = (int32_t)s->stderr_mode;
	h.open_files = s->open_files;
	h.pids = s->pids;
	h.cpu_time_ms = s->cpu_time_ms;
	h.file_size = s->file_size;
	h.tmp_size = s->tmp_size;
	h.address_space = s->address_space;
	h.argc = (uint32_t)s->argc;
	h.nenv = (uint32_t)s->nenv;
	h.nbind_ro = (uint32_t)s->nbind_ro;
	h.nbind_rw = (uint32_t)s->nbind_rw;
	h.nfilter = nfilter;
	put(&p, &h, sizeof(h));
	if (nfilter > 0)
		put(&p, f->filter, nfilter * sizeof(struct sock_filter));
	put_str(&p, rootdir);
	put_str(&p, skel);
	put_str(&p, s->root);
	put_str(&p, s->workdir);
	put_str(&p, s->hostname);
	for (int i = 0; i < CG_NCTRL; i++)
		put_str(&p, procs != NULL ? procs[i] : "");
	put_strs(&p, s->argv, s->argc);
	put_strs(&p, s->env, s->nenv);
	put_strs(&p, s->bind_ro, s->nbind_ro);
	put_strs(&p, s->bind_rw, s->nbind_rw);
	return p.off;
}

struct reader {
	const char	*buf;
	size_t		 len;
	size_t		 off;
};

static const char *
get_str(struct reader *r)
{
	const char *s = r->buf + r->off;
	const char *nul;

	if (r->off >= r->len)
		return NULL;
	nul = memchr(s, '\0', r->len - r->off);
	if (nul == NULL)
		return NULL;
	r->off += (size_t)(nul - s) + 1;
	return s;
}

/* n strings into v[0..n-1], v[n] = NULL; the strings stay in the buffer. */
static int
get_strs(struct reader *r, char **v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const char *s = get_str(r);

		if (s == NULL)
			return -1;
		memcpy(&v[i], &s, sizeof(s));	/* the spec is read-only */
	}
	v[n] = NULL;
	return 0;
}

/*
 * Fills js from a spec of len bytes in buf, which must outlive js (the
 * strings point into it). Returns -1 with the reason in err.
 */
int
jailspec_unpack(const char *buf, size_t len, struct jailspec *js, char *err,
    size_t errlen)
{
	struct jailspec_hdr h;
	struct reader r = { buf, len, sizeof(h) };
	struct service *s = &js->svc;
	const char *root, *workdir, *hostname;
	size_t nptr;
	char **v;

	memset(js, 0, sizeof(*js));
	if (len < sizeof(h)) {
		snprintf(err, errlen, "spec of %zu bytes is too short", len);
		return -1;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.magic != JAILSPEC_MAGIC) {
		snprintf(err, errlen, "not a jail spec");
		return -1;
	}
	/* The environment has a fixed array in the challenge's child, and a
	 * filter is at most BPF_MAXINSNS long. */
	if (h.argc < 1 || h.argc > JS_MAX_ITEMS || h.nenv > CHALD_MAX_ENV ||
	    h.nbind_ro > JS_MAX_ITEMS || h.nbind_rw > JS_MAX_ITEMS ||
	    h.nfilter > BPF_MAXINSNS || ((h.flags & JS_SECCOMP) == 0) !=
	    (h.nfilter == 0) || h.stderr_mode < STDERR_SOCKET ||
	    h.stderr_mode > STDERR_LOG) {
		snprintf(err, errlen, "spec has impossible counts");
		return -1;
	}
	if ((len - r.off) / sizeof(struct sock_filter) < h.nfilter) {
		snprintf(err, errlen, "spec is truncated in the filter");
		return -1;
	}
	nptr = (size_t)h.argc + h.nenv + h.nbind_ro + h.nbind_rw + 4;
	/* The filter is copied out: the buffer need not be aligned. */
	js->mem = calloc(1, nptr * sizeof(char *) +
	    (size_t)h.nfilter * sizeof(struct sock_filter));
	if (js->mem == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	v = js->mem;
	if (h.nfilter > 0) {
		struct sock_filter *f = (struct sock_filter *)(v + nptr);

		memcpy(f, buf + r.off, h.nfilter * sizeof(*f));
		r.off += h.nfilter * sizeof(*f);
		s->filter.len = (unsigned short)h.nfilter;
		s->filter.filter = f;
	}
	js->rootdir = get_str(&r);
	js->skel = get_str(&r);
	root = get_str(&r);
	workdir = get_str(&r);
	hostname = get_str(&r);
	for (int i = 0; i < CG_NCTRL; i++)
		js->procs[i] = get_str(&r);
	s->argv = v;
	s->env = v + h.argc + 1;
	s->bind_ro = s->env + h.nenv + 1;
	s->bind_rw = s->bind_ro + h.nbind_ro + 1;
	if (workdir == NULL || hostname == NULL || js->procs[CG_NCTRL - 1] == NULL ||
	    get_strs(&r, s->argv, h.argc) == -1 ||
	    get_strs(&r, s->env, h.nenv) == -1 ||
	    get_strs(&r, s->bind_ro, h.nbind_ro) == -1 ||
	    get_strs(&r, s->bind_rw, h.nbind_rw) == -1) {
		snprintf(err, errlen, "spec is truncated in its strings");
		goto fail;
	}
	if (r.off != len) {
		snprintf(err, errlen, "spec has %zu bytes too many",
		    len - r.off);
		goto fail;
	}
	/* A jail is mounted on the organizer's root or on a skeleton. */
	if (js->rootdir[0] != '/' || workdir[0] != '/' ||
	    s->argv[0][0] != '/' || ((h.flags & JS_ROOT) != 0) !=
	    (root[0] != '\0') || (root[0] == '\0') != (js->skel[0] == '/')) {
		snprintf(err, errlen, "spec has a relative or missing path");
		goto fail;
	}
	if (strlen(hostname) >= sizeof(s->hostname)) {
		snprintf(err, errlen, "spec has a hostname too long");
		goto fail;
	}
	memcpy(s->hostname, hostname, strlen(hostname) + 1);
	memcpy(&s->root, &root, sizeof(root));
	memcpy(&s->workdir, &workdir, sizeof(workdir));
	if (s->root[0] == '\0')
		s->root = NULL;
	s->argc = (int)h.argc;
	s->nenv = (int)h.nenv;
	s->nbind_ro = (int)h.nbind_ro;
	s->nbind_rw = (int)h.nbind_rw;
	s->net_host = (h.flags & JS_NET_HOST) != 0;
	s->seccomp = (h.flags & JS_SECCOMP) != 0;
	s->stdio_mode = (h.flags & JS_PTY) != 0 ? STDIO_PTY : STDIO_SOCKET;
	s->kill_disc = (h.flags & JS_KILL_DISC) != 0;
	s->allow_setuid = (h.flags & JS_SETUID) != 0;
	js->net_ready = (h.flags & JS_NET_READY) != 0;
	js->forked = (h.flags & JS_FORKED) != 0;
	js->tmpl = (h.flags & JS_TMPL) != 0;
	js->joinmask = 0;
	for (int i = 0; i < CG_NCTRL; i++) {
		js->joinfd[i] = -1;
		if (!(h.flags & (JS_JOIN0 << i)))
			continue;
		if (js->procs[i][0] == '\0') {
			snprintf(err, errlen, "spec joins hierarchy %d by fd, "
			    "which has no cgroup", i);
			goto fail;
		}
		js->joinmask |= 1U << i;
	}
	s->stderr_mode = (enum stderr_mode)h.stderr_mode;
	s->open_files = h.open_files;
	s->pids = h.pids;
	s->cpu_time_ms = h.cpu_time_ms;
	s->file_size = h.file_size;
	s->tmp_size = h.tmp_size;
	s->address_space = h.address_space;
	js->uid = (uid_t)h.uid;
	return 0;
fail:
	jailspec_free(js);
	return -1;
}

void
jailspec_free(struct jailspec *js)
{
	free(js->mem);
	js->mem = NULL;
}
