/*
 * seccomp.c: the syscall filter of a jailed challenge. It is built once per
 * service when the configuration is loaded, as a classic BPF program in
 * memory, so the child only makes one prctl() and never runs a library
 * (nothing to allocate, nothing to get wrong after fork).
 *
 * The policy is argued in docs/threat-model.md. In short: everything is
 * allowed but what no challenge needs and what widens the kernel's attack
 * surface beyond the namespaces (denied by name, or by argument: address
 * families, interface ioctls, a few socket options, dnotify), since
 * challenges are arbitrary programs. Denials are errors, which programs
 * probe and fall back from. The x86-64 and i386 ABIs get the same rules;
 * any other ABI (x32) is killed, which is the only kill.
 *
 * Integer arguments are compared on the 32 bits the kernel reads, and
 * ranges above an allowed set on all 64, so that garbage in an upper half
 * is refused rather than let through.
 *
 * chald assembles the program itself; libseccomp only names the calls.
 * Every jail's init attaches it, and the kernel then converts it to eBPF
 * and JIT-compiles it anew (a cost linear in its length), and runs it once
 * for each call number of both ABIs to cache those it allows whatever the
 * arguments (a cost in the length of those paths). libseccomp spent 476
 * instructions on this policy: a comparison per denied call, one per value
 * of each rule on an argument, ints compared on both halves, most of it
 * again for i386. Here a run of consecutive calls with one action is one
 * range, a rule on an argument tests the few values it lets through, an
 * upper half is read only where libseccomp compared all 64 bits (x86-64),
 * and the tests that read low halves only serve both ABIs: 193
 * instructions, attached in 0.6 of the time (bench/README.md). The policy
 * is the same to the bit: tests/unit/test_seccomp.c runs this program and
 * libseccomp's (tests/unit/seccomp_ref.c, the code this replaced) over
 * every call number of every ABI and the edges of every rule, with each
 * name in seccomp-allow and in seccomp-deny, and requires the same answer
 * for each.
 *
 * The program, in order:
 *	ld arch; jeq x86-64, native; jeq i386, i386; else kill
 *	native:	ld nr; a binary tree of comparisons of the number down to
 *		chains of at most CHAIN tests (an equality for a lone call,
 *		two for a run), to a return or to the block of tests on the
 *		call's arguments; on x86-64 the x32 numbers (bit 30, but -1)
 *		are one more run, to kill, as libseccomp checked them
 *	i386:	ld nr; its calls, likewise
 *	blocks:	socket's (one per ABI), the families (shared), setsockopt's,
 *		ioctl's, fcntl's, clone's, i386's socketcall's and ipc's
 *	the returns, one instruction per action.
 * That is x86 only: the halves of an argument are little-endian, and the
 * multiplexers are i386's.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/net.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chald.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the filter reads the halves of arguments as x86 lays them out"
#endif

/* Denied with EPERM unless a service's seccomp-allow names them. Names of
 * another ABI than the build's (umount, stime... of i386) count for it. */
static const char *default_deny[] = {
	"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise",
	"kcmp", "pidfd_getfd",
	"mount", "umount", "umount2", "pivot_root", "chroot", "move_mount",
	"open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr", "unshare", "setns", "bpf", "perf_event_open",
	"keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load",
	"init_module", "finit_module", "delete_module", "io_uring_setup",
	"io_uring_enter", "io_uring_register", "userfaultfd",
	"open_by_handle_at", "name_to_handle_at", "reboot", "swapon",
	"swapoff", "syslog", "acct", "settimeofday", "stime",
	"clock_settime", "clock_settime64", "clock_adjtime",
	"clock_adjtime64", "adjtimex", "quotactl", "quotactl_fd", "vhangup",
	"iopl", "ioperm", "modify_ldt", "vm86", "vm86old", "lookup_dcookie",
	"fanotify_init", "inotify_init", "inotify_init1", "nfsservctl",
	"uselib", "setdomainname", "sethostname",
	NULL
};

