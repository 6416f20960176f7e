/*
 * test_seccomp.c: the jail's filters, run for real. The service's seccomp
 * filter is built and installed in forked children, which then make the
 * calls a hostile player would, as an x86-64 process and, through int 0x80,
 * as an i386 one; an x32 call must kill. Then the pure helpers: call names
 * for the log, the parser of the kernel's audit records (with hostile and
 * cut input), the ring of kills, and the player socket's peer lock, whose
 * BPF program is run on made-up packets.
 *
 * The filter is also run, through an interpreter, against the program
 * libseccomp made of the same policy (seccomp_ref.c): the same answer on
 * every input, for every configuration tried (test_equivalence).
 */
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "chald.h"
#include "t.h"
#include "seccomp_ref.c"

/* --- the filter, installed ------------------------------------------------- */

/* What a call returned in a filtered child: 0, or the errno. */
#define OK	0

static int
errno_of(long r)
{
	return r == -1 ? errno : OK;
}

#if defined(__x86_64__)
/* An i386 system call from this 64-bit process. */
static long
int80(long nr, long a, long b, long c)
{
	long r;

	__asm__ volatile ("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b),
	    "d"(c) : "memory");
	return r;
}

static int
errno80(long r)
{
	return r < 0 && r > -4096 ? (int)-r : OK;
}
#endif

/* A check in a filtered child: one byte to the parent (1: as expected). */
static void
child_check(int fd, const char *what, int got, int want)
{
	char ok = got == want;

	if (!ok)
		fprintf(stderr, "  %s: got %d (%s), want %d (%s)\n", what,
		    got, strerror(got), want, strerror(want));
	if (write(fd, &ok, 1) != 1)
		_exit(3);
}

static void
install(const struct sock_fprog *p)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p) == -1)
		_exit(2);
}

static int
fresh_socket(void)
{
	return socket(AF_INET, SOCK_DGRAM, 0);
}

/* The default filter against a player's calls. */
static void
calls_default(int out)
{
	struct ifreq ifr[8];
	struct ifconf ifc = { .ifc_len = sizeof(ifr), .ifc_req = ifr };
	int s = fresh_socket(), n;

	child_check(out, "socket(AF_INET)", s >= 0 ? OK : errno, OK);
	child_check(out, "socket(AF_UNIX)",
	    errno_of(socket(AF_UNIX, SOCK_STREAM, 0)), OK);
	child_check(out, "socket(AF_INET6, udp)",
	    errno_of(socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP)), OK);
	child_check(out, "socket(AF_NETLINK)",
	    errno_of(socket(AF_NETLINK, SOCK_RAW, 0)), OK);
	child_check(out, "socket(AF_VSOCK)",
	    errno_of(socket(40, SOCK_STREAM, 0)), EAFNOSUPPORT);
	child_check(out, "socket(AF_PACKET)",
	    errno_of(socket(AF_PACKET, SOCK_RAW, 0)), EAFNOSUPPORT);
	child_check(out, "socket(AF_ALG)",
	    errno_of(socket(38, SOCK_SEQPACKET, 0)), EAFNOSUPPORT);
	child_check(out, "socket(0x100000028)", errno_of(syscall(SYS_socket,
	    0x100000028ULL, SOCK_STREAM, 0)), EAFNOSUPPORT);
	child_check(out, "socket(0x100000002)", errno_of(syscall(SYS_socket,
	    0x100000002ULL, SOCK_STREAM, 0)), EAFNOSUPPORT);
	child_check(out, "socket(mptcp)",
	    errno_of(socket(AF_INET, SOCK_STREAM, 262)), EPROTONOSUPPORT);
	child_check(out, "socket(sctp)",
	    errno_of(socket(AF_INET6, SOCK_STREAM, 132)), EPROTONOSUPPORT);
	child_check(out, "socket(inet, tcp)",
	    errno_of(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 6)), OK);
	child_check(out, "socket(inet, SOCK_PACKET)",
	    errno_of(socket(AF_INET, 10, 0)), EAFNOSUPPORT);
	child_check(out, "socketpair(AF_VSOCK)", errno_of(socketpair(40,
	    SOCK_STREAM, 0, (int[2]){ 0, 0 })), EAFNOSUPPORT);
	child_check(out, "SIOCGIFCONF", errno_of(ioctl(s, SIOCGIFCONF,
	    &ifc)), EPERM);
	child_check(out, "SIOCGIFINDEX", errno_of(ioctl(s, SIOCGIFINDEX,
	    ifr)), EPERM);
	child_check(out, "SIOCGIWNAME", errno_of(ioctl(s, 0x8b01, ifr)),
	    EPERM);
	child_check(out, "SIOCGIFCONF, upper bits", errno_of(syscall(
	    SYS_ioctl, s, 0xffffffff00008912ULL, &ifc)), EPERM);
	child_check(out, "FIONREAD", errno_of(ioctl(s, FIONREAD, &n)), OK);
	child_check(out, "SO_BINDTODEVICE", errno_of(setsockopt(s,
	    SOL_SOCKET, SO_BINDTODEVICE, "lo", 2)), EPERM);
	child_check(out, "SO_REUSEADDR", errno_of(setsockopt(s, SOL_SOCKET,
	    SO_REUSEADDR, &(int){ 1 }, sizeof(int))), OK);
	child_check(out, "inotify_init1", errno_of(inotify_init1(0)), EPERM);
	child_check(out, "F_NOTIFY", errno_of(fcntl(s, F_NOTIFY, DN_ACCESS)),
	    EPERM);
	child_check(out, "F_GETFL", errno_of(fcntl(s, F_GETFL)), OK);
	child_check(out, "unshare", errno_of(unshare(CLONE_NEWUSER)), EPERM);
	child_check(out, "clone3", errno_of(syscall(SYS_clone3, NULL, 0)),
	    ENOSYS);
	child_check(out, "modify_ldt", errno_of(syscall(SYS_modify_ldt, 0,
	    (char[16]){ 0 }, 16)), EPERM);
