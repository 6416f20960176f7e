/*
 * seccomp.c: the syscall filter of a jailed challenge. libseccomp builds it
 * once per service when the configuration is loaded and it is exported to
 * classic BPF in memory, so the child only makes one prctl() and never runs
 * the library (nothing to allocate, nothing to get wrong after fork).
 *
 * The filter denies what no challenge needs and what widens the kernel's
 * attack surface; everything else stays allowed, since challenges are
 * arbitrary programs. Foreign ABIs (i386 through int 0x80, x32) are killed.
 */
#include <sys/mman.h>

#include <errno.h>
#include <linux/filter.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chald.h"

/* Denied with EPERM unless a service's seccomp-allow names them. */
static const char *default_deny[] = {
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
	"mount", "umount2", "pivot_root", "chroot", "move_mount",
	"open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr", "unshare", "setns", "bpf", "perf_event_open",
	"keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load",
	"init_module", "finit_module", "delete_module", "io_uring_setup",
	"io_uring_enter", "io_uring_register", "userfaultfd",
	"open_by_handle_at", "name_to_handle_at", "reboot", "swapon",
	"swapoff", "syslog", "acct", "settimeofday", "clock_settime",
	"clock_adjtime", "adjtimex", "quotactl", "quotactl_fd", "vhangup",
	"iopl", "ioperm", "lookup_dcookie", "fanotify_init", "nfsservctl",
	"uselib", "pidfd_getfd", "setdomainname", "sethostname",
	NULL
};

static int
list_has(char **list, const char *name)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return 1;
	return 0;
}

static int
deny(scmp_filter_ctx ctx, const char *name, char *err, size_t errlen)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR) {
		snprintf(err, errlen, "unknown syscall \"%s\"", name);
		return -1;
	}
	if (nr < 0)
		return 0;	/* not on this architecture */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0) < 0) {
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

	/* Allowed, or denied outright by seccomp-deny: no rule here. */
	int clone_rules = !list_has(allow, "clone") && !list_has(extra, "clone");
	int clone3_rule = !list_has(allow, "clone3") &&
	    !list_has(extra, "clone3");

	for (size_t i = 0; clone_rules &&
	    i < sizeof(flags) / sizeof(flags[0]); i++)
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
 * Builds the filter: the default deny list minus allow, plus deny.
 * Returns 0 with the BPF program in *out (free with seccomp_filter_free).
 */
int
seccomp_build(char **allow, char **extra, struct sock_fprog *out,
    char *err, size_t errlen)
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
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	/* Syscalls of another ABI kill the process outright. */
	seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	for (const char **d = default_deny; *d != NULL; d++)
		if (!list_has(allow, *d) && deny(ctx, *d, err, errlen) == -1)
			goto out;
	for (char **d = extra; d != NULL && *d != NULL; d++)
		if (deny(ctx, *d, err, errlen) == -1)
			goto out;
	if (deny_namespaces(ctx, allow, extra) == -1) {
		snprintf(err, errlen, "cannot add the clone rules");
		goto out;
	}
	fd = memfd_create("chald-seccomp", MFD_CLOEXEC);
	if (fd == -1 || seccomp_export_bpf(ctx, fd) < 0 ||
	    (len = lseek(fd, 0, SEEK_END)) <= 0 ||
	    len % sizeof(struct sock_filter) != 0) {
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
