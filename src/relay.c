/*
 * relay.c: the player's end of a session, inside the session. Linked into
 * chald-init only: in a jail it runs in init (pid 1, which holds the
 * player's socket anyway), unjailed in the session's first process, which
 * execs chald-init as "chald-relay" and is the challenge's parent. The
 * daemon never copies a byte of a session.
 *
 * Two jobs:
 *   - stdio = pty. The challenge's fds 0-2 are the slave of a pty in raw
 *     mode (no echo, no CR/LF translation, no signals from control
 *     characters, no flow control: every byte passes unchanged), and the
 *     pty is the session's controlling terminal. The relay copies between
 *     the pty's master and the socket, and passes the player's end of input
 *     on as the terminal's end of file (relay_eof).
 *   - kill-on-disconnect. What TCP lets the relay tell apart:
 *       FIN only (recv() returns 0, POLLRDHUP): the player has shut down
 *         its writing. A half-close (shutdown(SHUT_WR), nc -N, pwntools'
 *         shutdown("send")) and the close() of a player that had read
 *         everything send the same FIN, and nothing on the wire tells them
 *         apart until the session sends more. So a FIN alone keeps the
 *         session, which goes on being served.
 *       RST (POLLERR, and POLLHUP: the socket is in TCP_CLOSE): the player
 *         closed with data unread (a client killed at a prompt, SO_LINGER
 *         0), or its closed socket answered data the session sent after a
 *         full close. The player is gone.
 *       Both directions shut (POLLHUP alone): the player's FIN after the
 *         session shut down its own writing, or the reverse. Nothing can
 *         flow either way any more: gone.
 *       Output unacknowledged until the retransmissions give up
 *         (ETIMEDOUT): gone, but only after the kernel's retransmission
 *         timeout. A player that vanished without a packet while the
 *         session sends nothing is not noticed (no keepalive).
 *     Jailed, a gone player makes init report STEP_GONE to the daemon and
 *     SIGKILL the session; unjailed, the daemon watches the socket itself
 *     (peer.c), since there is no init there to ask.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "chald.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER	_IO('T', 0x41)	/* Linux 4.13 */
#endif
#ifndef SIOCOUTQ
#define SIOCOUTQ	TIOCOUTQ
#endif

#define RELAY_IN	4096		/* player -> challenge */
#define RELAY_OUT	65536		/* challenge -> player */
#define RETRY_MS	20		/* while the pty may still take input */
#define SETTLE_MS	10		/* for the pty to take what was written */
#define PTY_INBUF	4096		/* a terminal's input buffer (n_tty) */
#define FLUSH_MS	5000		/* at the end: a player that takes
					   nothing for this long gets no more */
#define LINGER_MS	2000		/* at the end: for the player's ACKs */

/* The buffers go last: only what comes before them is cleared at start,
 * so that a relay without a pty never touches (and the kernel never
 * faults in and zeroes) their 68 KiB. */
struct rstate {
	struct relay	*r;
	size_t		 inlen, inoff;
	size_t		 outlen, outoff;
	int		 eof;		/* the player sent its FIN */
	int		 eof_given;	/* and the challenge was told */
	int		 gone;		/* the player is gone */
	int		 exited;	/* the challenge exited */
	int		 status;
	int64_t		 wrote_ms;	/* last write to the pty */
	char		 in[RELAY_IN];
	char		 out[RELAY_OUT];
};

static struct rstate	state;

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A pty for the challenge: the master (non-blocking) and one slave fd,
 * raw, owned by owner ((uid_t)-1: unchanged), and the caller's controlling
 * terminal (the caller leads its session). The slave is opened through the
 * master (TIOCGPTPEER), so no path is looked up.
 */