/*
 * socket() and socketpair(): UNIX, INET, INET6 and NETLINK only, the
 * families challenges use; netlink talks to the session's own network
 * namespace. The others are not covered by network namespaces (AF_VSOCK
 * reaches the hypervisor) or are rarely used kernel code, loaded on demand.
 * A family is compared on all 64 bits: a garbage upper half is refused.
 */
static const uint32_t families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };

/*
 * Within INET and INET6, only the protocols of TCP, UDP and ping (and 0,
 * the type's default), on all 64 bits: the others (SCTP, DCCP, UDP-Lite,
 * L2TP, MPTCP, SMC...) load modules of their own. EPROTONOSUPPORT is what
 * a kernel without them says, which programs (Go probing MPTCP) fall back
 * from. (AF_INET, SOCK_PACKET) is AF_PACKET to the kernel: EAFNOSUPPORT.
 */
static const uint32_t protocols[] = { 0, IPPROTO_ICMP, IPPROTO_TCP,
    IPPROTO_UDP, IPPROTO_ICMPV6 };

/* A range of values (inclusive) and the label it leads to. */
struct range {
	uint32_t	 lo, hi;
	unsigned	 to;
};

/* Socket ioctls that describe or change interfaces, routes, ARP, bridges,
 * bonds, VLANs: 0x890b-0x89ff but SIOCOUTQNSD (0x894b), and the wireless
 * extensions, 0x8b00-0x8bff. The player's socket belongs to the host's
 * network namespace, so on it they would describe the host. */
static const struct range if_ioctls[] = {
	{ 0x890b, 0x894a, 0 }, { 0x894c, 0x89ff, 0 }, { 0x8b00, 0x8bff, 0 },
};

/* setsockopt: interface-name oracles on the player's socket, and kernel
 * TLS (upper layer protocols). */
static const struct {
	uint32_t	 level, names[2];
	size_t		 n;
} bad_sockopts[] = {
	{ SOL_SOCKET, { SO_BINDTODEVICE, 62 /* SO_BINDTOIFINDEX */ }, 2 },
	{ IPPROTO_TCP, { 31 /* TCP_ULP */ }, 1 },
};

/* New namespaces from inside the jail: clone with a CLONE_NEW* flag. */
#define CLONE_NEW_ANY	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | \
	CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

/*
 * i386's multiplexed calls: socketcall(2) and ipc(2). libseccomp names
 * these calls by pseudo-numbers on i386, and a rule on one covered both
 * forms: the direct call, where Linux has one (since 4.3 for sockets, 5.1
 * for SysV IPC; numbers of syscall_32.tbl), and the sub-call of the
 * multiplexer, whose other arguments are in memory. So does a rule here.
 */
enum { MUX_SOCKET, MUX_IPC, NMUX };
#define SUB_LIMIT	32