#if defined(__x86_64__)
	/* i386: int 0x80, i386 numbers; a NULL argument block means EFAULT
	 * from the kernel, any other error is the filter's */
	child_check(out, "i386 getpid", errno80(int80(20, 0, 0, 0)), OK);
	child_check(out, "i386 unshare", errno80(int80(310, CLONE_NEWUSER,
	    0, 0)), EPERM);
	child_check(out, "i386 socket(AF_VSOCK)", errno80(int80(359, 40,
	    SOCK_STREAM, 0)), EAFNOSUPPORT);
	child_check(out, "i386 socket(AF_INET)", errno80(int80(359, AF_INET,
	    SOCK_STREAM, 0)), OK);
	child_check(out, "i386 socketcall(SYS_SOCKET)", errno80(int80(102, 1,
	    0, 0)), EAFNOSUPPORT);
	child_check(out, "i386 socketcall(SYS_SOCKETPAIR)", errno80(int80(
	    102, 8, 0, 0)), EAFNOSUPPORT);
	child_check(out, "i386 socketcall(SYS_SETSOCKOPT)", errno80(int80(
	    102, 14, 0, 0)), EPERM);
	child_check(out, "i386 socketcall(SYS_GETSOCKOPT)", errno80(int80(
	    102, 15, 0, 0)), EFAULT);
	child_check(out, "i386 ioctl(SIOCGIFCONF)", errno80(int80(54, s,
	    0x8912, 0)), EPERM);
	child_check(out, "i386 inotify_init1", errno80(int80(332, 0, 0, 0)),
	    EPERM);
	child_check(out, "i386 fcntl64(F_NOTIFY)", errno80(int80(221, s,
	    F_NOTIFY, DN_ACCESS)), EPERM);
	child_check(out, "i386 modify_ldt", errno80(int80(123, 0, 0, 0)),
	    EPERM);
#endif
}

/* seccomp-allow lifts the rules of the calls it names, and only those. */
static void
calls_lifted(int out)
{
	int s = fresh_socket();

	child_check(out, "socket(0x100000002), lifted",
	    errno_of(syscall(SYS_socket, 0x100000002ULL, SOCK_STREAM, 0)), OK);
	child_check(out, "inotify_init1, lifted",
	    errno_of(inotify_init1(IN_CLOEXEC)), OK);
	child_check(out, "SO_BINDTODEVICE, still", errno_of(setsockopt(s,
	    SOL_SOCKET, SO_BINDTODEVICE, "lo", 2)), EPERM);
	child_check(out, "unshare, still", errno_of(unshare(CLONE_NEWUSER)),
	    EPERM);
#if defined(__x86_64__)
	child_check(out, "i386 socketcall(SYS_SOCKET), lifted",
	    errno80(int80(102, 1, 0, 0)), EFAULT);
#endif
}

/* seccomp-deny of a call with rules on its arguments: EPERM outright. */
static void
calls_denied(int out)
{
	child_check(out, "socket, denied",
	    errno_of(socket(AF_INET, SOCK_STREAM, 0)), EPERM);
	child_check(out, "socket(AF_VSOCK), denied",
	    errno_of(socket(40, SOCK_STREAM, 0)), EPERM);
	child_check(out, "clone3, denied with clone",
	    errno_of(syscall(SYS_clone3, NULL, 0)), ENOSYS);
}

/* Runs fn under the filter in a child; returns its wait status. */
static int
run_filtered(const struct sock_fprog *p, void (*fn)(int))
{
	int pfd[2], status;
	char c;
	pid_t pid;

	if (pipe(pfd) == -1)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		install(p);
		fn(pfd[1]);
		_exit(0);
	}
	close(pfd[1]);
	while (read(pfd[0], &c, 1) == 1)
		CHECK(c == 1);
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return status;
}

static void
x32_call(int out)
{
	(void)out;
#if defined(__x86_64__)
	syscall(0x40000000 | SYS_getpid);
#endif
	_exit(0);
}

static void
test_filter(void)
{
	char err[256] = "";
	struct sock_fprog p;
	char *allow[] = { "socket", "inotify_init1", NULL };
	char *deny[] = { "socket", "clone", NULL };
	static char outright[][12] = { "socketpair", "setsockopt", "ioctl",
	    "fcntl", "fcntl64", "socketcall", "clone", "clone3", "" };
	int st;

	CHECK(seccomp_build(NULL, NULL, &p, err, sizeof(err)) == 0);
	CHECK(p.len > 0 && p.len <= BPF_MAXINSNS);
	printf("default filter: %u instructions\n", p.len);
	st = run_filtered(&p, calls_default);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#if defined(__x86_64__)
	st = run_filtered(&p, x32_call);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
#endif
	seccomp_filter_free(&p);

	CHECK(seccomp_build(allow, NULL, &p, err, sizeof(err)) == 0);
	st = run_filtered(&p, calls_lifted);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	seccomp_filter_free(&p);

	CHECK(seccomp_build(NULL, deny, &p, err, sizeof(err)) == 0);
	st = run_filtered(&p, calls_denied);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	seccomp_filter_free(&p);

	/* every call with argument rules may be denied outright or lifted */
	for (size_t o = 0; outright[o][0] != '\0'; o++) {
		char *one[] = { outright[o], NULL };

		CHECK(seccomp_build(NULL, one, &p, err, sizeof(err)) == 0);
		seccomp_filter_free(&p);
		CHECK(seccomp_build(one, NULL, &p, err, sizeof(err)) == 0);
		seccomp_filter_free(&p);
	}
	{
		char *bad[] = { "notasyscall", NULL };

		CHECK(seccomp_build(bad, NULL, &p, err, sizeof(err)) == -1);
		CHECK_STR(err, "unknown syscall \"notasyscall\"");
	}
}

/* --- the filter, against libseccomp's ------------------------------------ */

