/*
 * spawn.c: from an accepted socket to a running challenge. Everything about
 * one connection happens here, in the child, before exec: a session of its
 * own, default signal handling, the socket on fds 0 and 1, no other fd, a
 * clean UCSPI environment, the working directory.
 *
 * The child is created like posix_spawn does it, with CLONE_VM|CLONE_VFORK:
 * no page tables are copied, so the cost does not grow with the daemon's
 * memory, and the parent sleeps only until the exec. Because the memory is
 * shared, the child reports a failed step by writing {step, errno} into the
 * parent's struct before _exit(), which replaces the close-on-exec pipe a
 * fork()ed child would need, at no cost to the parent.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <linux/close_range.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define STACK_SIZE	(256 * 1024)

static const char *step_names[] = {
	"none", "signals", "setsid", "fds", "env", "chdir", "exec", "cgroup",
	"mounts", "pivot_root", "network", "hostname", "fork", "rlimits",
	"privileges", "seccomp", "clone", "spec", "peer-lock", "pty",
};

const char *
spawn_step_name(int step)
{
	if (step < 0 || (size_t)step >= sizeof(step_names) /
	    sizeof(step_names[0]))
		return "unknown";
	return step_names[step];
}

/* Shared between the parent and the CLONE_VM child. */
struct spawn_ctx {
	const struct spawn_req	*req;
	char			**relay;	/* stdio = pty: chald-relay's argv */
	enum spawn_step		 step;
	int			 err;
};

static char	*child_stack;

/*
 * Slots: SPAWN_NSLOTS fds reserved at start, above the daemon's own few
 * fds, so that the fds sessions add (pidfds, sockets, control sockets,
 * pipes) come above them, but for the odd hole a reload leaves below
 * (close-on-exec, and bounded). A child is cloned sharing
 * the daemon's fd table (CLONE_FILES), and its first step unshares it with
 * close_range(CLOSE_RANGE_UNSHARE) from the end of the slots, which copies
 * only the fds below. A plain copy of the table, and closing every
 * session's fds in the child after it, would grow with the live sessions.
 * What the child needs from above is put into a slot just before the
 * clone, and the slot gets its placeholder back right after.
 */
static int	 slot_base = -1;
static int	 slot_fill = -1;	/* the placeholder: /dev/null */

