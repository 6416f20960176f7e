/*
 * netlo.c: brings up the loopback of the calling process's network
 * namespace, with an Ethernet MTU and segments of at most 4 KiB, by one
 * rtnetlink request. Linked into chald (netpool.c, which makes namespaces
 * ahead of the jails) and into chald-init (jail.c, for a namespace the
 * pool could not give). Only system calls and the stack: it runs in
 * clones that share the daemon's memory.
 *
 * Why those figures: the kernel lets a TCP socket queue one segment
 * whatever the memory limit says (a socket is never starved of its first
 * send buffer), and on cgroup v1 that is not made up for by the OOM
 * killer: on lo's 64 KiB MTU, 64 KiB per socket beyond the session's
 * socket memory cap, on these about 8 KiB. Loopback in the jail is slower
 * for it (a few Gbit/s against twenty), far more than a player's
 * connection carries.
 */
#include <sys/socket.h>

#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

#define LO_INDEX	1	/* lo is 1 in every network namespace */
#define LO_MTU		1500
#define LO_GSO		4096

struct lo_req {
	struct nlmsghdr		nh;
	struct ifinfomsg	ifi;
	char			attrs[2 * RTA_SPACE(sizeof(uint32_t))];
};

static void __attribute__((no_sanitize("address")))
lo_attr(struct nlmsghdr *nh, unsigned short type, uint32_t v)
{
	struct rtattr *rta = (struct rtattr *)(void *)((char *)nh +
	    NLMSG_ALIGN(nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(sizeof(v));
	memcpy(RTA_DATA(rta), &v, sizeof(v));
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_SPACE(sizeof(v));
}

/* 0, or -1 with errno (EPROTO for an answer that is not an ack). */
int __attribute__((no_sanitize("address")))
netlo_up(void)
{
	struct lo_req req;
	union {
		struct nlmsghdr		nh;
		char			buf[NLMSG_SPACE(sizeof(struct nlmsgerr)) +
					    sizeof(struct lo_req)];
	} ack;
	struct nlmsgerr *e = NLMSG_DATA(&ack.nh);
	ssize_t n;
	int fd, ret = -1;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.nh.nlmsg_type = RTM_NEWLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = LO_INDEX;
	req.ifi.ifi_flags = IFF_UP;
	req.ifi.ifi_change = IFF_UP;
	lo_attr(&req.nh, IFLA_MTU, LO_MTU);
	lo_attr(&req.nh, IFLA_GSO_MAX_SIZE, LO_GSO);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1)
		return -1;
	if (send(fd, &req, req.nh.nlmsg_len, 0) != (ssize_t)req.nh.nlmsg_len)
		goto done;
	do
		n = recv(fd, &ack, sizeof(ack), 0);
	while (n == -1 && errno == EINTR);
	if (n < (ssize_t)NLMSG_SPACE(sizeof(*e)) ||
	    ack.nh.nlmsg_type != NLMSG_ERROR) {
		errno = EPROTO;
		goto done;
	}
	if (e->error != 0)
		errno = -e->error;
	else
		ret = 0;
done:
	close(fd);
	return ret;
}