/*
 * chald assembles its filter itself; seccomp_ref.c is the libseccomp
 * builder it replaced. Both programs run here over the same seccomp_data
 * inputs, through a classic BPF interpreter, for each configuration below,
 * and must give the same answer for every input: every call number of
 * x86-64 and i386 (and beyond the highest), x32 numbers, other ABIs, and
 * arguments at and around every edge of every rule, upper halves of
 * garbage included. A last check changes one instruction of chald's
 * program at a time and requires the inputs to tell each change apart.
 */

#define SC_BAD	0xbad0bad0u	/* not a program the kernel would run */
#define X86_64	0xc000003eu	/* AUDIT_ARCH_X86_64 */
#define I386	0x40000003u	/* AUDIT_ARCH_I386 */

/* Runs a seccomp program on one input: the instructions libseccomp and
 * chald emit (loads of the data, AND, jumps, returns), SC_BAD for others,
 * for a load outside the data and for a jump out of the program. */
static uint32_t
sc_run(const struct sock_fprog *p, const struct seccomp_data *d)
{
	uint32_t a = 0, k;

	for (size_t pc = 0; pc < p->len; pc++) {
		const struct sock_filter *f = &p->filter[pc];
		int c;

		k = f->k;
		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			if (k % 4 != 0 || k > sizeof(*d) - 4)
				return SC_BAD;
			memcpy(&a, (const char *)d + k, 4);
			continue;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= k;
			continue;
		case BPF_JMP | BPF_JA:
			pc += k;
			continue;
		case BPF_JMP | BPF_JEQ | BPF_K:
			c = a == k;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			c = a > k;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			c = a >= k;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			c = (a & k) != 0;
			break;
		case BPF_RET | BPF_K:
			return k;
		default:
			return SC_BAD;
		}
		pc += c ? f->jt : f->jf;
	}
	return SC_BAD;
}

struct inputs {
	struct seccomp_data	*d;
	size_t			 n, cap;
};

static void
in_add(struct inputs *in, uint32_t arch, uint32_t nr, uint64_t a0,
    uint64_t a1, uint64_t a2)
{
	if (in->n == in->cap) {
		in->cap = in->cap ? 2 * in->cap : 4096;
		in->d = realloc(in->d, in->cap * sizeof(*in->d));
		if (in->d == NULL)
			abort();
	}
	in->d[in->n++] = (struct seccomp_data){ .nr = (int)nr, .arch = arch,
	    .instruction_pointer = 0x401000, .args = { a0, a1, a2,
	    0xdeadbeef, 0, ~0ULL } };
}

#define N(a)	(sizeof(a) / sizeof((a)[0]))
#define HI	(1ULL << 32)
#define GARBAGE	0xffffffff00000000ULL

/* Arguments that trigger each rule, or just miss it, tried on every call
 * number: a call sent to the wrong tests answers differently. */
static const uint64_t triggers[][3] = {
	{ 0, 0, 0 }, { ~0ULL, ~0ULL, ~0ULL },
	{ 0x10000000 /* CLONE_NEWUSER */, 0x8912, 132 },
	{ 1, 0x402 /* F_NOTIFY */, 25 }, { 2, 1, 25 }, { 2, 10, 6 },
	{ 10, 6, 31 }, { 40, 0x8b01, 0 }, { 0x100000002ULL, 1, 0 },
	{ 14, 0x894b, 62 }, { 23, 0, 0 },
};

/* Every call number of ABI arch, beyond the highest and at the edges of
 * 32 bits, with each trigger (light: the first three). */
static void
in_numbers(struct inputs *in, uint32_t arch, int light)
{
	static const uint32_t edges[] = { 0x3fffffff, 0x40000000, 0x40000001,
	    0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff };
	size_t nt = light ? 3 : N(triggers);

	for (uint32_t nr = 0; nr < 1100; nr++)
		for (size_t t = 0; t < nt; t++)
			in_add(in, arch, nr, triggers[t][0], triggers[t][1],
			    triggers[t][2]);
	for (size_t e = 0; e < N(edges); e++)
		in_add(in, arch, edges[e], 0, 0, 0);
}

/* The edges of the rules on arguments, on the calls that have them. */
static void
in_sockets(struct inputs *in, uint32_t arch, uint32_t nr)
{
	static const uint64_t fam[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	    12, 13, 14, 15, 16, 17, 18, 20, 38, 40, 44, 255, 0x10000,
	    0x7fffffff, 0x80000000, 0xffffffff, 1 | HI, 2 | HI, 10 | HI,
	    16 | HI, 3 | HI, 2 | GARBAGE, 10 | GARBAGE, 40 | HI };
	static const uint64_t type[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	    12, 13, 14, 15, 16, 26, 0x8000a, 0x80001, 0x800a,
	    10 | HI, 1 | GARBAGE };
	static const uint64_t proto1[] = { 0, 6, 58, 132, 6 | HI };
	uint64_t proto[90];
	size_t np = 0;

	for (uint64_t v = 0; v <= 64; v++)
		proto[np++] = v;
	for (size_t i = 0; i < 7; i++)
		proto[np++] = (uint64_t[]){ 0, 1, 6, 17, 58, 59, 2 }[i] | HI;
	proto[np++] = 6 | GARBAGE;
	proto[np++] = 132;
	proto[np++] = 136;
	proto[np++] = 255;
	proto[np++] = 256;
	proto[np++] = 262;
	proto[np++] = 0x7fffffff;
	proto[np++] = 0xffffffff;
	for (size_t f = 0; f < N(fam); f++) {
		for (size_t p = 0; p < np; p++) {
			in_add(in, arch, nr, fam[f], 1, proto[p]);
			in_add(in, arch, nr, fam[f], 10, proto[p]);
		}
		for (size_t t = 0; t < N(type); t++)
			for (size_t p = 0; p < N(proto1); p++)
				in_add(in, arch, nr, fam[f], type[t],
				    proto1[p]);
	}
}

