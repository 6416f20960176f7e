/*
 * test_jailspec.c: a service and a session survive the trip to the jail's
 * init byte for byte, and any spec that is cut, padded or otherwise broken
 * is refused with a reason instead of being half-read.
 */
#include <stdlib.h>

#include "chald.h"
#include "t.h"

static char *argv_[] = { "/srv/pwn/chal", "-x", "", NULL };
static char *env_[] = { "FLAG=ctf{x}", "PATH=/bin", NULL };
static char *ro_[] = { "/srv/data", NULL };
static char *rw_[] = { "/srv/scratch", "/srv/more", NULL };
static struct sock_filter insns[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
	BPF_STMT(BPF_RET | BPF_K, 0x7fff0000),
};

static void
service_fill(struct service *s)
{
	memset(s, 0, sizeof(*s));
	s->argv = argv_;
	s->argc = 3;
	s->env = env_;
	s->nenv = 2;
	s->bind_ro = ro_;
	s->nbind_ro = 1;
	s->bind_rw = rw_;
	s->nbind_rw = 2;
	s->workdir = "/srv/pwn";
	s->stderr_mode = STDERR_LOG;
	s->open_files = 64;
	s->pids = 16;
	s->cpu_time_ms = 2500;
	s->file_size = 1 << 20;
	s->tmp_size = 8 << 20;
	snprintf(s->hostname, sizeof(s->hostname), "app");
	s->address_space = 1ULL << 33;
	s->seccomp = 1;
	s->kill_disc = 1;
	s->filter.len = 2;
	s->filter.filter = insns;
}

static char *
pack(const struct service *s, char procs[CG_NCTRL][PATH_MAX], int netready,
    size_t *len)
{
	char *buf;
	/* Hierarchy 0's tasks file comes as an fd, and a template. */
	struct jailrun run = { .uid = 200007, .netready = netready,
	    .forked = netready, .joinmask = netready && procs ? 0x1 : 0,
	    .tmpl = netready, .filter = &s->filter };
	const char *skel = s->root == NULL ? "/run/chald/skel.1.1" : NULL;

	*len = jailspec_pack(s, &run, "/run/chald/root", skel, procs, NULL,
	    0);
	buf = malloc(*len);
	CHECK(buf != NULL);
	CHECK(jailspec_pack(s, &run, "/run/chald/root", skel, procs, buf,
	    *len) == *len);
	return buf;
}