static int
fd_free(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

static int
slots_init(void)
{
	int base;

	slot_fill = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (slot_fill == -1)
		return -1;
	/* From 4 up: fd 3 is where the jail's init wants its socket. */
	for (base = slot_fill < 4 ? 4 : slot_fill + 1; base < 4096; base++) {
		int n = 0;

		while (n < SPAWN_NSLOTS && fd_free(base + n))
			n++;
		if (n == SPAWN_NSLOTS)
			break;
	}
	for (int i = 0; i < SPAWN_NSLOTS; i++)
		if (dup3(slot_fill, base + i, O_CLOEXEC) == -1)
			return -1;
	slot_base = base;
	return 0;
}

int
spawn_slot(int k)
{
	return slot_base + k;
}

/* fd -1: the placeholder again. */
int
spawn_slot_set(int k, int fd)
{
	return dup3(fd >= 0 ? fd : slot_fill, slot_base + k, O_CLOEXEC);
}

/* The child's first step: a table of its own, of the fds below the end of
 * the slots. */
int
spawn_unshare_fds(void)
{
	if (syscall(SYS_close_range, (unsigned)(slot_base + SPAWN_NSLOTS),
	    ~0U, CLOSE_RANGE_UNSHARE) == 0)
		return 0;
	return unshare(CLONE_FILES);	/* before Linux 5.9: copies all */
}

/* The top of the stack that every clone of the daemon runs on. */
char *
spawn_stack(void)
{
	return child_stack + STACK_SIZE;
}

int
spawn_init(void)
{
	child_stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (child_stack == MAP_FAILED)
		return -1;
	return slots_init();
}

/*
 * Runs on its own stack in the parent's memory: ASan's no-return hook would
 * see a foreign stack and print a warning onto the player's socket.
 */
static int __attribute__((no_sanitize("address")))
child_main(void *arg)
{
	struct spawn_ctx *c = arg;
	struct spawn_req req = *c->req, *r = &req;
	char *envp[CHALD_MAX_ENVP], envbuf[2048];
	sigset_t none;

	c->step = STEP_FDS;
	if (spawn_unshare_fds() == -1)
		goto fail;
	r->sock = spawn_slot(SLOT_SOCK);
	r->errfd = r->errfd >= 0 ? spawn_slot(SLOT_ERR) : -1;
	c->step = STEP_SIGNALS;
	if (child_signals() == -1)
		goto fail;
	c->step = STEP_SETSID;
	if (setsid() == -1)
		goto fail;
	c->step = STEP_ENV;
	if (child_env(r, envp, envbuf, sizeof(envbuf)) == -1)
		goto fail;
	c->step = STEP_FDS;
	/* With a pty, chald-init (in its slot) comes along as fd 3. */
	if (child_fds(r, c->relay != NULL ? spawn_slot(SLOT_INIT) : -1) == -1)
		goto fail;
	c->step = STEP_CHDIR;
	if (chdir(r->svc->workdir) == -1)
		goto fail;
	c->step = STEP_EXEC;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (c->relay != NULL)
		syscall(SYS_execveat, 3, "", c->relay, envp, AT_EMPTY_PATH);
	else
		execve(r->svc->argv[0], r->svc->argv, envp);
fail:
	c->err = errno;
	_exit(127);
}

/*
 * stdio = pty, unjailed: the session's first process execs chald-init as
 * its relay (relay.c), which runs the challenge on a pty: "chald-relay
 * -relay FLAGS PROGRAM [ARG...]". Allocated by the parent, freed after the
 * clone.
 */
static char **
relay_argv(const struct service *s)
{
	static char name[] = "chald-relay", opt[] = "-relay";
	static char flags[4][3] = { "--", "e-", "-k", "ek" };
	char **v = calloc((size_t)s->argc + 4, sizeof(*v));
	int f = (s->stderr_mode == STDERR_SOCKET) | (s->kill_disc ? 2 : 0);

	if (v == NULL)
		return NULL;
	v[0] = name;
	v[1] = opt;
	v[2] = flags[f];
	memcpy(v + 3, s->argv, (size_t)s->argc * sizeof(*v));
	return v;
}

/*
 * Returns the pid of the session's first process. On a failed step the
 * child has already exited: -1 is returned with the reason in err and the
 * child's pid in *failed (to be reaped), or 0 if no child was made.
 */
pid_t
spawn_session(const struct spawn_req *r, int *pidfd, pid_t *failed,
    char *err, size_t errlen)
{
	struct spawn_ctx c = { .req = r, .step = STEP_NONE, .err = 0 };
	sigset_t all, old;
	pid_t pid;

	*failed = 0;
	if (r->svc->stdio_mode == STDIO_PTY &&
	    (c.relay = relay_argv(r->svc)) == NULL) {
		snprintf(err, errlen, "step=memory error=%s",
		    log_quote(strerror(errno)));
		return -1;
	}
	/* No handler of the daemon may run in the child before the reset. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	/* The pidfd lets the daemon reap this child alone, in O(1). */
	*pidfd = -1;
	if (spawn_slot_set(SLOT_SOCK, r->sock) == -1 ||
	    (r->errfd >= 0 && spawn_slot_set(SLOT_ERR, r->errfd) == -1)) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		spawn_slot_set(SLOT_SOCK, -1);
		free(c.relay);
		snprintf(err, errlen, "step=fds error=%s",
		    log_quote(strerror(errno)));
		return -1;
	}
	pid = clone(child_main, child_stack + STACK_SIZE, CLONE_VM |
	    CLONE_VFORK | CLONE_FILES | CLONE_PIDFD | SIGCHLD, &c, pidfd);
	/* Out of fds: run it anyway; the SIGCHLD sweep will reap it. */
	if (pid == -1 && (errno == EMFILE || errno == ENFILE)) {
		*pidfd = -1;
		pid = clone(child_main, child_stack + STACK_SIZE,
		    CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &c);
	}
	free(c.relay);
	/* The slots would keep the player's connection open. */
	spawn_slot_set(SLOT_SOCK, -1);
	if (r->errfd >= 0)
		spawn_slot_set(SLOT_ERR, -1);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		snprintf(err, errlen, "step=clone error=%s",
		    log_quote(strerror(errno)));
		return -1;
	}
	if (c.err != 0) {
		snprintf(err, errlen, "step=%s error=%s%s%s",
		    spawn_step_name(c.step), log_quote(strerror(c.err)),
		    c.step == STEP_CHDIR ? " dir=" : "",
		    c.step == STEP_CHDIR ? log_quote(r->svc->workdir) : "");
		*failed = pid;
		if (*pidfd >= 0)
			close(*pidfd);
		*pidfd = -1;
		return -1;
	}
	return pid;
}
