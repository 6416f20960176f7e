/*
 * peerlock.c: the player's socket answers its player only. The socket the
 * daemon accepted belongs to the host's network namespace, whatever the
 * jail's own, and a TCP socket can be disconnected (connect with AF_UNSPEC)
 * and connected again, anywhere the host can reach: the host's 127.0.0.1,
 * its LAN, the cloud metadata service. A seccomp filter sees neither a
 * socket's namespace nor connect's address, so the jail's init attaches a
 * classic BPF socket filter to the socket before the challenge gets it,
 * which keeps only packets from the player's address and port, and locks
 * it (SO_LOCK_FILTER: it can be neither removed nor replaced, by anyone).
 * A reconnected socket hears no answer, so no connection is established;
 * its SYNs still leave (docs/threat-model.md).
 *
 * The filter runs where TCP hands a packet to its socket: the packet's
 * data starts at the TCP header, and the IP header is reached through
 * SKF_NET_OFF. The builder is pure (unit-tested by running its program);
 * linked into chald-init (jail.c) and the unit tests.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <string.h>

#include "chald.h"

#define NET(off)	((uint32_t)(SKF_NET_OFF + (off)))

static void
emit(struct sock_filter *f, size_t *n, size_t max, uint16_t code,
    uint32_t k, uint8_t jt, uint8_t jf)
{
	if (*n < max) {
		f[*n].code = code;
		f[*n].jt = jt;
		f[*n].jf = jf;
		f[*n].k = k;
	}
	(*n)++;
}

/*
 * The program for a peer: IPv4 (also as an IPv4-mapped IPv6 address, whose
 * packets are IPv4 on the wire) or IPv6. Each test jumps to the drop at the
 * end when it fails. Returns the number of instructions (more than max:
 * nothing usable was written), 0 for an unknown family.
 */
size_t
peerlock_build(const struct sockaddr *peer, struct sock_filter *f,
    size_t max)
{
	uint32_t words[4];
	unsigned nwords, version;
	uint16_t port;
	size_t n = 0, total;

	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)peer;

		memcpy(words, &sin->sin_addr, 4);
		nwords = 1;
		port = ntohs(sin->sin_port);
	} else if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)peer;

		port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(words, &sin6->sin6_addr.s6_addr[12], 4);
			nwords = 1;
		} else {
			memcpy(words, &sin6->sin6_addr, 16);
			nwords = 4;
		}
	} else
		return 0;
	version = nwords == 1 ? 4 : 6;
	/* version, each address word, the port, accept, drop */
	total = 3 + 2 * nwords + 2 + 2;
	emit(f, &n, max, BPF_LD | BPF_B | BPF_ABS, NET(0), 0, 0);
	emit(f, &n, max, BPF_ALU | BPF_RSH | BPF_K, 4, 0, 0);
	emit(f, &n, max, BPF_JMP | BPF_JEQ | BPF_K, version, 0,
	    (uint8_t)(total - n - 2));
	for (unsigned i = 0; i < nwords; i++) {
		/* source address: offset 12 in IPv4, 8 in IPv6 */
		emit(f, &n, max, BPF_LD | BPF_W | BPF_ABS,
		    NET((version == 4 ? 12 : 8) + 4 * i), 0, 0);
		emit(f, &n, max, BPF_JMP | BPF_JEQ | BPF_K, ntohl(words[i]),
		    0, (uint8_t)(total - n - 2));
	}
	/* the TCP source port, at the start of the data */
	emit(f, &n, max, BPF_LD | BPF_H | BPF_ABS, 0, 0, 0);
	emit(f, &n, max, BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1);
	/* keep all of it (a loopback packet may be larger than 64 KiB) */
	emit(f, &n, max, BPF_RET | BPF_K, 0xffffffff, 0, 0);
	emit(f, &n, max, BPF_RET | BPF_K, 0, 0, 0);
	return n;
}

/*
 * Locks sock, a TCP socket, to the peer it is connected to. A socket that
 * is locked already was locked by the init of a jail that failed before
 * its challenge ran (the daemon then hands the player to a fresh jail,
 * session_rejail): only an init locks a player's socket, and only to its
 * own peer, so that lock is this one.
 */
int
peerlock_apply(int sock)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct sock_filter code[32];
	struct sock_fprog prog;
	size_t n;
	int one = 1, locked = 0;
	socklen_t ll = sizeof(locked);

	/* A socket with no peer (reset already) is not handed on unlocked. */
	if (getpeername(sock, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	n = peerlock_build((struct sockaddr *)&ss, code, 32);
	if (n == 0 || n > 32)
		return -1;
	prog.len = (unsigned short)n;
	prog.filter = code;
	if (getsockopt(sock, SOL_SOCKET, SO_LOCK_FILTER, &locked, &ll) == 0 &&
	    locked)
		return 0;
	if (setsockopt(sock, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
	    sizeof(prog)) == -1 ||
	    setsockopt(sock, SOL_SOCKET, SO_LOCK_FILTER, &one,
	    sizeof(one)) == -1)
		return -1;
	return 0;
}