static void
roundtrip(void)
{
	static char procs[CG_NCTRL][PATH_MAX] = {
		"/sys/fs/cgroup/pids/chald.1/s1/cgroup.procs", "", "", ""
	};
	struct service s;
	struct jailspec js;
	char err[128], *buf;
	size_t len;

	service_fill(&s);
	buf = pack(&s, procs, 1, &len);
	CHECK(jailspec_unpack(buf, len, &js, err, sizeof(err)) == 0);
	CHECK(js.uid == 200007);
	CHECK(js.net_ready == 1 && js.forked == 1);
	CHECK(js.joinmask == 0x1 && js.tmpl == 1);
	for (int i = 0; i < CG_NCTRL; i++)
		CHECK(js.joinfd[i] == -1);	/* init_spec fills them in */
	CHECK_STR(js.rootdir, "/run/chald/root");
	CHECK_STR(js.skel, "/run/chald/skel.1.1");
	CHECK_STR(js.procs[0], procs[0]);
	CHECK_STR(js.procs[3], "");
	CHECK(js.svc.argc == 3);
	CHECK_STR(js.svc.argv[0], "/srv/pwn/chal");
	CHECK_STR(js.svc.argv[2], "");
	CHECK(js.svc.argv[3] == NULL);
	CHECK(js.svc.nenv == 2);
	CHECK_STR(js.svc.env[0], "FLAG=ctf{x}");
	CHECK(js.svc.env[2] == NULL);
	CHECK(js.svc.nbind_ro == 1 && js.svc.bind_ro[1] == NULL);
	CHECK_STR(js.svc.bind_ro[0], "/srv/data");
	CHECK(js.svc.nbind_rw == 2 && js.svc.bind_rw[2] == NULL);
	CHECK_STR(js.svc.bind_rw[1], "/srv/more");
	CHECK_STR(js.svc.workdir, "/srv/pwn");
	CHECK_STR(js.svc.hostname, "app");
	CHECK(js.svc.root == NULL);
	CHECK(js.svc.stderr_mode == STDERR_LOG);
	CHECK(js.svc.open_files == 64 && js.svc.pids == 16);
	CHECK(js.svc.cpu_time_ms == 2500);
	CHECK(js.svc.file_size == 1 << 20 && js.svc.tmp_size == 8 << 20);
	CHECK(js.svc.address_space == 1ULL << 33);
	CHECK(js.svc.seccomp == 1 && js.svc.net_host == 0);
	CHECK(js.svc.stdio_mode == STDIO_SOCKET && js.svc.kill_disc == 1);
	CHECK(js.svc.allow_setuid == 0);
	CHECK(js.svc.filter.len == 2);
	CHECK(memcmp(js.svc.filter.filter, insns, sizeof(insns)) == 0);
	jailspec_free(&js);
	free(buf);

	/* The filter sent is the one the jail is to attach (a forker's jail
	 * gets the inner part only), not necessarily the service's whole. */
	{
		struct sock_filter one_insn[1] = { insns[1] };
		struct sock_fprog part = { 1, one_insn };
		struct jailrun r = { .uid = 5, .filter = &part };
		char *b2;

		len = jailspec_pack(&s, &r, "/run/chald/root",
		    "/run/chald/skel.1.1", procs, NULL, 0);
		CHECK((b2 = malloc(len)) != NULL);
		jailspec_pack(&s, &r, "/run/chald/root", "/run/chald/skel.1.1",
		    procs, b2, len);
		CHECK(jailspec_unpack(b2, len, &js, err, sizeof(err)) == 0);
		CHECK(js.svc.filter.len == 1 && memcmp(js.svc.filter.filter,
		    &insns[1], sizeof(insns[1])) == 0);
		jailspec_free(&js);
		free(b2);
	}

	/* A jail given a fresh namespace brings its lo up itself. */
	buf = pack(&s, procs, 0, &len);
	CHECK(jailspec_unpack(buf, len, &js, err, sizeof(err)) == 0);
	CHECK(js.net_ready == 0 && js.svc.net_host == 0 && js.forked == 0);
	CHECK(js.joinmask == 0 && js.tmpl == 0);
	jailspec_free(&js);
	free(buf);

	/* An fd for a hierarchy the jail has no cgroup in has no role: the
	 * spec is refused rather than the fd taken for the next one. */
	{
		struct jailrun r = { .uid = 5, .joinmask = 0x8,
		    .filter = &s.filter };
		char one[4096];

		len = jailspec_pack(&s, &r, "/run/chald/root",
		    "/run/chald/skel.1.1", procs, one, sizeof(one));
		CHECK(len <= sizeof(one));
		CHECK(jailspec_unpack(one, len, &js, err, sizeof(err)) == -1);
		CHECK(strstr(err, "hierarchy 3") != NULL);
	}

	/* The other flags: a root of its own, host network (which is never
	 * a pooled namespace), no filter, a pty, kill-on-disconnect off,
	 * setuid on. */
	s.root = "/srv/rootfs";
	s.net_host = 1;
	s.seccomp = 0;
	s.stdio_mode = STDIO_PTY;
	s.kill_disc = 0;
	s.allow_setuid = 1;
	s.nbind_rw = 0;
	buf = pack(&s, NULL, 1, &len);
	CHECK(jailspec_unpack(buf, len, &js, err, sizeof(err)) == 0);
	CHECK(js.net_ready == 0);
	CHECK_STR(js.svc.root, "/srv/rootfs");
	CHECK_STR(js.skel, "");
	CHECK(js.svc.net_host == 1 && js.svc.seccomp == 0);
	CHECK(js.svc.stdio_mode == STDIO_PTY && js.svc.kill_disc == 0);
	CHECK(js.svc.allow_setuid == 1);
	CHECK(js.svc.filter.len == 0 && js.svc.nbind_rw == 0);
	CHECK_STR(js.procs[0], "");
	jailspec_free(&js);
	free(buf);
}