static const struct muxed {
	const char	*name;
	uint8_t		 mux, sub;
	int16_t		 nr;		/* the direct call, -1: none */
} i386_muxed[] = {
	{ "socket", MUX_SOCKET, SYS_SOCKET, 359 },
	{ "bind", MUX_SOCKET, SYS_BIND, 361 },
	{ "connect", MUX_SOCKET, SYS_CONNECT, 362 },
	{ "listen", MUX_SOCKET, SYS_LISTEN, 363 },
	{ "accept", MUX_SOCKET, SYS_ACCEPT, -1 },
	{ "getsockname", MUX_SOCKET, SYS_GETSOCKNAME, 367 },
	{ "getpeername", MUX_SOCKET, SYS_GETPEERNAME, 368 },
	{ "socketpair", MUX_SOCKET, SYS_SOCKETPAIR, 360 },
	{ "send", MUX_SOCKET, SYS_SEND, -1 },
	{ "recv", MUX_SOCKET, SYS_RECV, -1 },
	{ "sendto", MUX_SOCKET, SYS_SENDTO, 369 },
	{ "recvfrom", MUX_SOCKET, SYS_RECVFROM, 371 },
	{ "shutdown", MUX_SOCKET, SYS_SHUTDOWN, 373 },
	{ "setsockopt", MUX_SOCKET, SYS_SETSOCKOPT, 366 },
	{ "getsockopt", MUX_SOCKET, SYS_GETSOCKOPT, 365 },
	{ "sendmsg", MUX_SOCKET, SYS_SENDMSG, 370 },
	{ "recvmsg", MUX_SOCKET, SYS_RECVMSG, 372 },
	{ "accept4", MUX_SOCKET, SYS_ACCEPT4, 364 },
	{ "recvmmsg", MUX_SOCKET, SYS_RECVMMSG, 337 },
	{ "sendmmsg", MUX_SOCKET, SYS_SENDMMSG, 345 },
	{ "semop", MUX_IPC, 1, -1 },
	{ "semget", MUX_IPC, 2, 393 },
	{ "semctl", MUX_IPC, 3, 394 },
	{ "semtimedop", MUX_IPC, 4, -1 },
	{ "msgsnd", MUX_IPC, 11, 400 },
	{ "msgrcv", MUX_IPC, 12, 401 },
	{ "msgget", MUX_IPC, 13, 399 },
	{ "msgctl", MUX_IPC, 14, 402 },
	{ "shmat", MUX_IPC, 21, 397 },
	{ "shmdt", MUX_IPC, 22, 398 },
	{ "shmget", MUX_IPC, 23, 395 },
	{ "shmctl", MUX_IPC, 24, 396 },
};
static const char *mux_name[NMUX] = { "socketcall", "ipc" };

/* Where a call leads: a return, or the block of tests on its arguments. */
enum act {
	ALLOW, PERM, NOSYS, AFNOSUPPORT, PROTONOSUPPORT, KILL,
	SOCKET, FAMILY, SOCKOPT, IOCTL, FCNTL, CLONE, SUBCALL,
	NACT = SUBCALL + NMUX
};
#define NRET	(KILL + 1)

static const uint32_t ret_value[NRET] = {
	[ALLOW] = SECCOMP_RET_ALLOW,
	[PERM] = SECCOMP_RET_ERRNO | EPERM,
	[NOSYS] = SECCOMP_RET_ERRNO | ENOSYS,
	[AFNOSUPPORT] = SECCOMP_RET_ERRNO | EAFNOSUPPORT,
	[PROTONOSUPPORT] = SECCOMP_RET_ERRNO | EPROTONOSUPPORT,
	[KILL] = SECCOMP_RET_KILL_PROCESS,
};

#define NR_LIMIT	1024	/* above every call number libseccomp knows */

/* The policy as tables: the action of each call of each ABI (the
 * build's; i386 on x86-64), and of i386's sub-calls. */
struct policy {
	uint32_t	 arch[2];
	int		 nabi;
	uint8_t		 act[2][NR_LIMIT];
	uint8_t		 sub[NMUX][SUB_LIMIT];
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static int
list_has(char **list, const char *name)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return 1;
	return 0;
}

/*
 * The rules on a call's arguments stand unless seccomp-allow lifts them or
 * seccomp-deny denies the call outright.
 */
static int
argument_rules(const char *name, char **allow, char **extra)
{
	return !list_has(allow, name) && !list_has(extra, name);
}

/* The number of a call on an ABI: -1 where it has none, -2 beyond the
 * tables; *m is its entry of i386_muxed on i386. */
static int
abi_number(const struct policy *p, int abi, const char *name,
    const struct muxed **m)
{
	int nr;

	*m = NULL;
	for (size_t i = 0; p->arch[abi] == SCMP_ARCH_X86 &&
	    i < NELEM(i386_muxed); i++)
		if (strcmp(i386_muxed[i].name, name) == 0) {
			*m = &i386_muxed[i];
			return i386_muxed[i].nr;
		}
	nr = seccomp_syscall_resolve_name_arch(p->arch[abi], name);
	return nr < 0 ? -1 : nr < NR_LIMIT ? nr : -2;
}

/*
 * Gives the call act on every ABI, and its sub-call (if multiplexed) sub,
 * where neither has an action yet: a call denied outright stays so, and
 * its argument rules, like libseccomp's, are moot.
 */
