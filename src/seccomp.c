/*
 * seccomp.c: the syscall filter of a jailed challenge. libseccomp builds it
 * once per service when the configuration is loaded and it is exported to
 * classic BPF in memory, so the child only makes one prctl() and never runs
 * the library (nothing to allocate, nothing to get wrong after fork).
 *
 * The policy is argued in docs/threat-model.md. In short: everything is
 * allowed but what no challenge needs and what widens the kernel's attack
 * surface beyond the namespaces (denied by name, or by argument: address
 * families, interface ioctls, a few socket options, dnotify), since
 * challenges are arbitrary programs. Denials are errors, which programs
 * probe and fall back from. The x86-64 and i386 ABIs get the same rules;
 * any other ABI (x32) is killed, which is the only kill.
 *
 * Integer arguments are compared on the 32 bits the kernel reads (masked
 * comparisons), and ranges above an allowed set on all 64, so that garbage
 * in an upper half is refused rather than let through.
 *
 * The filter also comes in two parts that a jail stacks (the kernel runs
 * both and the strictest answer wins): the outer part has the rules on the
 * calls that building a jail never makes, and the jail's forker (forker.c)
 * attaches it once, so that every jail it forks inherits it; the inner part,
 * which each jail's init attaches once it is built, has the rest: the calls
 * init builds the jail with (mounts, namespaces, hostname, keyring, clone)
 * and whatever the service's seccomp-deny names. Each call's rules are in
 * exactly one part, so the two together answer every call as the whole
 * filter does. A jail then attaches 86 instructions of the default policy
 * instead of 476 (bench/README.md, "Jails from a forker").
 */
#include <sys/mman.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

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

/* A comparison of the int the kernel reads: the low 32 bits. */
#define INT_EQ(arg, v)	SCMP_CMP((arg), SCMP_CMP_MASKED_EQ, 0xffffffffULL, (v))
/* The same for a run of 2^n values starting at v (v aligned). */
#define INT_RUN(arg, v, n) \
	SCMP_CMP((arg), SCMP_CMP_MASKED_EQ, 0xffffffffULL & ~((n) - 1ULL), (v))

/* Runs of values, as {first, count} with count a power of two. */
struct run {
	unsigned long long	first, count;
};

/* Families other than UNIX (1), INET (2), INET6 (10) and NETLINK (16), up
 * to NETLINK; everything above it is refused by one comparison. */
static const struct run bad_families[] = {
	{ 0, 1 }, { 3, 1 }, { 4, 4 }, { 8, 2 }, { 11, 1 }, { 12, 4 },
};
#define LAST_FAMILY	AF_NETLINK

/* INET protocols other than 0, ICMP (1), TCP (6), UDP (17) and ICMPv6
 * (58), up to 58: SCTP, DCCP, UDP-Lite, L2TP, MPTCP, SMC... */
static const struct run bad_protocols[] = {
	{ 2, 2 }, { 4, 2 }, { 7, 1 }, { 8, 8 }, { 16, 1 }, { 18, 2 },
	{ 20, 4 }, { 24, 8 }, { 32, 16 }, { 48, 8 }, { 56, 2 },
};
#define LAST_PROTOCOL	IPPROTO_ICMPV6

/* Socket ioctls that describe or change interfaces, routes, ARP, bridges,
 * bonds, VLANs: 0x890b-0x89ff but SIOCOUTQNSD (0x894b), and the wireless
 * extensions, 0x8b00-0x8bff. The player's socket belongs to the host's
 * network namespace, so on it they would describe the host. */
static const struct run if_ioctls[] = {
	{ 0x890b, 1 }, { 0x890c, 4 }, { 0x8910, 16 }, { 0x8920, 32 },
	{ 0x8940, 8 }, { 0x8948, 2 }, { 0x894a, 1 }, { 0x894c, 4 },
	{ 0x8950, 16 }, { 0x8960, 32 }, { 0x8980, 128 }, { 0x8b00, 256 },
};

