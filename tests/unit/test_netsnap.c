/*
 * test_netsnap.c: reading a network namespace's sockstat (netsnap.c): only
 * a namespace with no socket, no TIME_WAIT socket and no fragment queue is
 * idle, the host-wide fields do not matter, and anything that is not
 * sockstat is not idle.
 */
#include "chald.h"
#include "t.h"

static int
idle(const char *s)
{
	return netsnap_idle(s, strlen(s));
}

#define FRESH	"sockets: used 0\n" \
		"TCP: inuse 0 orphan 3 tw 0 alloc 40 mem 12\n" \
		"UDP: inuse 0 mem 104\n" \
		"UDPLITE: inuse 0\n" \
		"RAW: inuse 0\n" \
		"FRAG: inuse 0 memory 0\n"

int
main(void)
{
	CHECK(idle(FRESH));
	/* Host-wide: orphans, allocations and memory of the whole host. */
	CHECK(idle("sockets: used 0\nTCP: inuse 0 orphan 99 tw 0 alloc 7 "
	    "mem 900\nUDP: inuse 0 mem 7\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 0 memory 0\n"));
	/* Each of the namespace's own. */
	CHECK(!idle("sockets: used 1\nTCP: inuse 0 orphan 0 tw 0 alloc 4 "
	    "mem 0\nUDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 0 memory 0\n"));
	CHECK(!idle("sockets: used 0\nTCP: inuse 0 orphan 0 tw 1 alloc 4 "
	    "mem 0\nUDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 0 memory 0\n"));
	CHECK(!idle("sockets: used 0\nTCP: inuse 2 orphan 0 tw 0 alloc 4 "
	    "mem 0\nUDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 0 memory 0\n"));
	CHECK(!idle("sockets: used 0\nTCP: inuse 0 orphan 0 tw 0 alloc 4 "
	    "mem 0\nUDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 1 memory 0\n"));
	CHECK(!idle("sockets: used 0\nTCP: inuse 0 orphan 0 tw 0 alloc 4 "
	    "mem 0\nUDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 0 memory 4096\n"));
	CHECK(!idle("sockets: used 0\nTCP: inuse 0 orphan 0 tw 0 alloc 4 "
	    "mem 0\nUDP: inuse 3 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 0 memory 0\n"));
	/* A field or a line missing, or garbage: not idle. */
	CHECK(!idle("sockets: used 0\nTCP: inuse 0 orphan 0 alloc 4 mem 0\n"
	    "UDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 0 memory 0\n"));
	CHECK(!idle("TCP: inuse 0 orphan 0 tw 0 alloc 4 mem 0\n"
	    "UDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 0 memory 0\n"));
	CHECK(!idle(""));
	CHECK(!idle("sockets: used x\nTCP: inuse 0 orphan 0 tw 0 alloc 4 "
	    "mem 0\nUDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 0 memory 0\n"));
	CHECK(!idle("sockets: used -1\nTCP: inuse 0 orphan 0 tw 0 alloc 4 "
	    "mem 0\nUDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 0 memory 0\n"));
	/* A truncated read (no final newline) still parses what is there. */
	CHECK(idle("sockets: used 0\nTCP: inuse 0 orphan 0 tw 0 alloc 4 "
	    "mem 0\nUDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 0 memory 0"));
	/* "tw" is a field of its own, not the end of another. */
	CHECK(!idle("sockets: used 0\nTCP: inuse 0 orphan 0 xtw 0 alloc 4 "
	    "mem 0\nUDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\n"
	    "FRAG: inuse 0 memory 0\n"));
	T_DONE();
}
