/*
 * watch.c: what the daemon's one epoll set watches, and with which tag.
 * Every stage registers its fds here, so that the set is changed in one
 * place and the order rules below hold for all of them.
 *
 * Exits: each session's pidfd is in the set, so the session that ended is
 * reaped by its own pid, whatever the number of live sessions
 * (waitid(P_ALL) walks every child: 0.75 ms with 10,000 of them). A
 * session whose pidfd cannot be watched is left to the SIGCHLD sweep
 * (reap.c), which then runs every REAP_SWEEP_MS.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <unistd.h>

#include "chald.h"

void
watch_fd(struct daemon *d, int fd, void *tag, int on)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	if (fd < 0)
		return;
	if (epoll_ctl(d->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd,
	    &ev) == -1 && errno != ENOENT && errno != EEXIST)
		log_warn("epoll_ctl");
}

/* A watched fd waits for something else now (EPOLLIN or EPOLLOUT). */
void
watch_events(struct daemon *d, int fd, void *tag, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = tag };

	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) == -1)
		log_warn("epoll_ctl");
}

void
watch_listener(struct daemon *d, struct svcstate *st, int on)
{
	watch_fd(d, st->fd, st, on);
}

void
watch_jail(struct daemon *d, struct session *sess, int on)
{
	watch_fd(d, sess->ctlfd, sess, on);
}

void
watch_exit_sweep(struct daemon *d, struct session *sess)
{
	int64_t soon = now_ms() + REAP_SWEEP_MS;

	sess->unwatched = 1;
	d->unwatched++;
	if (d->next_reap_ms > soon)
		d->next_reap_ms = soon;
}

void
watch_exit(struct daemon *d, struct session *sess)
{
	struct epoll_event ev = { .events = EPOLLIN };

	sess->exittag.kind = EV_EXIT;
	sess->exittag.sess = sess;
	ev.data.ptr = &sess->exittag;
	if (sess->pidfd >= 0 &&
	    epoll_ctl(d->epfd, EPOLL_CTL_ADD, sess->pidfd, &ev) == 0)
		return;
	if (sess->pidfd >= 0)
		log_warn("epoll_ctl pidfd");
	watch_exit_sweep(d, sess);
}

void
unwatch_exit(struct daemon *d, struct session *sess)
{
	if (sess->unwatched)
		d->unwatched--;
	else
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, sess->pidfd, NULL);
	sess->unwatched = 0;
}

void
watch_stderr(struct daemon *d, struct session *sess, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };

	sess->errfd = fd;
	if (fd < 0)
		return;
	sess->errtag.kind = EV_STDERR;
	sess->errtag.sess = sess;
	ev.data.ptr = &sess->errtag;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_warn("epoll_ctl");
		close(fd);
		sess->errfd = -1;
	}
}

void
unwatch_stderr(struct daemon *d, struct session *sess)
{
	if (sess->errfd < 0)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, sess->errfd, NULL);
	close(sess->errfd);
	sess->errfd = -1;
}

/* The pipe goes on to another session, open (session_rejail). */
void
watch_stderr_move(struct daemon *d, struct session *from, struct session *to)
{
	int fd = from->errfd;

	if (fd < 0)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
	from->errfd = -1;
	to->errbytes = from->errbytes;
	watch_stderr(d, to, fd);
}