int
relay_pty(int *mfd, int *sfd, uid_t owner)
{
	struct termios t;
	int m, s = -1, unlock = 0, n;

	m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m == -1)
		return -1;
	if (ioctl(m, TIOCSPTLCK, &unlock) == -1)
		goto fail;
	s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s == -1 && ioctl(m, TIOCGPTN, &n) == 0) {
		char path[64];

		snprintf(path, sizeof(path), "/dev/pts/%d", n);
		s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	}
	if (s == -1)
		goto fail;
	if (owner != (uid_t)-1 && (fchown(s, owner, owner) == -1 ||
	    fchmod(s, 0600) == -1))
		goto fail;
	if (tcgetattr(s, &t) == -1)
		goto fail;
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | IGNPAR | PARMRK | INPCK |
	    ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXANY | IXOFF | IMAXBEL |
	    IUTF8);
	t.c_oflag &= ~(tcflag_t)OPOST;
	t.c_lflag &= ~(tcflag_t)(ISIG | ICANON | IEXTEN | ECHO | ECHOE |
	    ECHOK | ECHONL | ECHOCTL | ECHOPRT | ECHOKE | TOSTOP);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t.c_cflag |= CS8 | CREAD;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(s, TCSANOW, &t) == -1 ||
	    fcntl(m, F_SETFL, O_NONBLOCK) == -1 ||
	    ioctl(s, TIOCSCTTY, 0) == -1)
		goto fail;
	*mfd = m;
	*sfd = s;
	return 0;
fail:
	n = errno;
	close(m);
	if (s != -1)
		close(s);
	errno = n;
	return -1;
}

/*
 * Blocks what the relay waits for and returns a signalfd of it: the
 * challenge's exit, and the daemon's SIGTERM/SIGINT/SIGHUP. Before the
 * challenge is started, so that no SIGCHLD is missed.
 */
int
relay_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -1;
	sigdelset(&set, SIGPIPE);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* The system calls that read: x86_64's, and i386's (3, 145, 180). */
static int
is_read(long nr)
{
	return nr == SYS_read || nr == SYS_readv || nr == SYS_pread64 ||
	    nr == 3 || nr == 145 || nr == 180;
}

/* True when a task of pid is blocked in a read of the pty (rdev). */
static int
task_reads_tty(const char *pid, dev_t rdev)
{
	char path[64], buf[256];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%s/task", pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while (!found && (e = readdir(d)) != NULL) {
		unsigned long fd;
		ssize_t n;
		long nr;
		int f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task/%s/syscall", pid,
		    e->d_name);
		if ((f = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		n = read(f, buf, sizeof(buf) - 1);
		close(f);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (sscanf(buf, "%ld 0x%lx", &nr, &fd) != 2 || !is_read(nr))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd/%lu", pid, fd);
		found = stat(path, &st) == 0 && S_ISCHR(st.st_mode) &&
		    st.st_rdev == rdev;
	}
	closedir(d);
	return found;
}

/*
 * True when some process is blocked in a read of the pty. Such a read
 * began in raw mode and keeps raw mode's rule (VMIN = 1) until it has a
 * byte: an end of file written now would be taken and dropped by it.
 * Unjailed, only the relay's own session is looked at.
 */
static int
raw_reader_blocked(const struct relay *r)
{
	struct stat tty;
	struct dirent *e;
	DIR *d;
	pid_t me = getpid(), sid = getsid(0);
	int found = 0;

	if (fstat(r->slave, &tty) == -1 || (d = opendir("/proc")) == NULL)
		return 0;
	while (!found && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9' ||
		    atoi(e->d_name) == me)
			continue;
		if (!r->jailed && getsid(atoi(e->d_name)) != sid)
			continue;
		found = task_reads_tty(e->d_name, tty.st_rdev);
	}
	closedir(d);
	return found;
}

