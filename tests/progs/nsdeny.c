/*
 * nsdeny: runs a program under a seccomp filter that refuses what a
 * container's profile or an LSM may refuse, to show chald's start-up
 * checks (preflight.c) at work without a container:
 *   nsdeny ns PROG [ARG...]        unshare(), clone3() and clone() with a
 *                                  CLONE_NEW* flag: EPERM
 *   nsdeny clone3 PROG [ARG...]    clone3(): ENOSYS (docker's default
 *                                  profile, without CAP_SYS_ADMIN)
 *   nsdeny userns PROG [ARG...]    unshare() and clone() with CLONE_NEWUSER:
 *                                  EPERM (clone3's flags are out of a
 *                                  filter's sight: it is left alone)
 *   nsdeny mount PROG [ARG...]     mount(): EACCES, as AppArmor answers
 *   nsdeny hostname PROG [ARG...]  sethostname(): EPERM (systemd's
 *                                  ProtectHostname=)
 *   nsdeny pivot PROG [ARG...]     pivot_root(): EPERM
 */
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE	AUDIT_ARCH_AARCH64
#else
#error "nsdeny: add this architecture's AUDIT_ARCH"
#endif

#define NS_FLAGS	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | \
			 CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | \
			 CLONE_NEWNET | CLONE_NEWTIME)
#define LD(f)	(struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, \
		    offsetof(struct seccomp_data, f))
#define ARG0	(struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, \
		    offsetof(struct seccomp_data, args[0]))
#define RET(v)	(struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (v))
#define ERR(e)	RET(SECCOMP_RET_ERRNO | (e))

int
main(int argc, char *argv[])
{
	struct sock_filter f[32];
	struct sock_fprog prog;
	unsigned n = 0;
	const char *mode = argc > 2 ? argv[1] : "";

	f[n++] = LD(arch);
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    NATIVE, 1, 0);
	f[n++] = RET(SECCOMP_RET_ALLOW);
	f[n++] = LD(nr);
	if (strcmp(mode, "ns") == 0 || strcmp(mode, "userns") == 0) {
		unsigned mask = strcmp(mode, "ns") == 0 ? NS_FLAGS :
		    CLONE_NEWUSER;

		/* clone3 (ns only), unshare and clone: test the flags */
		if (strcmp(mode, "ns") == 0) {
			f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ |
			    BPF_K, SYS_clone3, 0, 1);
			f[n++] = ERR(EPERM);
		}
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    SYS_unshare, 1, 0);
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    SYS_clone, 0, 3);
		f[n++] = ARG0;
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K,
		    mask, 0, 1);
		f[n++] = ERR(EPERM);
		f[n++] = RET(SECCOMP_RET_ALLOW);
	} else {
		int nr, e;

		if (strcmp(mode, "clone3") == 0)
			nr = SYS_clone3, e = ENOSYS;
		else if (strcmp(mode, "mount") == 0)
			nr = SYS_mount, e = EACCES;
		else if (strcmp(mode, "hostname") == 0)
			nr = SYS_sethostname, e = EPERM;
		else if (strcmp(mode, "pivot") == 0)
			nr = SYS_pivot_root, e = EPERM;
		else {
			fprintf(stderr, "usage: nsdeny ns|clone3|userns|mount|"
			    "hostname|pivot PROG [ARG...]\n");
			return 2;
		}
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    (unsigned)nr, 0, 1);
		f[n++] = ERR((unsigned)e);
		f[n++] = RET(SECCOMP_RET_ALLOW);
	}
	prog.len = (unsigned short)n;
	prog.filter = f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == -1) {
		perror("nsdeny: seccomp");
		return 1;
	}
	execvp(argv[2], argv + 2);
	perror(argv[2]);
	return 127;
}