/* Every prefix of a good spec, and one byte more, is refused. */
static void
truncated(void)
{
	struct service s;
	struct jailspec js;
	char err[128], *buf, *longer;
	size_t len;
	int refused = 0;

	service_fill(&s);
	buf = pack(&s, NULL, 0, &len);
	for (size_t n = 0; n < len; n++)
		refused += jailspec_unpack(buf, n, &js, err, sizeof(err)) == -1;
	CHECK(refused == (int)len);
	longer = malloc(len + 1);
	memcpy(longer, buf, len);
	longer[len] = 'x';
	CHECK(jailspec_unpack(longer, len + 1, &js, err, sizeof(err)) == -1);
	CHECK_STR(err, "spec has 1 bytes too many");
	CHECK(jailspec_unpack(buf, 10, &js, err, sizeof(err)) == -1);
	CHECK_STR(err, "spec of 10 bytes is too short");
	free(longer);
	free(buf);
}

/* Header fields the daemon never writes. */
static void
broken(void)
{
	struct service s;
	struct jailspec js;
	char err[128], *buf;
	size_t len;
	uint32_t v;
	struct jailrun one = { .uid = 1, .filter = &s.filter };

	service_fill(&s);
	buf = pack(&s, NULL, 0, &len);
	buf[0] ^= 1;		/* magic */
	CHECK(jailspec_unpack(buf, len, &js, err, sizeof(err)) == -1);
	CHECK_STR(err, "not a jail spec");
	buf[0] ^= 1;
	/* argc (offset 56) of zero, then of four billion */
	memcpy(&v, buf + 56, 4);
	CHECK(v == 3);
	memset(buf + 56, 0, 4);
	CHECK(jailspec_unpack(buf, len, &js, err, sizeof(err)) == -1);
	CHECK_STR(err, "spec has impossible counts");
	memset(buf + 56, 0xff, 4);
	CHECK(jailspec_unpack(buf, len, &js, err, sizeof(err)) == -1);
	CHECK_STR(err, "spec has impossible counts");
	memcpy(buf + 56, &v, 4);
	/* stderr mode (offset 12) out of range */
	buf[12] = 9;
	CHECK(jailspec_unpack(buf, len, &js, err, sizeof(err)) == -1);
	buf[12] = (char)STDERR_LOG;
	CHECK(jailspec_unpack(buf, len, &js, err, sizeof(err)) == 0);
	jailspec_free(&js);
	free(buf);

	/* A jail goes on a skeleton or on the organizer's root, not both. */
	s.root = "/srv/rootfs";
	len = jailspec_pack(&s, &one, "/run/chald/root", "/run/chald/skel.1.1",
	    NULL, NULL, 0);
	buf = malloc(len);
	jailspec_pack(&s, &one, "/run/chald/root", "/run/chald/skel.1.1", NULL,
	    buf, len);
	CHECK(jailspec_unpack(buf, len, &js, err, sizeof(err)) == -1);
	CHECK_STR(err, "spec has a relative or missing path");
	free(buf);
	s.root = NULL;

	/* A relative program path never comes from config_finish(). */
	argv_[0] = "chal";
	buf = pack(&s, NULL, 0, &len);
	CHECK(jailspec_unpack(buf, len, &js, err, sizeof(err)) == -1);
	CHECK_STR(err, "spec has a relative or missing path");
	argv_[0] = "/srv/pwn/chal";
	free(buf);
}

int
main(void)
{
	roundtrip();
	truncated();
	broken();
	T_DONE();
}
