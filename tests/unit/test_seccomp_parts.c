/*
 * test_seccomp_parts.c: the filter's two parts (the forker's outer one and
 * the jail's inner one), stacked as the kernel stacks them, must answer
 * every call exactly as the whole filter does, action and errno alike.
 * The three programs are run by a classic-BPF interpreter over a sweep:
 * every ABI the filter knows and one it does not, every call number of
 * each (and x32's), and for each call arguments made of every constant the
 * three programs compare with (and its neighbours, with clean and dirty
 * upper halves), one argument at a time and in pairs; for many
 * seccomp-allow / seccomp-deny combinations.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <stdint.h>
#include <stdlib.h>

#include "chald.h"
#include "t.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

struct sdata {
	int32_t		nr;
	uint32_t	arch;
	uint64_t	ip;
	uint64_t	args[6];
};

/* A classic BPF program on d, as the kernel's seccomp runs it. */
static uint32_t
bpf_run(const struct sock_fprog *p, const struct sdata *d)
{
	uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = { 0 };
	const unsigned char *base = (const unsigned char *)d;

	for (unsigned pc = 0; pc < p->len; pc++) {
		const struct sock_filter *f = &p->filter[pc];
		uint32_t k = f->k, src;

		switch (BPF_CLASS(f->code)) {
		case BPF_LD:
			if (f->code == (BPF_LD | BPF_W | BPF_ABS) &&
			    k % 4 == 0 && k + 4 <= sizeof(*d))
				memcpy(&A, base + k, 4);
			else if (f->code == (BPF_LD | BPF_IMM))
				A = k;
			else if (f->code == (BPF_LD | BPF_MEM) && k < 16)
				A = M[k];
			else if (f->code == (BPF_LD | BPF_W | BPF_LEN))
				A = sizeof(*d);
			else
				return 0xdeadbeef;
			break;
		case BPF_LDX:
			if (f->code == (BPF_LDX | BPF_IMM))
				X = k;
			else if (f->code == (BPF_LDX | BPF_MEM) && k < 16)
				X = M[k];
			else if (f->code == (BPF_LDX | BPF_W | BPF_LEN))
				X = sizeof(*d);
			else
				return 0xdeadbeef;
			break;
		case BPF_ST:
			if (k >= 16)
				return 0xdeadbeef;
			M[k] = A;
			break;
		case BPF_STX:
			if (k >= 16)
				return 0xdeadbeef;
			M[k] = X;
			break;
		case BPF_ALU:
			src = BPF_SRC(f->code) == BPF_X ? X : k;
			switch (BPF_OP(f->code)) {
			case BPF_ADD: A += src; break;
			case BPF_SUB: A -= src; break;
			case BPF_MUL: A *= src; break;
			case BPF_DIV: if (src == 0) return 0; A /= src; break;
			case BPF_MOD: if (src == 0) return 0; A %= src; break;
			case BPF_AND: A &= src; break;
			case BPF_OR: A |= src; break;
			case BPF_XOR: A ^= src; break;
			case BPF_LSH: A <<= (src & 31); break;
			case BPF_RSH: A >>= (src & 31); break;
			case BPF_NEG: A = -A; break;
			default: return 0xdeadbeef;
			}
			break;
		case BPF_JMP:
			src = BPF_SRC(f->code) == BPF_X ? X : k;
			switch (BPF_OP(f->code)) {
			case BPF_JA: pc += k; break;
			case BPF_JEQ: pc += A == src ? f->jt : f->jf; break;
			case BPF_JGT: pc += A > src ? f->jt : f->jf; break;
			case BPF_JGE: pc += A >= src ? f->jt : f->jf; break;
			case BPF_JSET: pc += (A & src) ? f->jt : f->jf; break;
			default: return 0xdeadbeef;
			}
			break;
		case BPF_RET:
			return BPF_RVAL(f->code) == BPF_A ? A : k;
		case BPF_MISC:
			if (BPF_MISCOP(f->code) == BPF_TAX)
				X = A;
			else
				A = X;
			break;
		}
	}
	return 0xdeadbeef;	/* ran off the end: the kernel refuses it */
}

