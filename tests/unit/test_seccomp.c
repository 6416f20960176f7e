/*
 * test_seccomp.c: the jail's filters, run for real. The service's seccomp
 * filter is built and installed in forked children, which then make the
 * calls a hostile player would, as an x86-64 process and, through int 0x80,
 * as an i386 one; an x32 call must kill. Then the pure helpers: call names
 * for the log, the parser of the kernel's audit records (with hostile and
 * cut input), the ring of kills, and the player socket's peer lock, whose
 * BPF program is run on made-up packets.
 */
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
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

/* --- the filter, installed ------------------------------------------------- */

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

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

/* Under the forker's part alone, the calls a jail's init builds with are
 * left to the kernel (whose errors these are), and the rest is refused. */
static void
calls_outer(int out)
{
	static char longname[1000];

	child_check(out, "unshare(0), outer", errno_of(unshare(0)), OK);
	child_check(out, "setns(-1), outer", errno_of(setns(-1, 0)), EBADF);
	child_check(out, "clone3(NULL), outer",
	    errno_of(syscall(SYS_clone3, NULL, 0)), EINVAL);
	child_check(out, "sethostname(too long), outer",
	    errno_of(sethostname(longname, sizeof(longname))), EINVAL);
	child_check(out, "umount2(\"\"), outer", errno_of(umount2("", 0)),
	    ENOENT);
	child_check(out, "socket(AF_VSOCK), outer",
	    errno_of(socket(40, SOCK_STREAM, 0)), EAFNOSUPPORT);
	child_check(out, "modify_ldt, outer", errno_of(syscall(SYS_modify_ldt,
	    0, (char[16]){ 0 }, 16)), EPERM);
}

/* The jail's own part alone: those calls refused, the others not. */
static void
calls_inner(int out)
{
	child_check(out, "unshare(0), inner", errno_of(unshare(0)), EPERM);
	child_check(out, "setns(-1), inner", errno_of(setns(-1, 0)), EPERM);
	child_check(out, "clone3(NULL), inner",
	    errno_of(syscall(SYS_clone3, NULL, 0)), ENOSYS);
	child_check(out, "umount2(\"\"), inner", errno_of(umount2("", 0)),
	    EPERM);
	child_check(out, "SO_BINDTODEVICE, inner", errno_of(setsockopt(
	    fresh_socket(), SOL_SOCKET, SO_BINDTODEVICE, "lo", 2)), OK);
	child_check(out, "modify_ldt(1 byte), inner",
	    errno_of(syscall(SYS_modify_ldt, 0, (char[16]){ 0 }, 16)), OK);
}

/* Runs fn under the filters p (and q, if any, stacked on it) in a child;
 * returns its wait status. */
static int
run_stacked(const struct sock_fprog *p, const struct sock_fprog *q,
    void (*fn)(int))
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
		if (q != NULL)
			install(q);
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

static int
run_filtered(const struct sock_fprog *p, void (*fn)(int))
{
	return run_stacked(p, NULL, fn);
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

	CHECK(seccomp_build(NULL, NULL, SC_WHOLE, &p, err, sizeof(err)) == 0);
	CHECK(p.len > 0 && p.len <= BPF_MAXINSNS);
	printf("default filter: %u instructions\n", p.len);
	st = run_filtered(&p, calls_default);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#if defined(__x86_64__)
	st = run_filtered(&p, x32_call);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
#endif
	seccomp_filter_free(&p);

	CHECK(seccomp_build(allow, NULL, SC_WHOLE, &p, err, sizeof(err)) == 0);
	st = run_filtered(&p, calls_lifted);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	seccomp_filter_free(&p);

	CHECK(seccomp_build(NULL, deny, SC_WHOLE, &p, err, sizeof(err)) == 0);
	st = run_filtered(&p, calls_denied);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	seccomp_filter_free(&p);

	/* The two parts stacked answer as the whole filter does; each
	 * alone leaves the other's calls alone. */
	{
		struct sock_fprog o, i;
		char **lists[][2] = { { NULL, NULL }, { allow, NULL },
		    { NULL, deny } };
		void (*calls[])(int) = { calls_default, calls_lifted,
		    calls_denied };

		for (size_t k = 0; k < NELEM(calls); k++) {
			CHECK(seccomp_build(lists[k][0], lists[k][1], SC_OUTER,
			    &o, err, sizeof(err)) == 0);
			CHECK(seccomp_build(lists[k][0], lists[k][1], SC_INNER,
			    &i, err, sizeof(err)) == 0);
			if (k == 0)
				printf("parts: %u + %u instructions\n", o.len,
				    i.len);
			st = run_stacked(&o, &i, calls[k]);
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			if (k == 0) {
				CHECK(i.len * 3 < o.len);
				st = run_filtered(&o, calls_outer);
				CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
				st = run_filtered(&i, calls_inner);
				CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#if defined(__x86_64__)
				st = run_stacked(&o, &i, x32_call);
				CHECK(WIFSIGNALED(st) && WTERMSIG(st) ==
				    SIGSYS);
#endif
			}
			seccomp_filter_free(&o);
			seccomp_filter_free(&i);
		}
	}

	/* every call with argument rules may be denied outright or lifted */
	for (size_t o = 0; outright[o][0] != '\0'; o++) {
		char *one[] = { outright[o], NULL };

		CHECK(seccomp_build(NULL, one, SC_WHOLE, &p, err,
		    sizeof(err)) == 0);
		seccomp_filter_free(&p);
		CHECK(seccomp_build(one, NULL, SC_WHOLE, &p, err,
		    sizeof(err)) == 0);
		seccomp_filter_free(&p);
	}
	{
		char *bad[] = { "notasyscall", NULL };

		CHECK(seccomp_build(bad, NULL, SC_WHOLE, &p, err,
		    sizeof(err)) == -1);
		CHECK_STR(err, "unknown syscall \"notasyscall\"");
	}
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
	test_names();
	test_audit();
	test_ring();
	test_peerlock();
	T_DONE();
}
