/*
 * netsnap.c: reads a network namespace's /proc/net/sockstat for the pool
 * of namespaces (netpool.c). No I/O.
 *
 * The file mixes the namespace's own counts (sockets in use, TIME_WAIT
 * sockets, fragment queues) with host-wide ones (orphans, allocated
 * sockets, memory), so it cannot be compared byte for byte like the other
 * files of the check; only the namespace's own fields are read, and each
 * must be 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chald.h"

/* The number after "key " in line, or -1 if there is none. */
static long
field(const char *line, const char *end, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = line; p + klen < end; p++)
		if ((p == line || p[-1] == ' ') && memcmp(p, key, klen) == 0 &&
		    p[klen] == ' ') {
			char *q;
			long v = strtol(p + klen + 1, &q, 10);

			if (q == p + klen + 1 || v < 0)
				return -1;
			return v;
		}
	return -1;
}

/*
 * 1 when buf (sockstat of one namespace) shows no socket at all, no
 * TIME_WAIT socket and no fragment queue; 0 otherwise, and for anything
 * that does not look like sockstat.
 */
int
netsnap_idle(const char *buf, size_t len)
{
	static const struct {
		const char	*line;
		const char	*key;
	} want[] = {
		{ "sockets:", "used" },
		{ "TCP:", "inuse" }, { "TCP:", "tw" },
		{ "UDP:", "inuse" }, { "UDPLITE:", "inuse" },
		{ "RAW:", "inuse" },
		{ "FRAG:", "inuse" }, { "FRAG:", "memory" },
	};
	int seen[sizeof(want) / sizeof(want[0])] = { 0 };
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;

		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			size_t l = strlen(want[i].line);

			if ((size_t)(eol - p) <= l ||
			    memcmp(p, want[i].line, l) != 0 || p[l] != ' ')
				continue;
			if (field(p + l, eol, want[i].key) != 0)
				return 0;
			seen[i] = 1;
		}
		p = eol + 1;
	}
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!seen[i])
			return 0;
	return 1;
}