static int
policy_set(struct policy *p, const char *name, enum act act, enum act sub,
    char *err, size_t errlen)
{
	const struct muxed *m;

	for (int abi = 0; abi < p->nabi; abi++) {
		int nr = abi_number(p, abi, name, &m);

		if (nr == -2) {
			snprintf(err, errlen, "syscall \"%s\" is out of range",
			    name);
			return -1;
		}
		if (nr >= 0 && p->act[abi][nr] == ALLOW)
			p->act[abi][nr] = act;
		if (m != NULL && p->sub[m->mux][m->sub] == ALLOW)
			p->sub[m->mux][m->sub] = sub;
	}
	return 0;
}

static int
policy_deny(struct policy *p, const char *name, char *err, size_t errlen)
{
	if (!seccomp_known(name)) {
		snprintf(err, errlen, "unknown syscall \"%s\"", name);
		return -1;
	}
	return policy_set(p, name, PERM, PERM, err, errlen);
}

/*
 * The rules on arguments, each unless lifted by naming its call (which
 * lifts its socketcall form too; seccomp-allow = clone lifts clone3's
 * ENOSYS, glibc's fallback to clone). On i386 the sub-call of a call with
 * rules is refused whole: its arguments are in memory, where a filter
 * cannot look. clone3 is refused too: its flags are in memory.
 */
static int
policy_arguments(struct policy *p, char **allow, char **extra, char *err,
    size_t errlen)
{
	static const struct {
		const char	*name;
		enum act	 act, sub;
	} rules[] = {
		{ "socket", SOCKET, AFNOSUPPORT },
		{ "socketpair", FAMILY, AFNOSUPPORT },
		{ "setsockopt", SOCKOPT, PERM },
		{ "ioctl", IOCTL, ALLOW },
		{ "fcntl", FCNTL, ALLOW },
		{ "fcntl64", FCNTL, ALLOW },
		{ "clone", CLONE, ALLOW },
		{ "clone3", NOSYS, ALLOW },
	};

	for (size_t i = 0; i < NELEM(rules); i++) {
		const char *name = rules[i].name;

		if (!argument_rules(name, allow, extra) ||
		    (strcmp(name, "fcntl64") == 0 &&
		    list_has(allow, "fcntl")) ||
		    (strcmp(name, "clone3") == 0 && list_has(allow, "clone")))
			continue;
		if (policy_set(p, name, rules[i].act, rules[i].sub, err,
		    errlen) == -1)
			return -1;
	}
	/* the multiplexers lead to their sub-calls' tests if one has any */
	for (int mux = 0; p->nabi == 2 && mux < NMUX; mux++)
		for (int s = 0; s < SUB_LIMIT; s++)
			if (p->sub[mux][s] != ALLOW) {
				if (policy_set(p, mux_name[mux], SUBCALL + mux,
				    ALLOW, err, errlen) == -1)
					return -1;
				break;
			}
	return 0;
}

/* The ABIs with rules: the build's, and i386 on x86-64. */
static void
policy_init(struct policy *p)
{
	memset(p, 0, sizeof(*p));
	p->arch[0] = seccomp_arch_native();
	p->nabi = 1;
	if (p->arch[0] == SCMP_ARCH_X86_64)
		p->arch[p->nabi++] = SCMP_ARCH_X86;
}

/* --- the assembler ----------------------------------------------------- */

/*
 * Back to front: the program is written from its last instruction, and a
 * label is an instruction's distance from the end, known once it is
 * written. Every jump goes forward, so its targets are written before it.
 * A conditional jump reaches 255 instructions; farther, it goes through a
 * BPF_JA, which reaches anywhere.
 */
struct bpf {
	struct sock_filter	 insn[BPF_MAXINSNS];	/* the last first */
	unsigned		 n;	/* > BPF_MAXINSNS: too long */
};

static unsigned
emit(struct bpf *b, uint16_t code, uint32_t k, unsigned jt, unsigned jf)
{
	if (b->n < BPF_MAXINSNS)
		b->insn[b->n] = (struct sock_filter){ code, (uint8_t)jt,
		    (uint8_t)jf, k };
	return ++b->n;
}