/* The jail's init tells the daemon why it is about to kill the session. */
static void
report_gone(int ctl)
{
	struct jail_report rep = { STEP_GONE, 0 };

	if (ctl >= 0)
		send(ctl, &rep, sizeof(rep), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Takes what the challenge wrote, as far as there is room. */
static ssize_t
pty_read(struct rstate *st)
{
	struct relay *r = st->r;
	ssize_t n;

	if (r->master < 0 || st->outlen == RELAY_OUT)
		return 0;
	n = read(r->master, st->out + st->outlen, RELAY_OUT - st->outlen);
	if (n > 0 && !st->gone)
		st->outlen += (size_t)n;
	return n;
}

/*
 * Hangs the terminal up: its reads return 0 and its writes fail, and the
 * challenge gets SIGHUP. What it wrote before is taken first. The kernel
 * would signal only the session's leader, the relay, so the relay signals
 * the challenge itself, and before the hangup, so that the challenge
 * never runs on with reads of 0 and writes that fail: init all of its
 * namespace, the unjailed relay its process group (its own SIGHUP is
 * blocked).
 */
static void
pty_hangup(struct rstate *st)
{
	struct relay *r = st->r;

	while (pty_read(st) > 0)
		;
	kill(r->jailed ? -1 : 0, SIGHUP);
	close(r->master);
	r->master = -1;
	if (r->slave >= 0)
		close(r->slave);
	r->slave = -1;
	st->inlen = st->inoff = 0;
}

static void
player_gone(struct rstate *st)
{
	struct relay *r = st->r;

	if (st->gone)
		return;
	st->gone = 1;
	st->inlen = st->inoff = 0;
	st->outlen = st->outoff = 0;
	if (r->kill_disc) {
		/* Unjailed, the daemon saw it too and ends the session. */
		if (r->jailed) {
			report_gone(r->ctl);
			kill(-1, SIGKILL);
		}
		return;
	}
	if (r->master >= 0)
		pty_hangup(st);
}

/*
 * The player has sent its FIN, and every byte before it is in the pty's
 * input buffer: the challenge gets its end of file. A terminal in raw mode
 * has none, so the pty is switched to canonical input and VEOF is written.
 * The switch keeps what is buffered as it came (the kernel makes it one
 * "line" that is read unchanged), and nothing of the player's is left to
 * be misread, so the challenge reads the rest of its input and then 0. A
 * read that is blocked already began in raw mode, keeps raw mode's VMIN 1
 * and would drop the VEOF (see raw_reader_blocked): with nothing buffered
 * for it, that challenge gets a hangup instead, as socat gives every pty
 * challenge at the player's end of input. Returns 0 to be called again.
 */
static int
relay_eof(struct rstate *st)
{
	struct relay *r = st->r;
	struct termios t;
	int queued;
	char c;

	/* What was written last must be in the buffer, not on its way: a
	 * buffer with room left has taken all there was. */
	if (mono_ms() - st->wrote_ms < SETTLE_MS ||
	    (ioctl(r->slave, TIOCINQ, &queued) == 0 &&
	    queued >= PTY_INBUF - 1))
		return 0;
	st->eof_given = 1;
	if (ioctl(r->slave, TIOCINQ, &queued) == -1 ||
	    tcgetattr(r->slave, &t) == -1)
		return 1;
	if (t.c_cc[VEOF] == _POSIX_VDISABLE)
		t.c_cc[VEOF] = 4;	/* ^D */
	if (!(t.c_lflag & ICANON)) {
		/* A blocked read began raw (with input buffered, none is
		 * blocked); any read from the switch on is canonical. Looked
		 * for before the switch, which wakes a blocked reader up for
		 * a moment. */
		if (queued == 0 && raw_reader_blocked(r)) {
			pty_hangup(st);
			return 1;
		}
		t.c_lflag |= ICANON;
	}
	if (tcsetattr(r->slave, TCSANOW, &t) == -1)
		return 1;
	c = (char)t.c_cc[VEOF];
	if (write(r->master, &c, 1) == -1) {
		/* the pty is full or gone: nothing more to tell it */
	}
	return 1;
}

static void
on_signals(struct rstate *st, int sigfd)
{
	struct signalfd_siginfo si;
	struct relay *r = st->r;

	while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo != SIGCHLD) {
			/* pid 1 passes the daemon's signal on to the session;
			 * unjailed, the daemon signals the whole group. */
			if (r->jailed)
				kill(-1, (int)si.ssi_signo);
			continue;
		}
		for (;;) {
			int status;
			pid_t pid = waitpid(-1, &status, WNOHANG);

			if (pid <= 0)
				break;
			if (pid == r->child) {
				st->exited = 1;
				st->status = status;
			}
		}
	}
}