static void
in_sockopts(struct inputs *in, uint32_t arch, uint32_t nr)
{
	static const uint64_t level[] = { 0, 1, 2, 5, 6, 7, 17, 41, 255,
	    0x10001, 1 | HI, 6 | GARBAGE, 0xffffffff };

	for (size_t l = 0; l < N(level); l++) {
		for (uint64_t name = 0; name <= 70; name++)
			in_add(in, arch, nr, 3, level[l], name);
		in_add(in, arch, nr, 3, level[l], 0x10019);
		in_add(in, arch, nr, 3, level[l], 25 | HI);
		in_add(in, arch, nr, 3, level[l], 62 | HI);
		in_add(in, arch, nr, 3, level[l], 31 | GARBAGE);
		in_add(in, arch, nr, 3, level[l], 0xffffffff);
	}
}

/* One argument (arg) over [lo, hi] and a few values with upper halves. */
static void
in_span(struct inputs *in, uint32_t arch, uint32_t nr, int arg, uint64_t lo,
    uint64_t hi)
{
	uint64_t a[3] = { 3, 3, 3 };

	for (uint64_t v = lo; v <= hi; v++) {
		a[arg] = v;
		in_add(in, arch, nr, a[0], a[1], a[2]);
	}
	for (int i = 0; i < 8; i++) {
		a[arg] = (uint64_t[]){ lo | HI, hi | GARBAGE,
		    (lo + hi) / 2 | HI, 0, 0xffffffff, 0x80000000, ~0ULL,
		    (hi + 1) | HI }[i];
		in_add(in, arch, nr, a[0], a[1], a[2]);
	}
}

static void
in_clone(struct inputs *in, uint32_t arch, uint32_t nr)
{
	for (int bit = 0; bit < 64; bit++) {
		in_add(in, arch, nr, 1ULL << bit, 0, 0);
		in_add(in, arch, nr, (1ULL << bit) | 0x1200011, 0, 0);
	}
	in_add(in, arch, nr, 0, 0, 0);
	in_add(in, arch, nr, 0x1200011 /* fork()'s */, 0, 0);
	in_add(in, arch, nr, GARBAGE | 0x11, 0, 0);
	in_add(in, arch, nr, ~0ULL, 0, 0);
}

/* The numbers of the calls with rules on arguments, as the kernel's
 * tables have them (syscall_64.tbl, syscall_32.tbl). */
static void
in_arguments(struct inputs *in)
{
	in_sockets(in, X86_64, 41);		/* socket */
	in_sockets(in, X86_64, 53);		/* socketpair */
	in_sockets(in, I386, 359);
	in_sockets(in, I386, 360);
	in_sockopts(in, X86_64, 54);		/* setsockopt */
	in_sockopts(in, I386, 366);
	in_span(in, X86_64, 16, 1, 0x8900, 0x8c10);	/* ioctl */
	in_span(in, I386, 54, 1, 0x8900, 0x8c10);
	in_span(in, X86_64, 16, 1, 0, 0x20);
	in_span(in, X86_64, 72, 1, 0, 0x410);	/* fcntl */
	in_span(in, I386, 55, 1, 0, 0x410);
	in_span(in, I386, 221, 1, 0x3f0, 0x410);	/* fcntl64 */
	in_clone(in, X86_64, 56);
	in_clone(in, I386, 120);
	in_span(in, I386, 102, 0, 0, 40);	/* socketcall */
	in_span(in, I386, 102, 0, 0x10000, 0x10020);
	in_span(in, I386, 117, 0, 0, 40);	/* ipc, with versions */
	in_span(in, I386, 117, 0, 0x10000, 0x10020);
}

/* Everything: the numbers, x32, other ABIs, the arguments, and random
 * inputs near the edges (a fixed seed). */
static void
in_full(struct inputs *in)
{
	static const uint32_t arches[] = { X86_64, I386, 0xc00000b7
	    /* aarch64 */, 0x40000028 /* arm */, 0, 0xffffffff };
	static const uint64_t near[] = { 0, 1, 2, 6, 10, 14, 16, 17, 25, 31,
	    58, 62, 0x402, 0x8912, 0x894b, 0x8b00, 0x10000000, 0x20000 };
	uint64_t x = 0x9e3779b97f4a7c15ULL, a[3];

	in_numbers(in, X86_64, 0);
	in_numbers(in, I386, 0);
	for (uint32_t nr = 0; nr < 600; nr++)
		in_add(in, X86_64, nr | 0x40000000, 0, 0, 0);
	for (size_t i = 2; i < N(arches); i++)
		for (uint32_t nr = 0; nr < 500; nr += 7)
			in_add(in, arches[i], nr, 0, 0, 0);
	in_arguments(in);
	for (int i = 0; i < 20000; i++) {
		for (int j = 0; j < 3; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			a[j] = x % 3 == 0 ? x : near[x % N(near)] +
			    (x >> 60) % 3 - 1 + (x & 1ULL << 40 ? HI : 0);
		}
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		in_add(in, arches[x % 3], (uint32_t)(x >> 8) % 500, a[0], a[1],
		    a[2]);
	}
}

/* For the many configurations that change only what is denied outright. */
static void
in_light(struct inputs *in)
{
	in_numbers(in, X86_64, 1);
	in_numbers(in, I386, 1);
	in_span(in, I386, 102, 0, 0, 40);
	in_span(in, I386, 117, 0, 0, 40);
	for (uint32_t nr = 0; nr < 600; nr += 5)
		in_add(in, X86_64, nr | 0x40000000, 0, 0, 0);
}

/* The first input on which two programs differ, or -1. */
static long
sc_differ(const struct sock_fprog *p, const uint32_t *want,
    const struct inputs *in)
{
	for (size_t i = 0; i < in->n; i++)
		if (sc_run(p, &in->d[i]) != want[i])
			return (long)i;
	return -1;
}

static int sc_configs, sc_reported;