static unsigned
jump(struct bpf *b, uint16_t op, uint32_t k, unsigned t, unsigned f)
{
	if (b->n - t > 255)
		t = emit(b, BPF_JMP | BPF_JA, b->n - t, 0, 0);
	if (b->n - f > 255)
		f = emit(b, BPF_JMP | BPF_JA, b->n - f, 0, 0);
	return emit(b, BPF_JMP | op | BPF_K, k, b->n - t, b->n - f);
}

static unsigned
load(struct bpf *b, uint32_t off)
{
	return emit(b, BPF_LD | BPF_W | BPF_ABS, off, 0, 0);
}

/* An argument's halves (little-endian). */
#define ARG_LO(i)	((uint32_t)offsetof(struct seccomp_data, args[i]))
#define ARG_HI(i)	(ARG_LO(i) + 4)

/* A is one of v[]: to in, else to out. */
static unsigned
one_of(struct bpf *b, const uint32_t *v, size_t n, unsigned in, unsigned out)
{
	unsigned next = out;

	for (size_t i = n; i-- > 0;)
		next = jump(b, BPF_JEQ, v[i], in, next);
	return next;
}

/* Ranges tested in a row at a leaf of a tree: longer chains are fewer
 * instructions but longer paths (2 to 16 attach in about the same time). */
#define CHAIN	4

/*
 * A (at least floor) in one of the ranges r[] (sorted, disjoint): to its
 * label, else to none. A binary tree of BPF_JGE down to chains: there a
 * lone value is one BPF_JEQ, a run a BPF_JGE and a BPF_JGT (the BPF_JGE
 * saved where the floor is the run's start).
 */
static unsigned
ranges(struct bpf *b, const struct range *r, size_t n, uint32_t floor,
    unsigned none)
{
	unsigned next = none, right, left, in;
	size_t m = n / 2;

	if (n > CHAIN) {
		right = ranges(b, r + m, n - m, r[m].lo, none);
		left = ranges(b, r, m, floor, none);
		return jump(b, BPF_JGE, r[m].lo, right, left);
	}
	for (size_t i = n; i-- > 0;) {
		if (r[i].lo == r[i].hi) {
			next = jump(b, BPF_JEQ, r[i].lo, r[i].to, next);
			continue;
		}
		/* below this run, A is below the next ones too */
		in = jump(b, BPF_JGT, r[i].hi, next, r[i].to);
		next = i == 0 && r[i].lo <= floor ? in :
		    jump(b, BPF_JGE, r[i].lo, in, none);
	}
	return next;
}

/* --- the program ------------------------------------------------------- */

struct gen {
	const struct policy *p;
	struct bpf	 b;
	unsigned	 to[2][NACT];	/* per ABI, the label of each action */
	int		 used[2][NACT];
	struct range	 r[NR_LIMIT + 1];
};

/*
 * socket() (from the top) and socketpair() (from family), in program
 * order, with the tests of upper halves in brackets on a 64-bit ABI only:
 *	socket:	ld a0; jeq AF_INET, proto; jeq AF_INET6, proto, family
 *	proto:	[ld a2.hi; jeq 0, 0, EPROTONOSUPPORT]
 *		ld a2; jeq each protocol, ok; else EPROTONOSUPPORT
 *	ok:	ld a0; jeq AF_INET6, family
 *		ld a1; and SOCK_TYPE_MASK; jeq SOCK_PACKET, EAFNOSUPPORT, family
 *	family:	[ld a0.hi; jeq 0, families, EAFNOSUPPORT]
 *	families: ld a0; jeq each family, ALLOW; else EAFNOSUPPORT (shared)
 * AF_INET and AF_INET6 are ints (low halves); a protocol is refused before
 * a family's upper half, SOCK_PACKET after the protocol, in libseccomp's
 * order.
 */
static unsigned
emit_families(struct bpf *b, const unsigned *to)
{
	one_of(b, families, NELEM(families), to[ALLOW], to[AFNOSUPPORT]);
	return load(b, ARG_LO(0));
}