/* setsockopt: interface-name oracles on the player's socket, and kernel
 * TLS (upper layer protocols). */
static const struct { int level, name; } bad_sockopts[] = {
	{ SOL_SOCKET, SO_BINDTODEVICE }, { SOL_SOCKET, 62 /* SO_BINDTOIFINDEX */ },
	{ IPPROTO_TCP, 31 /* TCP_ULP */ },
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* The calls with rules that a jail's init makes while it builds the jail
 * (jail.c, jailfs.c, jailsuid.c) or its forker makes for it: their rules
 * are in the inner part. */
static const char *init_calls[] = {
	"mount", "umount", "umount2", "pivot_root", "chroot", "move_mount",
	"open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr", "unshare", "setns", "sethostname", "setdomainname",
	"keyctl", "add_key", "request_key", "clone", "clone3",
	NULL
};

/* The part of the filter being built. */
static enum sc_part part_now;
static char **extra_now;

static int
list_has(char **list, const char *name)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return 1;
	return 0;
}

/* Whether the rules of call name belong in the part being built. */
static int
in_part(const char *name)
{
	int inner = list_has(extra_now, name) ||
	    list_has((char **)(uintptr_t)init_calls, name);

	return part_now == SC_WHOLE || inner == (part_now == SC_INNER);
}

/*
 * The rules on a call's arguments stand unless seccomp-allow lifts them or
 * seccomp-deny denies the call outright (libseccomp takes one action per
 * call when one rule has no conditions).
 */
static int
argument_rules(const char *name, char **allow, char **extra)
{
	return !list_has(allow, name) && !list_has(extra, name) &&
	    in_part(name);
}

static int
deny(scmp_filter_ctx ctx, const char *name, char *err, size_t errlen)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR) {
		snprintf(err, errlen, "unknown syscall \"%s\"", name);
		return -1;
	}
	if (!in_part(name))
		return 0;
	/* A negative number is a call of another ABI (or none of ours):
	 * libseccomp adds the rule where the call exists. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0) < 0) {
		if (nr < 0)
			return 0;
		snprintf(err, errlen, "cannot add a rule for %s", name);
		return -1;
	}
	return 0;
}

/* New namespaces from inside the jail: clone with CLONE_NEW*, and clone3
 * (whose flags live in memory a filter cannot read; glibc falls back). */
static int
deny_namespaces(scmp_filter_ctx ctx, char **allow, char **extra)
{
	const unsigned long flags[] = {
		CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
		CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
	};

	/* Allowed, or denied outright by seccomp-deny: no rule here.
	 * seccomp-allow = clone lifts both. */
	int clone_rules = argument_rules("clone", allow, extra);
	int clone3_rule = !list_has(allow, "clone3") &&
	    !list_has(allow, "clone") && !list_has(extra, "clone3") &&
	    in_part("clone3");

	for (size_t i = 0; clone_rules && i < NELEM(flags); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
		    SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flags[i],
		    flags[i])) < 0)
			return -1;
	if (clone3_rule && seccomp_rule_add(ctx,
	    SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0)
		return -1;
	return 0;
}

/*
 * socket() and socketpair() for UNIX, INET, INET6 and NETLINK only, the
 * families challenges use; netlink talks to the session's own network
 * namespace. The others are not covered by network namespaces (AF_VSOCK
 * reaches the hypervisor) or are rarely used kernel code, loaded on demand.
 */
static int
deny_families(scmp_filter_ctx ctx, int nr)
{
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), nr, 1,
	    SCMP_A0(SCMP_CMP_GT, LAST_FAMILY)) < 0)
		return -1;
	for (size_t i = 0; i < NELEM(bad_families); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), nr, 1,
		    INT_RUN(0, bad_families[i].first,
		    bad_families[i].count)) < 0)
			return -1;
	return 0;
}

