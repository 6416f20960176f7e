/*
 * peer.c: kill-on-disconnect for unjailed sessions, the daemon's side. A
 * jailed session is watched by its own init (relay.c), which holds the
 * socket anyway. An unjailed one has no process of chald's own to do it
 * (but for the relay of stdio = pty), and a watcher process per session
 * would cost a clone, an exec and its memory for the whole session. The
 * daemon instead keeps a copy of the accepted socket in its epoll set with
 * no events asked for: epoll then reports only EPOLLHUP and EPOLLERR, which
 * TCP raises when the player reset the connection or both directions are
 * shut (relay.c says which cases those are), never for a half-close. That
 * costs the daemon one fd per session and one wakeup when the player goes,
 * and no byte of the session passes through it.
 */
#include <sys/epoll.h>

#include <signal.h>
#include <unistd.h>

#include "chald.h"

/* Takes sock over (closes it when it cannot be watched); -1: nothing. */
void
peer_watch(int epfd, struct session *s, int sock)
{
	struct epoll_event ev = { .events = 0 };

	if (sock < 0)
		return;
	s->peertag.kind = EV_PEER;
	s->peertag.sess = s;
	s->peerfd = sock;
	ev.data.ptr = &s->peertag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sock, &ev) == -1) {
		log_warn("epoll_ctl peer");
		s->peertag.kind = 0;
		s->peerfd = -1;
		close(sock);
	}
}

/* The player is gone: the session ends now, with its own cause. */
void
peer_event(int epfd, struct session *s)
{
	if (s->cause == CAUSE_NONE)
		s->cause = CAUSE_DISCONNECT;
	session_kill(s, SIGKILL);
	peer_unwatch(epfd, s);
}

/* The registration goes before the close (see architecture.md). */
void
peer_unwatch(int epfd, struct session *s)
{
	if (s->peertag.kind != EV_PEER)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, s->peerfd, NULL);
	close(s->peerfd);
	s->peertag.kind = 0;
	s->peerfd = -1;
}