static void
on_sock(struct rstate *st, short revents)
{
	struct relay *r = st->r;
	ssize_t n;

	if ((revents & POLLIN) && st->inlen == 0 && !st->eof) {
		n = recv(r->sock, st->in, sizeof(st->in), MSG_DONTWAIT);
		if (n > 0) {
			st->inlen = (size_t)n;
			st->inoff = 0;
		} else if (n == 0)
			st->eof = 1;
		else if (errno != EAGAIN && errno != EINTR)
			player_gone(st);
	}
	if ((revents & POLLOUT) && st->outoff < st->outlen) {
		n = send(r->sock, st->out + st->outoff, st->outlen -
		    st->outoff, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0 && (st->outoff += (size_t)n) == st->outlen)
			st->outoff = st->outlen = 0;
		else if (n == -1 && errno != EAGAIN && errno != EINTR)
			player_gone(st);
	}
	if (revents & (POLLERR | POLLHUP | POLLNVAL))
		player_gone(st);
}

static void
on_pty(struct rstate *st, short revents)
{
	struct relay *r = st->r;
	ssize_t n;

	if ((revents & POLLOUT) && st->inoff < st->inlen) {
		n = write(r->master, st->in + st->inoff, st->inlen -
		    st->inoff);
		if (n > 0)
			st->wrote_ms = mono_ms();
		if (n > 0 && (st->inoff += (size_t)n) == st->inlen)
			st->inoff = st->inlen = 0;
	}
	if ((revents & (POLLIN | POLLHUP | POLLERR)) && r->master >= 0 &&
	    st->outlen < RELAY_OUT) {
		n = pty_read(st);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
			/* EIO: no slave is open any more */
			close(r->master);
			r->master = -1;
		}
	}
}

/* Sends what is buffered, waiting for the player up to FLUSH_MS. */
static int
flush_wait(struct rstate *st)
{
	struct pollfd p = { st->r->sock, POLLOUT, 0 };

	if (poll(&p, 1, FLUSH_MS) <= 0) {
		st->gone = 1;		/* it takes nothing: give up */
		return -1;
	}
	on_sock(st, p.revents & (short)~POLLIN);
	return st->gone ? -1 : 0;
}

/*
 * The challenge has exited: everything it wrote goes to the player before
 * the close. The pty is read until it is empty once (leftover processes
 * may write on, and the session ends now all the same), then the buffer is
 * sent.
 */
static void
pty_finish(struct rstate *st)
{
	struct relay *r = st->r;

	while (!st->gone && r->master >= 0) {
		ssize_t n = pty_read(st);

		if (n > 0)
			continue;
		if (n == 0 && st->outlen == RELAY_OUT) {
			if (flush_wait(st) == -1)
				break;
			continue;
		}
		break;		/* empty (EAGAIN) or gone (EIO) */
	}
	while (!st->gone && st->outoff < st->outlen)
		if (flush_wait(st) == -1)
			break;
}

/*
 * Closing with unread input would send a reset, and a reset may discard
 * output still on its way. So: say we are done (FIN), throw away what the
 * player sends, and wait a little for its ACKs or its own close.
 */