/* chald's filter of (allow, deny) against libseccomp's of the same. */
static void
sc_compare(const char *what, char **allow, char **deny,
    const struct inputs *in, int optimize)
{
	struct sock_fprog ours, ref;
	char err[256] = "";
	uint32_t *want;
	size_t bad = 0;
	long i;

	sc_configs++;
	if (ref_build(allow, deny, optimize, &ref, err, sizeof(err)) == -1) {
		fprintf(stderr, "  %s: libseccomp: %s\n", what, err);
		CHECK(seccomp_build(allow, deny, &ours, err, sizeof(err)) ==
		    -1);
		return;
	}
	CHECK(seccomp_build(allow, deny, &ours, err, sizeof(err)) == 0);
	want = malloc(in->n * sizeof(*want));
	if (want == NULL)
		abort();
	for (size_t j = 0; j < in->n; j++)
		if ((want[j] = sc_run(&ref, &in->d[j])) == SC_BAD)
			bad++;
	CHECK(bad == 0);
	i = sc_differ(&ours, want, in);
	CHECK(i == -1);
	if (i != -1 && sc_reported++ < 10) {
		const struct seccomp_data *d = &in->d[i];

		fprintf(stderr, "  %s: arch %08x nr %d args %#llx %#llx %#llx:"
		    " chald %08x, libseccomp %08x\n", what, d->arch, d->nr,
		    (unsigned long long)d->args[0],
		    (unsigned long long)d->args[1],
		    (unsigned long long)d->args[2], sc_run(&ours, d), want[i]);
	}
	free(want);
	seccomp_filter_free(&ours);
	seccomp_filter_free(&ref);
}

/* Names libseccomp knows on x86-64 or i386, once each, and the socket and
 * IPC calls that i386 has only as sub-calls. */
static size_t
all_names(char **names, size_t max)
{
	static char *subonly[] = { "accept", "send", "recv", "semop",
	    "semtimedop" };
	static const uint32_t arches[] = { X86_64, I386 };
	size_t n = 0;

	for (size_t i = 0; i < N(subonly); i++)
		names[n++] = strdup(subonly[i]);
	for (size_t a = 0; a < N(arches); a++)
		for (int nr = 0; nr < 1024 && n < max; nr++) {
			char *s = seccomp_syscall_resolve_num_arch(arches[a],
			    nr);
			int seen = s == NULL;

			for (size_t j = 0; !seen && j < n; j++)
				seen = strcmp(names[j], s) == 0;
			if (seen)
				free(s);
			else
				names[n++] = s;
		}
	return n;
}

/*
 * Whether the kernel caches the call as allowed, whatever its arguments
 * (seccomp_is_const_allow, kernel/seccomp.c): the program run with only
 * the number and arch known, through the instructions it emulates. Such
 * calls skip the filter at run time, so both programs must leave the
 * same ones to it.
 */
static int
sc_const_allow(const struct sock_fprog *p, uint32_t arch, uint32_t nr)
{
	uint32_t a = 0;

	for (size_t pc = 0; pc < p->len; pc++) {
		const struct sock_filter *f = &p->filter[pc];

		if (f->code == (BPF_LD | BPF_W | BPF_ABS) && (f->k == 0 ||
		    f->k == 4))
			a = f->k == 0 ? nr : arch;
		else if (f->code == (BPF_ALU | BPF_AND | BPF_K))
			a &= f->k;
		else if (f->code == (BPF_JMP | BPF_JA))
			pc += f->k;
		else if (f->code == (BPF_JMP | BPF_JEQ | BPF_K))
			pc += a == f->k ? f->jt : f->jf;
		else if (f->code == (BPF_JMP | BPF_JGE | BPF_K))
			pc += a >= f->k ? f->jt : f->jf;
		else if (f->code == (BPF_JMP | BPF_JGT | BPF_K))
			pc += a > f->k ? f->jt : f->jf;
		else if (f->code == (BPF_JMP | BPF_JSET | BPF_K))
			pc += (a & f->k) ? f->jt : f->jf;
		else if (f->code == (BPF_RET | BPF_K))
			return f->k == SECCOMP_RET_ALLOW;
		else
			return 0;
	}
	return 0;
}

/* Instructions that no path from the first reaches. */
static int
sc_unreachable(const struct sock_fprog *p)
{
	char seen[BPF_MAXINSNS] = { 1 };
	int dead = 0;

	for (size_t pc = 0; pc < p->len; pc++) {
		const struct sock_filter *f = &p->filter[pc];

		if (!seen[pc]) {
			dead++;
			continue;
		}
		if (f->code == (BPF_JMP | BPF_JA))
			seen[pc + 1 + f->k] = 1;
		else if (BPF_CLASS(f->code) == BPF_JMP) {
			seen[pc + 1 + f->jt] = 1;
			seen[pc + 1 + f->jf] = 1;
		} else if (BPF_CLASS(f->code) != BPF_RET)
			seen[pc + 1] = 1;
	}
	return dead;
}

/* One change to an instruction (the how-th, 0 or 1): 0 when none. */
static int
mutate(struct sock_filter *f, int how)
{
	int cls = BPF_CLASS(f->code);

	if (how == 1) {
		if (cls != BPF_JMP || f->code == (BPF_JMP | BPF_JA) ||
		    f->jt == f->jf)
			return 0;
		uint8_t t = f->jt;

		f->jt = f->jf;
		f->jf = t;
		return 1;
	}
	if (BPF_OP(f->code) == BPF_JSET && cls == BPF_JMP)
		f->k &= f->k - 1;	/* one flag less */
	else if (cls == BPF_LD)
		f->k ^= 4;		/* the other half */
	else if (cls == BPF_JMP && f->code != (BPF_JMP | BPF_JA))
		f->k++;			/* the edge moves by one */
	else
		f->k ^= 1;
	return 1;
}

/* Each one-instruction change of chald's default program is told apart
 * from libseccomp's by some input: the inputs reach every test's edges. */
