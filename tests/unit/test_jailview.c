/*
 * test_jailview.c: the jail's file tree as jailview.c works it out, on a
 * small tree in a temp directory: paths in a root of its own, symlinks
 * taken relative to the jail's root (absolute ones, and ".." that cannot
 * climb out), binds that cover paths of the root, the jail's own /tmp, the
 * default workdir of an interpreter and its script, and the warnings with
 * the keys that fix them; and which services may have a template of their
 * jails' mounts (jailfs.c).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "chald.h"
#include "t.h"

static char dir[] = "/tmp/chald-test-jailview.XXXXXX";
static char root[300], binddir[300], script[300], data[300];

static void
mk(const char *rel, const char *text, mode_t mode)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (text == NULL) {
		CHECK(mkdir(path, mode) == 0);
		return;
	}
	fp = fopen(path, "w");
	CHECK(fp != NULL);
	if (fp != NULL) {
		fputs(text, fp);
		fclose(fp);
	}
	CHECK(chmod(path, mode) == 0);
}

static void
ln(const char *target, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	CHECK(symlink(target, path) == 0);
}

/*
 * root/  bin/busybox  bin/sh -> /bin/busybox  lib -> usr/lib  usr/lib/x.so
 *        up -> ../../../..   chal/run   chal/in-root   proc dev tmp
 * bind/  tool
 * x/     server.py          data/ flag.txt
 */
static void
tree(void)
{
	mk("root", NULL, 0755);
	mk("root/bin", NULL, 0755);
	mk("root/bin/busybox", "#!\n", 0755);
	ln("/bin/busybox", "root/bin/sh");
	mk("root/usr", NULL, 0755);
	mk("root/usr/lib", NULL, 0755);
	mk("root/usr/lib/x.so", "", 0644);
	ln("usr/lib", "root/lib");
	ln("../../../..", "root/up");
	mk("root/chal", NULL, 0755);
	mk("root/chal/run", "#!/bin/sh\n", 0755);
	mk("root/chal/in-root", "", 0644);
	mk("root/proc", NULL, 0755);
	mk("root/dev", NULL, 0755);
	mk("root/tmp", NULL, 0755);
	mk("bind", NULL, 0755);
	mk("bind/tool", "#!/bin/sh\n", 0755);
	mk("x", NULL, 0755);
	mk("x/server.py", "print(1)\n", 0644);
	mk("data", NULL, 0755);
	mk("data/flag.txt", "flag\n", 0644);
	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(binddir, sizeof(binddir), "%s/bind", dir);
	snprintf(script, sizeof(script), "%s/x/server.py", dir);
	snprintf(data, sizeof(data), "%s/data/flag.txt", dir);
}

static void
svc_init(struct service *s, char **argv, int argc)
{
	memset(s, 0, sizeof(*s));
	s->name = "t";
	s->file = "t.conf";
	s->line = 1;
	s->argv = argv;
	s->argc = argc;
	s->sandbox = 1;
}

static void
test_root(void)
{
	static char *bind_ro[2];
	char *argv[] = { "/chal/run", NULL };
	char host[600], want[600];
	struct service s;

	svc_init(&s, argv, 1);
	s.root = root;
	CHECK(jailview_lookup(&s, "/chal/run", host, sizeof(host)) == 0);
	snprintf(want, sizeof(want), "%s/chal/run", root);
	CHECK_STR(host, want);
	/* an absolute symlink stays in the root: the root's busybox */
	CHECK(jailview_lookup(&s, "/bin/sh", host, sizeof(host)) == 0);
	snprintf(want, sizeof(want), "%s/bin/busybox", root);
	CHECK_STR(host, want);
	/* a relative one too, and ".." stops at the jail's root */
	CHECK(jailview_lookup(&s, "/lib/x.so", host, sizeof(host)) == 0);
	snprintf(want, sizeof(want), "%s/usr/lib/x.so", root);
	CHECK_STR(host, want);
	CHECK(jailview_lookup(&s, "/up/chal/in-root", host, sizeof(host)) == 0);
	snprintf(want, sizeof(want), "%s/chal/in-root", root);
	CHECK_STR(host, want);
	/* the host's files are not the jail's */
	errno = 0;
	CHECK(jailview_lookup(&s, "/etc/passwd", host, sizeof(host)) == -1 &&
	    errno == ENOENT);
	CHECK(jailview_lookup(&s, script, host, sizeof(host)) == -1);
	/* the jail's /tmp is its own, even where the root has files */
	CHECK(jailview_lookup(&s, "/tmp", host, sizeof(host)) == -1);
	/* a bind covers what the root has at its path */
	bind_ro[0] = binddir;
	s.bind_ro = bind_ro;
	s.nbind_ro = 1;
	CHECK(jailview_lookup(&s, binddir, host, sizeof(host)) == 0);
	snprintf(want, sizeof(want), "%s/tool", binddir);
	CHECK(jailview_lookup(&s, want, host, sizeof(host)) == 0);
	CHECK_STR(host, want);
}

