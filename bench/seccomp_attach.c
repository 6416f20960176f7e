/*
 * seccomp_attach.c: what attaching the jail's seccomp filter costs, alone.
 * chald's program (src/seccomp.c) against libseccomp's of the same policy
 * (tests/unit/seccomp_ref.c, which chald attached until it assembled its
 * own), and a program of one instruction for the fixed cost. No root:
 * no_new_privs is enough for a filter.
 *   make bench-seccomp [ROUNDS=5 CHILDREN=200]
 *   bench/build/seccomp_attach [ROUNDS [CHILDREN]]
 * Prints each program's length, the instructions an x86-64 and an i386
 * process can reach, the mean number run per call (call numbers 0-459,
 * arguments 0; what the kernel's cache of allowed calls does not spare),
 * then ROUNDS * CHILDREN forked children per program, the programs in
 * turn: each child sets no_new_privs and times its one
 * prctl(PR_SET_SECCOMP) on its thread's CPU clock and on the wall clock.
 * Per program, percentiles in us, and the median of the ratio of chald's
 * to libseccomp's in each turn (less moved by a busy machine).
 */
#include <sys/prctl.h>
#include <sys/wait.h>

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chald.h"
#include "seccomp_ref.c"

#define NPROG	3

/*
 * The instructions reachable by a process of ABI arch: a walk of the
 * program (its jumps go forward) in which A is known after a load of the
 * arch, so that the tests of it go one way.
 */
static unsigned
reachable(const struct sock_fprog *p, uint32_t arch)
{
	/* per instruction: reached with A = arch (2), A unknown (1) */
	unsigned char st[BPF_MAXINSNS + 256] = { 1 };
	unsigned n = 0;

	for (unsigned pc = 0; pc < p->len; pc++) {
		const struct sock_filter *f = &p->filter[pc];
		unsigned t = pc + 1 + f->jt, e = pc + 1 + f->jf;

		if (st[pc] == 0)
			continue;
		n++;
		switch (BPF_CLASS(f->code)) {
		case BPF_RET:
			break;
		case BPF_LD:
			st[pc + 1] |= f->k == offsetof(struct seccomp_data,
			    arch) && f->code == (BPF_LD | BPF_W | BPF_ABS) ? 2 :
			    1;
			break;
		case BPF_JMP:
			if (f->code == (BPF_JMP | BPF_JA)) {
				st[pc + 1 + f->k] |= st[pc];
				break;
			}
			if (st[pc] & 1)
				st[t] |= 1, st[e] |= 1;
			if ((st[pc] & 2) && BPF_OP(f->code) == BPF_JEQ)
				st[arch == f->k ? t : e] |= 2;
			else if (st[pc] & 2)
				st[t] |= 1, st[e] |= 1;	/* not emitted */
			break;
		default:
			st[pc + 1] |= 1;
		}
	}
	return n;
}

/* Instructions run for one call with arguments 0 (a small interpreter of
 * what the programs emit). */
static unsigned
path(const struct sock_fprog *p, uint32_t arch, uint32_t nr)
{
	struct seccomp_data d = { .nr = (int)nr, .arch = arch };
	uint32_t a = 0;
	unsigned n = 0;

	for (unsigned pc = 0; pc < p->len; pc++, n++) {
		const struct sock_filter *f = &p->filter[pc];

		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			memcpy(&a, (char *)&d + f->k, 4);
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= f->k;
			break;
		case BPF_JMP | BPF_JA:
			pc += f->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			pc += a > f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			pc += a >= f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			pc += (a & f->k) ? f->jt : f->jf;
			break;
		default:
			return n + 1;
		}
	}
	return n;
}

static double
mean_path(const struct sock_fprog *p, uint32_t arch)
{
	unsigned sum = 0;

	for (uint32_t nr = 0; nr < 460; nr++)
		sum += path(p, arch, nr);
	return sum / 460.0;
}

/*
 * The eBPF instructions the kernel converts the program to, which the JIT
 * compiles (bpf_convert_filter, net/core/filter.c): two for a return (a
 * move and an exit), two for a conditional jump that jumps both ways (a
 * jump and a BPF_JA), one more for an immediate with its sign bit set,
 * one for the rest; a prologue of three.
 */
static unsigned
ebpf_length(const struct sock_fprog *p)
{
	unsigned n = 3;

	for (unsigned pc = 0; pc < p->len; pc++) {
		const struct sock_filter *f = &p->filter[pc];

		if (BPF_CLASS(f->code) == BPF_RET)
			n += 2;
		else if (BPF_CLASS(f->code) == BPF_JMP &&
		    f->code != (BPF_JMP | BPF_JA))
			n += 1 + ((int32_t)f->k < 0) + (f->jt != 0 &&
			    f->jf != 0) + (f->jf != 0 && f->jt == 0 &&
			    BPF_OP(f->code) == BPF_JSET);
		else
			n++;
	}
	return n;
}