static void
emit_socket(struct gen *g, int abi, int wide, unsigned families_lo)
{
	struct bpf *b = &g->b;
	unsigned *to = g->to[abi], family = families_lo, ok, proto;

	if (!g->used[abi][FAMILY])
		return;
	if (wide) {
		family = jump(b, BPF_JEQ, 0, family, to[AFNOSUPPORT]);
		family = load(b, ARG_HI(0));
	}
	to[FAMILY] = family;
	if (!g->used[abi][SOCKET])
		return;
	ok = jump(b, BPF_JEQ, SOCK_PACKET, to[AFNOSUPPORT], family);
	ok = emit(b, BPF_ALU | BPF_AND | BPF_K, 0xf /* SOCK_TYPE_MASK */, 0,
	    0);
	ok = load(b, ARG_LO(1));
	ok = jump(b, BPF_JEQ, AF_INET6, family, ok);
	ok = load(b, ARG_LO(0));
	proto = one_of(b, protocols, NELEM(protocols), ok, to[PROTONOSUPPORT]);
	proto = load(b, ARG_LO(2));
	if (wide) {
		proto = jump(b, BPF_JEQ, 0, proto, to[PROTONOSUPPORT]);
		proto = load(b, ARG_HI(2));
	}
	to[SOCKET] = jump(b, BPF_JEQ, AF_INET6, proto, family);
	to[SOCKET] = jump(b, BPF_JEQ, AF_INET, proto, to[SOCKET]);
	to[SOCKET] = load(b, ARG_LO(0));
}

/* setsockopt: ld a1; jeq each level, its names (ld a2; jeq each name,
 * EPERM), else ALLOW. */
static unsigned
emit_sockopt(struct bpf *b, const unsigned *to)
{
	unsigned level[NELEM(bad_sockopts)], next = to[ALLOW];

	for (size_t i = NELEM(bad_sockopts); i-- > 0;) {
		level[i] = one_of(b, bad_sockopts[i].names, bad_sockopts[i].n,
		    to[PERM], to[ALLOW]);
		level[i] = load(b, ARG_LO(2));
	}
	for (size_t i = NELEM(bad_sockopts); i-- > 0;)
		next = jump(b, BPF_JEQ, bad_sockopts[i].level, level[i], next);
	return load(b, ARG_LO(1));
}

static unsigned
emit_ioctl(struct gen *g, const unsigned *to)
{
	struct range r[NELEM(if_ioctls)];

	for (size_t i = 0; i < NELEM(r); i++) {
		r[i] = if_ioctls[i];
		r[i].to = to[PERM];
	}
	ranges(&g->b, r, NELEM(r), 0, to[ALLOW]);
	return load(&g->b, ARG_LO(1));
}

/* The ranges of a table of actions (ALLOW is none), with their labels. */
static size_t
table_ranges(const uint8_t *act, size_t n, const unsigned *to,
    struct range *r)
{
	size_t nr = 0;

	for (size_t i = 0; i < n; i++) {
		if (act[i] == ALLOW)
			continue;
		if (nr > 0 && r[nr - 1].hi + 1 == i && act[i - 1] == act[i])
			r[nr - 1].hi = (uint32_t)i;
		else
			r[nr++] = (struct range){ (uint32_t)i, (uint32_t)i,
			    to[act[i]] };
	}
	return nr;
}

/* i386's socketcall and ipc: ld a0 (the sub-call); its ranges. */
static unsigned
emit_subcalls(struct gen *g, int mux, const unsigned *to)
{
	size_t n = table_ranges(g->p->sub[mux], SUB_LIMIT, to, g->r);

	ranges(&g->b, g->r, n, 0, to[ALLOW]);
	return load(&g->b, ARG_LO(0));
}

/* Which actions each ABI's calls lead to, and the returns and blocks those
 * lead to: only they are emitted. */
