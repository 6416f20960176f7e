/*
 * proxy.h: the PROXY protocol parser (proxy.c). A header of its own rather
 * than a block of chald.h, so that proxy.c, its unit test and its fuzz
 * harness build from these few lines alone.
 */
#ifndef PROXY_H
#define PROXY_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>

#define PROXY_V1_MAX	107		/* the longest v1 line, CRLF included */
#define PROXY_V2_FIXED	16		/* v2: signature, command, family, length */
#define PROXY_V2_MAX	(16 + 65535)	/* v2: the fixed part plus the most its
					   length field can say */

#define PROXY_CMD_LOCAL	0		/* v2 LOCAL: the balancer's own check */
#define PROXY_CMD_PROXY	1		/* relayed for a client (all of v1) */

/* What a header said. */
struct proxy_hdr {
	int		 version;	/* 1 or 2 */
	int		 command;	/* PROXY_CMD_*, as sent */
	int		 family;	/* AF_INET, AF_INET6, AF_UNIX or AF_UNSPEC
					   (v1 UNKNOWN, v2 UNSPEC), as sent */
	int		 local;		/* 1: keep the connection's own addresses
					   (LOCAL, UNKNOWN, UNSPEC, UNIX): src and
					   dst are then zero */
	struct sockaddr_storage src;	/* the client, with its port */
	struct sockaddr_storage dst;	/* the address the client reached */
	size_t		 len;		/* bytes of the header */
};

int		 proxy_parse(const unsigned char *buf, size_t len,
		    struct proxy_hdr *out, char *err, size_t errlen);
size_t		 proxy_need(const unsigned char *buf, size_t len);

#endif /* PROXY_H */