static void
test_mutants(const struct inputs *in)
{
	struct sock_fprog ours, ref;
	char err[256];
	uint32_t *want = malloc(in->n * sizeof(*want));
	int n = 0, told = 0;

	CHECK(want != NULL);
	CHECK(seccomp_build(NULL, NULL, &ours, err, sizeof(err)) == 0);
	CHECK(ref_build(NULL, NULL, 2, &ref, err, sizeof(err)) == 0);
	for (size_t j = 0; j < in->n; j++)
		want[j] = sc_run(&ref, &in->d[j]);
	for (size_t i = 0; i < ours.len; i++)
		for (int how = 0; how < 2; how++) {
			struct sock_filter keep = ours.filter[i];

			if (!mutate(&ours.filter[i], how))
				continue;
			n++;
			if (sc_differ(&ours, want, in) != -1)
				told++;
			else
				fprintf(stderr, "  mutant not told apart: "
				    "instruction %zu (%04x %u %u %#x), "
				    "change %d\n", i, keep.code, keep.jt,
				    keep.jf, keep.k, how);
			ours.filter[i] = keep;
		}
	printf("mutants of the default filter: %d of %d told apart\n",
	    told, n);
	CHECK(n > 0 && told == n);
	free(want);
	seccomp_filter_free(&ours);
	seccomp_filter_free(&ref);
}

static void
test_equivalence(void)
{
	static char argnames[][12] = { "socket", "socketpair", "setsockopt",
	    "ioctl", "fcntl", "fcntl64", "clone", "clone3", "socketcall",
	    "ipc" };
	static char *combos[][2][8] = {
		{ { "socket", "fcntl" }, { "clone3" } },
		{ { "clone" }, { "fcntl" } },
		{ { "fcntl" }, { "fcntl64" } },
		{ { "clone3" }, { NULL } },
		{ { "fcntl64", "socketpair" }, { "socketcall", "ipc" } },
		{ { NULL }, { "socketcall", "socket" } },
		{ { NULL }, { "bind", "shmget", "recv", "semop", "accept4" } },
		{ { "socket", "socketpair", "setsockopt", "ioctl", "fcntl",
		    "clone" }, { NULL } },
		{ { "setsockopt", "mount" }, { "socketpair", "ptrace" } },
	};
	struct inputs full = { 0 }, light = { 0 };
	char *names[2048], *one[2] = { NULL, NULL }, *many[1024], what[96];
	char *pool[2048], *allow[8], *deny[8], err[256];
	size_t nn = all_names(names, N(names)), np = 0, nm;
	struct sock_fprog p;
	uint64_t x = 0x2545f4914f6cdd1dULL;
	int st;

	in_full(&full);
	in_light(&light);
	printf("equivalence: %zu inputs, %zu for each outright name, %zu "
	    "names\n", full.n, light.n, nn);

	CHECK(seccomp_build(NULL, NULL, &p, err, sizeof(err)) == 0);
	CHECK(sc_unreachable(&p) == 0);
	{
		struct sock_fprog ref;
		int same = 1, cached = 0;

		CHECK(ref_build(NULL, NULL, 2, &ref, err, sizeof(err)) == 0);
		for (uint32_t nr = 0; nr < 1024; nr++)
			for (int a = 0; a < 2; a++) {
				uint32_t arch = a ? I386 : X86_64;
				int c = sc_const_allow(&p, arch, nr);

				same &= c == sc_const_allow(&ref, arch, nr);
				cached += c;
			}
		printf("calls the kernel caches as allowed: %d of 2048\n",
		    cached);
		CHECK(same && cached > 1800);
		seccomp_filter_free(&ref);
	}
	seccomp_filter_free(&p);
	sc_compare("default", NULL, NULL, &full, 2);
	sc_compare("default, libseccomp's list", NULL, NULL, &full, 1);
	for (size_t i = 0; i < N(argnames); i++) {
		one[0] = argnames[i];
		snprintf(what, sizeof(what), "allow %s", one[0]);
		sc_compare(what, one, NULL, &full, 2);
		snprintf(what, sizeof(what), "deny %s", one[0]);
		sc_compare(what, NULL, one, &full, 2);
	}
	for (size_t i = 0; i < N(combos); i++) {
		snprintf(what, sizeof(what), "combination %zu", i);
		sc_compare(what, combos[i][0][0] ? combos[i][0] : NULL,
		    combos[i][1][0] ? combos[i][1] : NULL, &full, 2);
	}
	for (const char **d = default_deny; *d != NULL; d++) {
		one[0] = (char *)(uintptr_t)*d;
		snprintf(what, sizeof(what), "allow %s", one[0]);
		sc_compare(what, one, NULL, &light, 2);
		pool[np++] = one[0];
	}
	for (size_t i = 0; i < N(argnames); i++)
		pool[np++] = argnames[i];
	for (size_t i = 0; i < nn; i++) {
		one[0] = names[i];
		snprintf(what, sizeof(what), "deny %s", one[0]);
		sc_compare(what, NULL, one, &light, 2);
	}
	/* random lists (a fixed seed) */
	for (int c = 0; c < 100; c++) {
		size_t na, nd;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		na = x % 7, nd = (x >> 8) % 7;
		for (size_t i = 0; i < na; i++)
			allow[i] = pool[(x >> (16 + 5 * i)) % np];
		for (size_t i = 0; i < nd; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			deny[i] = x % 4 == 0 ? pool[(x >> 8) % np] :
			    names[(x >> 8) % nn];
		}
		allow[na] = deny[nd] = NULL;
		snprintf(what, sizeof(what), "random %d", c);
		sc_compare(what, allow, deny, &light, 2);
	}
	/* long programs: every other call denied (jumps beyond 255, through
	 * BPF_JA), and every call */
	nm = 0;
	for (int nr = 0; nr < 1024 && nm < N(many) - 1; nr += 2) {
		char *s = seccomp_syscall_resolve_num_arch(X86_64, nr);

		if (s != NULL)
			many[nm++] = s;
	}
	many[nm] = NULL;
	sc_compare("deny every other call", NULL, many, &light, 2);
	CHECK(seccomp_build(NULL, many, &p, err, sizeof(err)) == 0);
	printf("every other call denied: %u instructions\n", p.len);
	CHECK(p.len > 256 && sc_unreachable(&p) == 0);
	st = run_filtered(&p, x32_call);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	seccomp_filter_free(&p);
	for (size_t i = 0; i < nm; i++)
		free(many[i]);
	names[nn] = NULL;
	sc_compare("deny every call", NULL, names, &light, 2);
	sc_compare("deny every call, and the rules", NULL, names, &full, 2);

	test_mutants(&full);
	printf("equivalence: %d configurations\n", sc_configs);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(full.d);
	free(light.d);
}

