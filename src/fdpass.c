/*
 * fdpass.c: one message with up to FDPASS_MAX fds (SCM_RIGHTS), as the
 * daemon sends them to a jail's init (the spec, the player) and to a
 * forker (a jail's fds), and a forker sends back a jail's pidfd. Linked
 * into the daemon and into chald-init.
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>

#include "chald.h"

/* 0 when all of buf went, with fds[0..nfds) (nfds 0: none); -1 else. */
int
fdpass_send(int sock, const void *buf, size_t len, const int *fds, int nfds,
    int flags)
{
	char cbuf[CMSG_SPACE(FDPASS_MAX * sizeof(int))];
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (nfds < 0 || nfds > FDPASS_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (nfds > 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL | flags) == (ssize_t)len ? 0 :
	    -1;
}