/* The kernel's stacking (kernel/seccomp.c, seccomp_run_filters): the
 * newest filter first, and a later one wins only with a strictly lower
 * (signed) action. */
static uint32_t
stacked(const struct sock_fprog *outer, const struct sock_fprog *inner,
    const struct sdata *d)
{
	uint32_t ret = bpf_run(inner, d), cur = bpf_run(outer, d);

	if ((int32_t)(cur & SECCOMP_RET_ACTION_FULL) <
	    (int32_t)(ret & SECCOMP_RET_ACTION_FULL))
		ret = cur;
	return ret;
}

/* Every constant a program compares with, its neighbours too. */
static size_t
constants(const struct sock_fprog *p, uint32_t *v, size_t n, size_t max)
{
	for (unsigned i = 0; i < p->len && n + 3 <= max; i++) {
		uint16_t c = p->filter[i].code;

		if (BPF_CLASS(c) != BPF_JMP && BPF_CLASS(c) != BPF_ALU)
			continue;
		v[n++] = p->filter[i].k;
		v[n++] = p->filter[i].k + 1;
		v[n++] = p->filter[i].k - 1;
	}
	return n;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static unsigned long long mismatches;

static void
one(const struct sock_fprog *w, const struct sock_fprog *o,
    const struct sock_fprog *i, const struct sdata *d, const char *what)
{
	uint32_t a = bpf_run(w, d), b = stacked(o, i, d);

	if (a == b)
		return;
	if (mismatches++ < 20)
		fprintf(stderr, "%s: arch=%08x nr=%d args=%llx,%llx,%llx,"
		    "%llx: whole %08x, stacked %08x\n", what, d->arch, d->nr,
		    (unsigned long long)d->args[0],
		    (unsigned long long)d->args[1],
		    (unsigned long long)d->args[2],
		    (unsigned long long)d->args[3], a, b);
}

/* The three answers in one word: it changes when any of them does. */
static uint32_t
answers(const struct sock_fprog *w, const struct sock_fprog *o,
    const struct sock_fprog *i, const struct sdata *d)
{
	return bpf_run(w, d) ^ bpf_run(o, d) * 3 ^ bpf_run(i, d) * 7;
}

/* The sweep of one seccomp-allow / seccomp-deny combination. */
static void
sweep(char **allow, char **deny, const char *what)
{
	static const uint32_t arches[] = { AUDIT_ARCH_X86_64, AUDIT_ARCH_I386,
	    AUDIT_ARCH_AARCH64, 0 };
	static const uint32_t highs[] = { 0, 1, 0xffffffff };
	static uint32_t v[8192];
	struct sock_fprog w, o, i;
	char err[256];
	size_t n = 0, m;
	struct sdata d;
	unsigned long long before = mismatches;
	uint32_t r0;
	int varies;

	if (seccomp_build(allow, deny, SC_WHOLE, &w, err, sizeof(err)) ==
	    -1 || seccomp_build(allow, deny, SC_OUTER, &o, err,
	    sizeof(err)) == -1 || seccomp_build(allow, deny, SC_INNER, &i, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", what, err);
		CHECK(0);
		return;
	}
	v[n++] = 0;
	n = constants(&w, v, n, NELEM(v));
	n = constants(&o, v, n, NELEM(v));
	n = constants(&i, v, n, NELEM(v));
	qsort(v, n, sizeof(v[0]), cmp_u32);
	{
		size_t u = 1;

		for (m = 1; m < n; m++)
			if (v[m] != v[u - 1])
				v[u++] = v[m];
		n = u;
	}
	for (size_t a = 0; a < NELEM(arches); a++)
		for (long nr = -2; nr < 1100; nr++) {
			long nrs[] = { nr, nr | 0x40000000L };

			for (size_t x = 0; x < (arches[a] == AUDIT_ARCH_X86_64 ?
			    2U : 1U); x++) {
				memset(&d, 0, sizeof(d));
				d.arch = arches[a];
				d.nr = (int32_t)nrs[x];
				one(&w, &o, &i, &d, what);
				r0 = answers(&w, &o, &i, &d);
				varies = 0;
				/* one argument, every constant, each upper half */
				for (int arg = 0; arg < 6; arg++)
					for (size_t c = 0; c < n; c++)
						for (size_t h = 0; h < NELEM(highs);
						    h++) {
							memset(d.args, 0,
							    sizeof(d.args));
							d.args[arg] = (uint64_t)
							    highs[h] << 32 |
							    v[c];
							one(&w, &o, &i, &d, what);
							varies |= answers(&w,
							    &o, &i, &d) != r0;
						}
				/* pairs of the first three, clean halves, for the
				 * calls with rules on arguments: the rules test
				 * at most two of them */
				if (!varies)
					continue;
				for (int p = 0; p < 3; p++)
					for (int q = p + 1; q < 3; q++)
						for (size_t c = 0; c < n; c++)
							for (size_t e = 0; e < n; e++) {
								memset(d.args,
								    0, sizeof(
								    d.args));
								d.args[p] =
								    v[c];
								d.args[q] =
								    v[e];
								one(&w, &o,
								    &i, &d,
								    what);
							}
			}
		}
	if (mismatches != before)
		fprintf(stderr, "%s: %llu mismatches\n", what, mismatches - before);
	CHECK(mismatches == before);
	seccomp_filter_free(&w);
	seccomp_filter_free(&o);
	seccomp_filter_free(&i);
}

int
main(int argc, char **argv)
{
	/* Every name the filter has a rule on, and a few it has none on. */
	static char *names[] = {
		"ptrace", "process_vm_readv", "kcmp", "pidfd_getfd", "mount",
		"umount", "umount2", "pivot_root", "chroot", "move_mount",
		"open_tree", "fsopen", "mount_setattr", "unshare", "setns",
		"bpf", "keyctl", "add_key", "request_key", "io_uring_setup",
		"userfaultfd", "stime", "clock_settime64", "modify_ldt",
		"vm86", "inotify_init", "inotify_init1", "setdomainname",
		"sethostname", "socket", "socketpair", "setsockopt", "ioctl",
		"fcntl", "fcntl64", "socketcall", "clone", "clone3", "read",
		"recvmsg", "accept4", "getsockopt", NULL
	};
	/* make check: the default filter only (a few seconds). CHALD_SWEEP=
	 * some (make check-sweep, in CI): also the calls whose rules move
	 * between the parts or carry arguments, allowed and denied one at a
	 * time; CHALD_SWEEP=full: every name above, and every pair. */
	static char *some_names[] = {
		"socket", "socketcall", "clone", "clone3", "setsockopt",
		"fcntl", "mount", "keyctl", NULL
	};
	static char *no_names[] = { NULL };
	const char *mode = getenv("CHALD_SWEEP") != NULL ?
	    getenv("CHALD_SWEEP") : "";
	char **list = strcmp(mode, "full") == 0 ? names :
	    strcmp(mode, "some") == 0 ? some_names : no_names;
	char what[128];

	(void)argc;
	(void)argv;
	sweep(NULL, NULL, "default");
	for (char **a = list; *a != NULL; a++) {
		char *one_[] = { *a, NULL };

		snprintf(what, sizeof(what), "allow=%s", *a);
		sweep(one_, NULL, what);
		snprintf(what, sizeof(what), "deny=%s", *a);
		sweep(NULL, one_, what);
	}
	for (char **a = list; list == names && *a != NULL; a++)
		for (char **b = list; *b != NULL; b++) {
			char *al[] = { *a, NULL }, *de[] = { *b, NULL };
			char *de2[] = { *a, *b, NULL };

			if (a == b)
				continue;
			snprintf(what, sizeof(what), "allow=%s deny=%s", *a, *b);
			sweep(al, de, what);
			snprintf(what, sizeof(what), "deny=%s,%s", *a, *b);
			sweep(NULL, de2, what);
		}
	T_DONE();
}