/* --- names ----------------------------------------------------------------- */

static void
test_names(void)
{
	char b[48];

	seccomp_name(0xc000003e, 39, b, sizeof(b));
	CHECK_STR(b, "x86_64:getpid");
	seccomp_name(0xc000003e, 0x40000027, b, sizeof(b));
	CHECK_STR(b, "x32:getpid");
	seccomp_name(0x40000003, 102, b, sizeof(b));
	CHECK_STR(b, "i386:socketcall");
	seccomp_name(0xc000003e, 100000, b, sizeof(b));
	CHECK_STR(b, "x86_64:#100000");
	seccomp_name(0x12345678, 1, b, sizeof(b));
	CHECK_STR(b, "arch-12345678:#1");
	seccomp_name(0xc000003e, -5, b, sizeof(b));
	CHECK_STR(b, "x86_64:#-5");
	seccomp_name(0xc000003e, 39, b, 8);	/* cut, still a string */
	CHECK(strlen(b) == 7);
}

/* --- audit records ---------------------------------------------------------- */

static int
parse(const char *rec, struct audit_kill *k)
{
	return audit_parse(rec, strlen(rec), k);
}

static void
test_audit(void)
{
	struct audit_kill k;
	char cut[512];
	const char *real = "audit(1796117478.985:2): auid=4294967295 "
	    "uid=200001 gid=200001 ses=4294967295 pid=525 comm=\"x32\" "
	    "exe=\"/tmp/sc/x32\" sig=31 arch=c000003e syscall=1073741863 "
	    "compat=0 ip=0x7fbb3e954829 code=0x80000000";

	CHECK(parse(real, &k) == 0);
	CHECK(k.uid == 200001 && k.arch == 0xc000003e &&
	    k.nr == 1073741863 && k.ms == 1796117478985LL);
	/* with an LSM context, and an i386 call */
	CHECK(parse("audit(10.001:7): auid=1 uid=5 gid=5 ses=1 "
	    "subj=unconfined pid=9 comm=\"a\" exe=\"/b\" sig=31 arch=40000003 "
	    "syscall=102 compat=1 ip=0x1 code=0x80000000", &k) == 0);
	CHECK(k.uid == 5 && k.arch == 0x40000003 && k.nr == 102 &&
	    k.ms == 10001);
	/* the player names the process: quoted, no blank, so no field */
	CHECK(parse("audit(1.000:1): auid=0 uid=77 gid=0 ses=1 pid=2 "
	    "comm=\"uid=1\" exe=\"/uid=2\" sig=31 arch=c000003e syscall=59 "
	    "compat=0", &k) == 0 && k.uid == 77 && k.nr == 59);
	/* what is not a kill, or not a record */
	CHECK(parse("audit(1.000:1): auid=0 uid=7 gid=0 ses=1 pid=2 "
	    "comm=\"a\" exe=\"/b\" sig=0 arch=c000003e syscall=59", &k) == -1);
	CHECK(parse("type=1326 audit(1.000:1): uid=7 sig=31 arch=c000003e "
	    "syscall=59", &k) == -1);
	CHECK(parse("audit(1.000:1) uid=7 sig=31 arch=c000003e syscall=59",
	    &k) == -1);
	CHECK(parse("", &k) == -1);
	CHECK(parse("audit(", &k) == -1);
	CHECK(parse("audit(1.5000:1): uid=7 sig=31 arch=c000003e syscall=59",
	    &k) == -1);
	CHECK(parse("audit(1.000:1): uid=99999999999 sig=31 arch=c000003e "
	    "syscall=59", &k) == -1);
	CHECK(parse("audit(1.000:1): uid=7 sig=31 arch=c000003e "
	    "syscall=99999999999999999999999", &k) == -1);
	CHECK(parse("audit(1.000:1): uid=7 sig=31 arch=c00z003e syscall=59",
	    &k) == -1);
	CHECK(parse("audit(1.000:1): uid=7 sig=31 arch=c000003e syscall=",
	    &k) == -1);
	CHECK(parse("audit(99999999999999999999.000:1): uid=7 sig=31 "
	    "arch=c000003e syscall=59", &k) == -1);
	/* every prefix of a real record: refused, never read past its end
	 * (the bytes after it would complete the fields) */
	snprintf(cut, sizeof(cut), "%s", real);
	for (size_t n = 0; n <= (size_t)(strstr(real, " syscall=") - real) +
	    strlen(" syscall="); n++)
		CHECK(audit_parse(cut, n, &k) == -1);
}