static void
gen_used(struct gen *g)
{
	static const struct {
		enum act	 block, then;
	} uses[] = {
		{ SOCKET, FAMILY }, { SOCKET, AFNOSUPPORT },
		{ SOCKET, PROTONOSUPPORT },
		{ FAMILY, AFNOSUPPORT }, { SOCKOPT, PERM }, { IOCTL, PERM },
		{ FCNTL, PERM }, { CLONE, PERM },
	};
	const struct policy *p = g->p;

	for (int abi = 0; abi < p->nabi; abi++) {
		int *used = g->used[abi];

		used[ALLOW] = used[KILL] = 1;
		for (int nr = 0; nr < NR_LIMIT; nr++)
			used[p->act[abi][nr]] = 1;
		for (int mux = 0; mux < NMUX; mux++)
			for (int s = 0; used[SUBCALL + mux] && s < SUB_LIMIT;
			    s++)
				used[p->sub[mux][s]] = 1;
		for (size_t i = 0; i < NELEM(uses); i++)
			used[uses[i].then] |= used[uses[i].block];
	}
}

/* Emits a block that serves both ABIs, if one uses it. */
static void
gen_shared(struct gen *g, enum act act, unsigned (*fn)(struct gen *, int))
{
	if (g->used[0][act] || (g->p->nabi == 2 && g->used[1][act]))
		g->to[0][act] = g->to[1][act] = fn(g, act);
}

static unsigned
gen_sockopt(struct gen *g, int act)
{
	(void)act;
	return emit_sockopt(&g->b, g->to[0]);
}

static unsigned
gen_ioctl(struct gen *g, int act)
{
	(void)act;
	return emit_ioctl(g, g->to[0]);
}

/* fcntl, fcntl64: ld a1; jeq F_NOTIFY, EPERM, ALLOW (dnotify, inotify's
 * ancestor: on a shared directory it reports another session's reads) */
static unsigned
gen_fcntl(struct gen *g, int act)
{
	(void)act;
	jump(&g->b, BPF_JEQ, F_NOTIFY, g->to[0][PERM], g->to[0][ALLOW]);
	return load(&g->b, ARG_LO(1));
}

/* clone: ld a0; jset CLONE_NEW_ANY, EPERM, ALLOW (the flags' low half) */
static unsigned
gen_clone(struct gen *g, int act)
{
	(void)act;
	jump(&g->b, BPF_JSET, CLONE_NEW_ANY, g->to[0][PERM], g->to[0][ALLOW]);
	return load(&g->b, ARG_LO(0));
}

static unsigned
gen_subcalls(struct gen *g, int act)
{
	return emit_subcalls(g, act - SUBCALL, g->to[0]);
}

/* The whole program, from its end (see the top of this file). */
static void
gen_program(struct gen *g)
{
	const struct policy *p = g->p;
	struct bpf *b = &g->b;
	unsigned entry[2], next, families_lo = 0;
	size_t n;

	gen_used(g);
	for (int a = NRET; a-- > 0;)
		if (g->used[0][a] || (p->nabi == 2 && g->used[1][a]))
			g->to[0][a] = g->to[1][a] = emit(b, BPF_RET | BPF_K,
			    ret_value[a], 0, 0);
	gen_shared(g, SOCKOPT, gen_sockopt);
	gen_shared(g, IOCTL, gen_ioctl);
	gen_shared(g, FCNTL, gen_fcntl);
	gen_shared(g, CLONE, gen_clone);
	for (int mux = 0; mux < NMUX; mux++)
		gen_shared(g, SUBCALL + mux, gen_subcalls);
	if (g->used[0][FAMILY] || (p->nabi == 2 && g->used[1][FAMILY]))
		families_lo = emit_families(b, g->to[0]);
	for (int abi = p->nabi; abi-- > 0;)
		emit_socket(g, abi, (p->arch[abi] & __AUDIT_ARCH_64BIT) != 0,
		    families_lo);
	for (int abi = p->nabi; abi-- > 0;) {
		n = table_ranges(p->act[abi], NR_LIMIT, g->to[abi], g->r);
		/* x32: a number with bit 30 (but -1, no call), as libseccomp
		 * checked it */
		if (p->arch[abi] == SCMP_ARCH_X86_64)
			g->r[n++] = (struct range){ 0x40000000, 0xfffffffe,
			    g->to[abi][KILL] };
		entry[abi] = ranges(b, g->r, n, 0, g->to[abi][ALLOW]);
		entry[abi] = load(b, offsetof(struct seccomp_data, nr));
	}
	next = g->to[0][KILL];
	for (int abi = p->nabi; abi-- > 0;)
		next = jump(b, BPF_JEQ, p->arch[abi], entry[abi], next);
	load(b, offsetof(struct seccomp_data, arch));
}