static void
test_program(void)
{
	char *argv[] = { "sh", "-c", "true", NULL };
	char *env[] = { "PATH=/nowhere:/bin", NULL };
	char err[CHALD_ERRLEN];
	struct service s;

	svc_init(&s, argv, 3);
	s.root = root;
	s.argv = malloc(4 * sizeof(char *));
	memcpy(s.argv, argv, sizeof(argv));
	s.argv[0] = strdup("sh");
	s.env = env;
	s.nenv = 1;
	/* found through the service's PATH, in the root, name kept */
	CHECK(jailview_program(&s, err, sizeof(err)) == 0);
	CHECK_STR(s.argv[0], "/bin/sh");
	free(s.argv[0]);
	s.argv[0] = strdup("/chal/in-root");
	CHECK(jailview_program(&s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "not executable in the jail (root ") != NULL);
	free(s.argv[0]);
	s.argv[0] = strdup("/tmp/x");
	CHECK(jailview_program(&s, err, sizeof(err)) == -1);
	CHECK(strstr(err, "/tmp is the jail's own, mounted afresh") != NULL);
	free(s.argv[0]);
	free(s.argv);
}

static void
test_workdir(void)
{
	char *interp[] = { "/usr/bin/python3", "-u", script, NULL };
	char *plain[] = { "/srv/chal/run", script, NULL };
	char want[600], *wd;
	struct service s;

	/* an interpreter from a system directory and its script */
	svc_init(&s, interp, 3);
	wd = jailview_default_workdir(&s);
	snprintf(want, sizeof(want), "%s/x", dir);
	CHECK_STR(wd, want);
	free(wd);
	/* any other program: its own directory */
	svc_init(&s, plain, 2);
	wd = jailview_default_workdir(&s);
	CHECK_STR(wd, "/srv/chal");
	free(wd);
}

static void
test_warnings(void)
{
	char arg[600], opt[600];
	char *argv[] = { "/usr/bin/python3", script, data, opt,
	    "/etc/debian_version-not-here", "/dev/null", "/tmp/made-later",
	    arg, NULL };
	struct config c;
	struct service s;
	struct cfgwarn *w;
	char want[600];
	int n = 0;

	snprintf(opt, sizeof(opt), "--out=%s/data", dir);
	snprintf(arg, sizeof(arg), "%s/x", dir);
	memset(&c, 0, sizeof(c));
	svc_init(&s, argv, 8);
	s.workdir = jailview_default_workdir(&s);
	jailview_check(&c, &s);
	for (w = c.warnings; w != NULL; w = w->next)
		n++;
	CHECK(n == 3);
	w = c.warnings;
	if (n == 3) {
		CHECK_STR(w->path, data);
		CHECK_STR(w->why, "is under the jail's own /tmp, which starts "
		    "empty");
		snprintf(want, sizeof(want), "bind-ro = %s/data", dir);
		CHECK_STR(w->fix, want);
		w = w->next;
		snprintf(want, sizeof(want), "%s/data", dir);
		CHECK_STR(w->path, want);
		w = w->next;
		CHECK_STR(w->path, "/etc/debian_version-not-here");
		CHECK_STR(w->why, "does not exist");
		CHECK(w->fix == NULL);
	}
	jailview_warnings_free(&c);
	CHECK(c.warnings == NULL);
	free(s.workdir);
	/* unjailed, the host is what it sees: nothing to say */
	s.sandbox = 0;
	jailview_check(&c, &s);
	CHECK(c.warnings == NULL);
}

/* Which services may have a template (jailfs.c): none of the paths they
 * bind at, below or above the jail's own /tmp, /proc and /dev/pts. */
static void
test_templatable(void)
{
	char *argv[] = { "/srv/chal/run" }, *tmpargv[] = { "/tmp/x/run" };
	char *b_root[] = { "/" }, *b_dev[] = { "/dev" }, *b_shm[] = { "/dev/shm" };
	char *b_tmp[] = { "/tmp/data" }, *b_tmpish[] = { "/tmpfoo" };
	char *b_pts[] = { "/dev/pts/0" };
	struct service s;

	svc_init(&s, argv, 1);
	s.workdir = "/srv/chal";
	CHECK(jailfs_templatable(&s) == 1);
	s.workdir = "/tmp/w";
	CHECK(jailfs_templatable(&s) == 0);
	s.workdir = "/proc";
	CHECK(jailfs_templatable(&s) == 0);
	s.workdir = "/srv/chal";
	s.bind_ro = b_shm;
	s.nbind_ro = 1;
	CHECK(jailfs_templatable(&s) == 1);
	s.bind_ro = b_tmpish;
	CHECK(jailfs_templatable(&s) == 1);
	s.bind_ro = b_root;
	CHECK(jailfs_templatable(&s) == 0);
	s.bind_ro = b_dev;
	CHECK(jailfs_templatable(&s) == 0);
	s.bind_ro = b_pts;
	CHECK(jailfs_templatable(&s) == 0);
	s.nbind_ro = 0;
	s.bind_rw = b_tmp;
	s.nbind_rw = 1;
	CHECK(jailfs_templatable(&s) == 0);
	s.nbind_rw = 0;
	svc_init(&s, tmpargv, 1);
	s.workdir = "/tmp/x";
	CHECK(jailfs_templatable(&s) == 0);
	/* in a root of its own the program and workdir are the root's */
	s.root = "/srv/rootfs";
	CHECK(jailfs_templatable(&s) == 1);
	s.bind_rw = b_tmp;
	s.nbind_rw = 1;
	CHECK(jailfs_templatable(&s) == 0);
}

int
main(void)
{
	char cmd[400];

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	tree();
	test_root();
	test_program();
	test_workdir();
	test_warnings();
	test_templatable();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	T_DONE();
}