static long
ns_of(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000000L + b->tv_nsec - a->tv_nsec;
}

/* One child's attach: {CPU ns, wall ns}, or -1. */
static int
attach_once(const struct sock_fprog *p, long out[2])
{
	int pfd[2], st;
	pid_t pid;

	if (pipe(pfd) == -1)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct timespec c0, c1, w0, w1;
		long r[2] = { -1, -1 };

		close(pfd[0]);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &w0);
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
			if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p) ==
			    0) {
				clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
				clock_gettime(CLOCK_MONOTONIC, &w1);
				r[0] = ns_of(&c0, &c1);
				r[1] = ns_of(&w0, &w1);
			}
		}
		_exit(write(pfd[1], r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(pfd[1]);
	if (pid == -1 || read(pfd[0], out, 2 * sizeof(long)) !=
	    2 * sizeof(long))
		out[0] = -1;
	close(pfd[0]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	return out[0] < 0 ? -1 : 0;
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v. */
static long
median(long *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_long);
	return v[n / 2];
}

int
main(int argc, char **argv)
{
	static const char *names[NPROG] = { "chald", "libseccomp", "one-insn" };
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_ALLOW);
	struct sock_fprog prog[NPROG];
	int rounds = argc > 1 ? atoi(argv[1]) : 5;
	int children = argc > 2 ? atoi(argv[2]) : 200;
	long *cpu[NPROG], *wall[NPROG], *ratio, r[2];
	char err[256];
	size_t n;

	if (rounds < 1 || rounds > 100 || children < 1 || children > 10000) {
		fprintf(stderr, "usage: seccomp_attach [ROUNDS [CHILDREN]]\n");
		return 2;
	}
	if (seccomp_build(NULL, NULL, &prog[0], err, sizeof(err)) == -1 ||
	    ref_build(NULL, NULL, 2, &prog[1], err, sizeof(err)) == -1) {
		fprintf(stderr, "seccomp_attach: %s\n", err);
		return 1;
	}
	prog[2] = (struct sock_fprog){ 1, &allow };
	printf("%-11s %6s %6s %7s %7s %9s %9s\n", "program", "insns",
	    "eBPF", "x86-64", "i386", "run/x64", "run/i386");
	for (int i = 0; i < NPROG; i++)
		printf("%-11s %6u %6u %7u %7u %9.1f %9.1f\n", names[i],
		    prog[i].len, ebpf_length(&prog[i]),
		    reachable(&prog[i], AUDIT_ARCH_X86_64),
		    reachable(&prog[i], AUDIT_ARCH_I386),
		    mean_path(&prog[i], AUDIT_ARCH_X86_64),
		    mean_path(&prog[i], AUDIT_ARCH_I386));
	n = (size_t)rounds * (size_t)children;
	for (int i = 0; i < NPROG; i++) {
		cpu[i] = calloc(n, sizeof(long));
		wall[i] = calloc(n, sizeof(long));
		if (cpu[i] == NULL || wall[i] == NULL)
			return 1;
	}
	ratio = calloc(n, sizeof(long));
	if (ratio == NULL)
		return 1;
	/* the programs in turn, child after child: the same conditions */
	for (size_t c = 0; c < n; c++) {
		for (int i = 0; i < NPROG; i++) {
			if (attach_once(&prog[i], r) == -1) {
				fprintf(stderr, "seccomp_attach: the %s filter "
				    "did not attach\n", names[i]);
				return 1;
			}
			cpu[i][c] = r[0];
			wall[i][c] = r[1];
		}
		ratio[c] = 1000 * cpu[0][c] / (cpu[1][c] > 0 ? cpu[1][c] : 1);
	}
	printf("\n%zu attaches of each, in turn; us per attach:\n", n);
	printf("%-11s %8s %8s %8s %8s\n", "program", "cpu p50", "cpu p10",
	    "cpu p90", "wall p50");
	for (int i = 0; i < NPROG; i++) {
		long w = median(wall[i], n), c = median(cpu[i], n);

		printf("%-11s %8.1f %8.1f %8.1f %8.1f\n", names[i],
		    c / 1000.0, cpu[i][n / 10] / 1000.0,
		    cpu[i][n - 1 - n / 10] / 1000.0, w / 1000.0);
	}
	printf("chald/libseccomp, the median of each pair's cpu ratio: "
	    "%.2f\n", median(ratio, n) / 1000.0);
	return 0;
}