static void
linger_close(int sock)
{
	int64_t end = mono_ms() + LINGER_MS;
	char buf[4096];

	shutdown(sock, SHUT_WR);
	for (;;) {
		struct pollfd p = { sock, POLLIN, 0 };
		ssize_t n;
		int q;

		while ((n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			;
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			break;		/* the player closed too */
		if (ioctl(sock, SIOCOUTQ, &q) == 0 && q == 0)
			break;		/* all of it was acknowledged */
		if (mono_ms() >= end)
			break;
		poll(&p, 1, 10);
	}
	close(sock);
}

/*
 * Runs until the challenge (r->child) exits and returns its wait status.
 * With a pty, it copies both ways until then and flushes the challenge's
 * last output after; with the socket alone (r->master -1), it only
 * watches for a gone player, if kill-on-disconnect asks for it.
 */
int
relay_run(struct relay *r)
{
	struct rstate *st = &state;
	int pty = r->master >= 0;

	memset(st, 0, offsetof(struct rstate, in));
	st->r = r;
	while (!st->exited) {
		struct pollfd pf[3];
		int watch, timeout = -1;

		if (st->eof && !st->eof_given && st->inlen == 0 &&
		    r->master >= 0 && relay_eof(st) == 0)
			timeout = RETRY_MS;
		watch = !st->gone && (r->master >= 0 || r->kill_disc);
		pf[0] = (struct pollfd){ r->sigfd, POLLIN, 0 };
		pf[1] = (struct pollfd){ watch ? r->sock : -1, 0, 0 };
		pf[2] = (struct pollfd){ r->master, 0, 0 };
		if (r->master >= 0) {
			if (!st->eof && st->inlen == 0)
				pf[1].events |= POLLIN;
			if (st->outoff < st->outlen)
				pf[1].events |= POLLOUT;
			if (st->outlen < RELAY_OUT)
				pf[2].events |= POLLIN;
			if (st->inoff < st->inlen)
				pf[2].events |= POLLOUT;
		}
		if (poll(pf, 3, timeout) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents)
			on_signals(st, r->sigfd);
		if (pf[1].revents)
			on_sock(st, pf[1].revents);
		if (pf[2].revents && r->master >= 0)
			on_pty(st, pf[2].revents);
	}
	if (pty) {
		pty_finish(st);
		if (r->master >= 0)
			close(r->master);
		if (r->slave >= 0)
			close(r->slave);
		r->master = r->slave = -1;
		/* Unjailed, the daemon holds the socket too and closes it
		 * once the relay is reaped; a shutdown here would make the
		 * player's close look like both directions shut (peer.c). */
		if (!st->gone && r->jailed)
			linger_close(r->sock);
		else
			close(r->sock);
		r->sock = -1;
	}
	return st->status;
}

/* Ends like the challenge did: its exit code, or its signal. */
static void __attribute__((noreturn))
exit_like(int status)
{
	if (WIFSIGNALED(status)) {
		struct rlimit none = { 0, 0 };
		sigset_t set;
		int sig = WTERMSIG(status);

		setrlimit(RLIMIT_CORE, &none);	/* the challenge's is enough */
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		kill(getpid(), sig);
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
}

/* Where the relay's own errors may go: never to the player. */
static void
relay_err(const char *what, const char *arg)
{
	struct stat st;
	char line[512];
	int n;

	if (fstat(2, &st) == -1 || S_ISSOCK(st.st_mode) || isatty(2))
		return;
	n = snprintf(line, sizeof(line), "chald-relay: %s %s: %s\n", what,
	    arg, strerror(errno));
	if (n > 0 && write(2, line, (size_t)n) == -1) {
		/* nobody to tell */
	}
}

/*
 * An unjailed session with stdio = pty: "chald-relay -relay FLAGS PROGRAM
 * [ARG...]", with the player's socket on fds 0 and 1, the challenge's
 * stderr on 2, its environment and working directory. FLAGS: 'e' puts the
 * challenge's stderr on the pty too, 'k' says kill-on-disconnect is on
 * (the daemon then ends the session itself). The relay leads the session
 * and holds its terminal; the challenge is its child, in its process
 * group, so that the daemon's signals to the group reach both.
 */
int
relay_main(int argc, char **argv)
{
	extern char **environ;
	struct relay r = { .sock = -1, .master = -1, .slave = -1, .ctl = -1 };
	const char *flags;
	pid_t pid;

	if (argc < 4)
		return 2;
	flags = argv[2];
	r.kill_disc = strchr(flags, 'k') != NULL;
	prctl(PR_SET_NAME, "chald-relay", 0, 0, 0);
	if ((r.sock = fcntl(0, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (r.sigfd = relay_signals()) == -1) {
		relay_err("start", argv[3]);
		return 127;
	}
	if (relay_pty(&r.master, &r.slave, (uid_t)-1) == -1) {
		relay_err("pty for", argv[3]);
		return 127;
	}
	pid = fork();
	if (pid == -1) {
		relay_err("fork for", argv[3]);
		return 127;
	}
	if (pid == 0) {
		sigset_t none;

		if (dup2(r.slave, 0) == -1 || dup2(r.slave, 1) == -1 ||
		    (strchr(flags, 'e') != NULL && dup2(r.slave, 2) == -1))
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(argv[3], argv + 3, environ);
		relay_err("exec", argv[3]);
		_exit(127);
	}
	/* The relay keeps its own copy of the socket only, and no stderr
	 * (the daemon's pipe sees EOF when the challenge closes it). */
	for (int fd = 0; fd < 3; fd++)
		close(fd);
	r.child = pid;
	exit_like(relay_run(&r));
}