/*
 * Within INET and INET6, only the protocols of TCP, UDP and ping: the
 * others load modules of their own. EPROTONOSUPPORT is what a kernel
 * without them says, which programs (Go probing MPTCP) fall back from.
 * (AF_INET, SOCK_PACKET) is AF_PACKET to the kernel.
 */
static int
deny_protocols(scmp_filter_ctx ctx)
{
	const int fams[] = { AF_INET, AF_INET6 };

	for (size_t f = 0; f < NELEM(fams); f++) {
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPROTONOSUPPORT),
		    SCMP_SYS(socket), 2, INT_EQ(0, fams[f]),
		    SCMP_A2(SCMP_CMP_GT, LAST_PROTOCOL)) < 0)
			return -1;
		for (size_t i = 0; i < NELEM(bad_protocols); i++)
			if (seccomp_rule_add(ctx,
			    SCMP_ACT_ERRNO(EPROTONOSUPPORT), SCMP_SYS(socket),
			    2, INT_EQ(0, fams[f]), INT_RUN(2,
			    bad_protocols[i].first,
			    bad_protocols[i].count)) < 0)
				return -1;
	}
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT),
	    SCMP_SYS(socket), 2, INT_EQ(0, AF_INET),
	    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, 10 /* SOCK_PACKET */)) < 0 ?
	    -1 : 0;
}

static int
deny_runs(scmp_filter_ctx ctx, int nr, unsigned arg, const struct run *r,
    size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
		    INT_RUN(arg, r[i].first, r[i].count)) < 0)
			return -1;
	return 0;
}

static int
deny_sockopts(scmp_filter_ctx ctx)
{
	for (size_t i = 0; i < NELEM(bad_sockopts); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
		    SCMP_SYS(setsockopt), 2, INT_EQ(1, bad_sockopts[i].level),
		    INT_EQ(2, bad_sockopts[i].name)) < 0)
			return -1;
	return 0;
}

/* dnotify, inotify's ancestor: fcntl(F_NOTIFY) on a shared directory
 * reports another session's reads in it. i386 also has fcntl64. */
static int
deny_dnotify(scmp_filter_ctx ctx, char **allow, char **extra)
{
	if (argument_rules("fcntl", allow, extra) && seccomp_rule_add(ctx,
	    SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fcntl), 1, INT_EQ(1, F_NOTIFY)) <
	    0)
		return -1;
	if (!list_has(allow, "fcntl") && argument_rules("fcntl64", allow,
	    extra) && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
	    SCMP_SYS(fcntl64), 1, INT_EQ(1, F_NOTIFY)) < 0)
		return -1;
	return 0;
}

/*
 * i386's socketcall() multiplexes the socket calls and passes their
 * arguments in memory, where a filter cannot look: the sub-call of a call
 * with rules on its arguments is refused whole. libseccomp adds such rules
 * itself for rules on the first argument (with the action of the call's
 * first rule), but carries the others over unchanged, where socketcall has
 * its pointer: so they are added here, before the call's own rules (the
 * other order leaks libseccomp's pruned rules) and with the action of its
 * first rule, since libseccomp refuses a second action for the same test.
 * Nothing when socketcall is denied outright.
 */
static int
deny_socketcall(scmp_filter_ctx ctx, int sub, int err, char **extra)
{
	if (list_has(extra, "socketcall"))
		return 0;
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err),
	    SCMP_SYS(socketcall), 1, SCMP_A0(SCMP_CMP_EQ, sub)) < 0 ? -1 : 0;
}

/* The rules on arguments, each unless lifted by naming its call (which
 * lifts its socketcall form too); fcntl's hold for fcntl64 too. */