static void
test_ring(void)
{
	struct audit a;
	struct audit_kill k, in[] = {
		{ 100, 0xc000003e, 1, 1000 }, { 101, 0xc000003e, 2, 1001 },
		{ 100, 0xc000003e, 3, 1002 }, { 100, 0xc000003e, 4, 500 },
	};

	memset(&a, 0, sizeof(a));	/* no socket: drain reads nothing */
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		a.ring[a.next % AUDIT_RING] = in[i];
		a.next++;
	}
	/* the latest kill of the uid since its jail started */
	CHECK(audit_take(&a, 100, 900, &k) == 0 && k.nr == 3);
	/* all of the uid's kills are gone with it */
	CHECK(audit_take(&a, 100, 0, &k) == -1);
	CHECK(audit_take(&a, 101, 1002, &k) == -1);	/* too old */
	CHECK(audit_take(&a, 101, 0, &k) == -1);
	CHECK(audit_take(&a, 102, 0, &k) == -1);
	/* a full ring keeps the last AUDIT_RING */
	for (int i = 0; i < 3 * AUDIT_RING; i++) {
		struct audit_kill r = { 200 + (uid_t)i, 0x40000003, i,
		    2000 + i };

		a.ring[a.next % AUDIT_RING] = r;
		a.next++;
	}
	CHECK(audit_take(&a, 200, 0, &k) == -1);
	CHECK(audit_take(&a, 200 + 3 * AUDIT_RING - 1, 0, &k) == 0 &&
	    k.nr == 3 * AUDIT_RING - 1);
}

/* --- the peer lock ------------------------------------------------------------ */

/* A classic BPF interpreter for what peerlock_build emits: loads of the
 * IP header (SKF_NET_OFF) and of the TCP header (the data), a shift, jumps
 * on equality, returns. */
static uint32_t
bpf_run(const struct sock_filter *f, size_t n, const uint8_t *ip,
    size_t iplen, const uint8_t *tcp, size_t tcplen)
{
	uint32_t a = 0;

	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *i = &f[pc];
		int32_t k = (int32_t)i->k;
		const uint8_t *base = tcp;
		size_t len = tcplen, size;

		switch (i->code) {
		case BPF_LD | BPF_B | BPF_ABS:
		case BPF_LD | BPF_H | BPF_ABS:
		case BPF_LD | BPF_W | BPF_ABS:
			size = BPF_SIZE(i->code) == BPF_B ? 1 :
			    BPF_SIZE(i->code) == BPF_H ? 2 : 4;
			if (k < 0) {
				k -= SKF_NET_OFF;
				base = ip;
				len = iplen;
			}
			if (k < 0 || (size_t)k + size > len)
				return 0;
			a = 0;
			for (size_t j = 0; j < size; j++)
				a = a << 8 | base[k + j];
			break;
		case BPF_ALU | BPF_RSH | BPF_K:
			a >>= i->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == i->k ? i->jt : i->jf;
			break;
		case BPF_RET | BPF_K:
			return i->k;
		default:
			return 0xdead;
		}
	}
	return 0xdead;
}

static uint32_t
packet4(const struct sock_filter *f, size_t n, const char *src, int sport)
{
	uint8_t ip[20] = { 0x45 }, tcp[20] = { 0 };

	inet_pton(AF_INET, src, ip + 12);
	tcp[0] = (uint8_t)(sport >> 8);
	tcp[1] = (uint8_t)sport;
	return bpf_run(f, n, ip, sizeof(ip), tcp, sizeof(tcp));
}

static uint32_t
packet6(const struct sock_filter *f, size_t n, const char *src, int sport)
{
	uint8_t ip[40] = { 0x60 }, tcp[20] = { 0 };

	inet_pton(AF_INET6, src, ip + 8);
	tcp[0] = (uint8_t)(sport >> 8);
	tcp[1] = (uint8_t)sport;
	return bpf_run(f, n, ip, sizeof(ip), tcp, sizeof(tcp));
}

static void
test_peerlock(void)
{
	struct sock_filter f[32];
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons(51234) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
	    .sin6_port = htons(443) };
	struct sockaddr un = { .sa_family = AF_UNIX };
	size_t n;

	inet_pton(AF_INET, "203.0.113.7", &sin.sin_addr);
	n = peerlock_build((struct sockaddr *)&sin, f, 32);
	CHECK(n > 0 && n <= 32);
	CHECK(packet4(f, n, "203.0.113.7", 51234) == 0xffffffff);
	CHECK(packet4(f, n, "203.0.113.7", 51235) == 0);
	CHECK(packet4(f, n, "203.0.113.8", 51234) == 0);
	CHECK(packet4(f, n, "127.0.0.1", 51234) == 0);
	CHECK(packet6(f, n, "::ffff:203.0.113.7", 51234) == 0);

	inet_pton(AF_INET6, "2001:db8::1:2", &sin6.sin6_addr);
	n = peerlock_build((struct sockaddr *)&sin6, f, 32);
	CHECK(n > 0 && n <= 32);
	CHECK(packet6(f, n, "2001:db8::1:2", 443) == 0xffffffff);
	CHECK(packet6(f, n, "2001:db8::1:3", 443) == 0);
	CHECK(packet6(f, n, "2001:db9::1:2", 443) == 0);
	CHECK(packet6(f, n, "2001:db8::1:2", 444) == 0);
	CHECK(packet4(f, n, "32.1.13.184", 443) == 0);

	/* a v4 player of a dual-stack listener: IPv4 on the wire */
	inet_pton(AF_INET6, "::ffff:198.51.100.9", &sin6.sin6_addr);
	sin6.sin6_port = htons(7);
	n = peerlock_build((struct sockaddr *)&sin6, f, 32);
	CHECK(packet4(f, n, "198.51.100.9", 7) == 0xffffffff);
	CHECK(packet4(f, n, "198.51.100.9", 8) == 0);
	CHECK(packet6(f, n, "::ffff:198.51.100.9", 7) == 0);

	CHECK(peerlock_build(&un, f, 32) == 0);
	/* too small a buffer: the size needed, nothing written past it */
	memset(f, 0xa5, sizeof(f));
	n = peerlock_build((struct sockaddr *)&sin6, f, 2);
	CHECK(n > 2 && f[2].code == 0xa5a5);
}

int
main(void)
{
	test_filter();
	test_equivalence();
	test_names();
	test_audit();
	test_ring();
	test_peerlock();
	T_DONE();
}