/*
 * Builds the filter: the default deny list minus allow, plus deny.
 * Returns 0 with the BPF program in *out (free with seccomp_filter_free).
 */
int
seccomp_build(char **allow, char **extra, struct sock_fprog *out,
    char *err, size_t errlen)
{
	struct policy *p = calloc(1, sizeof(*p));
	struct gen *g = calloc(1, sizeof(*g));
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (p == NULL || g == NULL) {
		snprintf(err, errlen, "cannot build the seccomp filter: %s",
		    strerror(errno));
		goto out;
	}
	for (char **a = allow; a != NULL && *a != NULL; a++)
		if (!seccomp_known(*a)) {
			snprintf(err, errlen, "unknown syscall \"%s\"", *a);
			goto out;
		}
	policy_init(p);
	for (const char **d = default_deny; *d != NULL; d++)
		if (!list_has(allow, *d) && policy_deny(p, *d, err, errlen) ==
		    -1)
			goto out;
	for (char **d = extra; d != NULL && *d != NULL; d++)
		if (policy_deny(p, *d, err, errlen) == -1)
			goto out;
	if (policy_arguments(p, allow, extra, err, errlen) == -1)
		goto out;
	g->p = p;
	gen_program(g);
	if (g->b.n > BPF_MAXINSNS) {
		snprintf(err, errlen, "the seccomp filter is too long (%u "
		    "instructions)", g->b.n);
		goto out;
	}
	out->filter = malloc(g->b.n * sizeof(struct sock_filter));
	if (out->filter == NULL) {
		snprintf(err, errlen, "cannot build the seccomp filter: %s",
		    strerror(errno));
		goto out;
	}
	for (unsigned i = 0; i < g->b.n; i++)
		out->filter[i] = g->b.insn[g->b.n - 1 - i];
	out->len = (unsigned short)g->b.n;
	ret = 0;
out:
	free(g);
	free(p);
	return ret;
}

void
seccomp_filter_free(struct sock_fprog *p)
{
	free(p->filter);
	p->filter = NULL;
	p->len = 0;
}

/* True when the name is a syscall libseccomp knows, for config checks. */
int
seccomp_known(const char *name)
{
	return seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR;
}

/*
 * "ABI:name" of a system call as the kernel's audit reports it (arch is an
 * AUDIT_ARCH_* value, which libseccomp's SCMP_ARCH_* are): "x86_64:read",
 * "i386:socketcall", "x32:getpid"; "#N" for a number libseccomp does not
 * know.
 */
void
seccomp_name(uint32_t arch, long nr, char *buf, size_t len)
{
	const char *abi;
	char *name;

	if (arch == SCMP_ARCH_X86_64 && nr >= 0 && (nr & 0x40000000) != 0) {
		abi = "x32";
		arch = SCMP_ARCH_X32;
	} else if (arch == SCMP_ARCH_X86_64)
		abi = "x86_64";
	else if (arch == SCMP_ARCH_X86)
		abi = "i386";
	else if (arch == SCMP_ARCH_AARCH64)
		abi = "aarch64";
	else if (arch == SCMP_ARCH_ARM)
		abi = "arm";
	else
		abi = NULL;
	name = nr >= 0 && nr <= INT32_MAX ?
	    seccomp_syscall_resolve_num_arch(arch, (int)nr) : NULL;
	if (abi == NULL)
		snprintf(buf, len, "arch-%08x:", (unsigned)arch);
	else
		snprintf(buf, len, "%s:", abi);
	if (name != NULL)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s", name);
	else
		snprintf(buf + strlen(buf), len - strlen(buf), "#%ld", nr);
	free(name);
}