static int
deny_arguments(scmp_filter_ctx ctx, char **allow, char **extra)
{
	if (argument_rules("socket", allow, extra) &&
	    (deny_socketcall(ctx, 1 /* SYS_SOCKET */, EAFNOSUPPORT, extra) ==
	    -1 || deny_families(ctx, SCMP_SYS(socket)) == -1 ||
	    deny_protocols(ctx) == -1))
		return -1;
	if (argument_rules("socketpair", allow, extra) &&
	    (deny_socketcall(ctx, 8 /* SYS_SOCKETPAIR */, EAFNOSUPPORT,
	    extra) == -1 || deny_families(ctx, SCMP_SYS(socketpair)) == -1))
		return -1;
	if (argument_rules("setsockopt", allow, extra) &&
	    (deny_socketcall(ctx, 14 /* SYS_SETSOCKOPT */, EPERM, extra) ==
	    -1 || deny_sockopts(ctx) == -1))
		return -1;
	if (argument_rules("ioctl", allow, extra) && deny_runs(ctx,
	    SCMP_SYS(ioctl), 1, if_ioctls, NELEM(if_ioctls)) == -1)
		return -1;
	if (deny_dnotify(ctx, allow, extra) == -1)
		return -1;
	return deny_namespaces(ctx, allow, extra);
}

/* The ABIs with rules: the build's, and i386 on x86-64. */
static int
filter_arches(scmp_filter_ctx ctx)
{
	/* Any other ABI (x32 above all) kills the process. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS) < 0)
		return -1;
#if defined(__x86_64__) && !defined(__ILP32__)
	if (seccomp_arch_add(ctx, SCMP_ARCH_X86) < 0)
		return -1;
#endif
	return 0;
}

/*
 * Builds the filter, or one of its parts: the default deny list minus
 * allow, plus deny. Returns 0 with the BPF program in *out (free with
 * seccomp_filter_free).
 */
int
seccomp_build(char **allow, char **extra, enum sc_part part,
    struct sock_fprog *out, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	int fd = -1, ret = -1;
	off_t len;

	memset(out, 0, sizeof(*out));
	for (char **a = allow; a != NULL && *a != NULL; a++)
		if (seccomp_syscall_resolve_name(*a) == __NR_SCMP_ERROR) {
			snprintf(err, errlen, "unknown syscall \"%s\"", *a);
			return -1;
		}
	/* Read by the rules' helpers (in_part): the daemon builds filters in
	 * one thread, at configuration time. */
	part_now = part;
	extra_now = extra;
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	if (filter_arches(ctx) == -1) {
		snprintf(err, errlen, "cannot add the i386 ABI to the filter");
		goto out;
	}
	/* A binary tree of calls rather than a list: the filter runs on
	 * every system call. Older libseccomp: a list. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (const char **d = default_deny; *d != NULL; d++)
		if (!list_has(allow, *d) && deny(ctx, *d, err, errlen) == -1)
			goto out;
	for (char **d = extra; d != NULL && *d != NULL; d++)
		if (deny(ctx, *d, err, errlen) == -1)
			goto out;
	if (deny_arguments(ctx, allow, extra) == -1) {
		snprintf(err, errlen, "cannot add the rules on arguments");
		goto out;
	}
	fd = memfd_create("chald-seccomp", MFD_CLOEXEC);
	if (fd == -1 || seccomp_export_bpf(ctx, fd) < 0 ||
	    (len = lseek(fd, 0, SEEK_END)) <= 0 ||
	    len % sizeof(struct sock_filter) != 0 ||
	    len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		snprintf(err, errlen, "cannot export the seccomp filter");
		goto out;
	}
	out->filter = malloc((size_t)len);
	if (out->filter == NULL || pread(fd, out->filter, (size_t)len, 0) !=
	    len) {
		free(out->filter);
		out->filter = NULL;
		snprintf(err, errlen, "cannot read the seccomp filter");
		goto out;
	}
	out->len = (unsigned short)(len / sizeof(struct sock_filter));
	ret = 0;
out:
	if (fd != -1)
		close(fd);
	seccomp_release(ctx);
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
