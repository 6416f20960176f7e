/*
 * test_cgspare.c: the spare cgroups. A spare goes only to a session of the
 * service and limits it was made with, only after it has rested, oldest
 * first, never twice; services whose jails could mount a cgroupfs of their
 * own (no filter, or mount lifted) never get one; a reload's sweep finds
 * the spares no service may take any more.
 */
#include <stdlib.h>

#include "chald.h"
#include "t.h"

static struct service
mksvc(char *name, uint64_t memory, int pids, double cpu)
{
	struct service s;

	memset(&s, 0, sizeof(s));
	s.name = name;
	s.sandbox = 1;
	s.seccomp = 1;
	s.memory = memory;
	s.pids = pids;
	s.cpu = cpu;
	return s;
}

static struct cgslot *
mkslot(unsigned long long id, const struct service *s, int64_t ended)
{
	struct cgslot *g = calloc(1, sizeof(*g));

	g->id = id;
	g->svc = strdup(s->name);
	g->memory = s->memory;
	g->pids = s->pids;
	g->cpu = s->cpu;
	g->ended_ms = ended;
	return g;
}

static void
slot_free(struct cgslot *g)
{
	if (g != NULL) {
		free(g->svc);
		free(g);
	}
}

static void
test_fits(void)
{
	struct service a = mksvc("pwn", 64 << 20, 16, 0.5);
	struct service b = mksvc("pwn", 64 << 20, 16, 0.5);
	struct cgslot *g = mkslot(1, &a, 0);

	CHECK(cgspare_fits(g, &b));
	b.memory = 32 << 20;
	CHECK(!cgspare_fits(g, &b));
	b = a;
	b.pids = 17;
	CHECK(!cgspare_fits(g, &b));
	b = a;
	b.cpu = 0.25;
	CHECK(!cgspare_fits(g, &b));
	b = a;
	b.name = "web";
	CHECK(!cgspare_fits(g, &b));
	slot_free(g);
}

static void
test_allowed(void)
{
	struct service s = mksvc("pwn", 0, 0, 0);
	char *mount[] = { "ptrace", "mount", NULL };
	char *fsopen[] = { "fsopen", NULL };
	char *other[] = { "ptrace", "inotify_init1", NULL };

	CHECK(cgspare_allowed(&s));
	s.sc_allow = other;
	CHECK(cgspare_allowed(&s));
	s.sc_allow = mount;
	CHECK(!cgspare_allowed(&s));
	s.sc_allow = fsopen;
	CHECK(!cgspare_allowed(&s));
	s.sc_allow = NULL;
	s.seccomp = 0;
	CHECK(!cgspare_allowed(&s));
	s.seccomp = 1;
	s.sandbox = 0;
	CHECK(!cgspare_allowed(&s));
}

static void
test_take(void)
{
	struct service a = mksvc("pwn", 64 << 20, 16, 0);
	struct service b = mksvc("web", 64 << 20, 16, 0);
	struct cgspares sp = { NULL, NULL, 0 };
	struct cgslot *g;

	cgspare_put(&sp, mkslot(1, &a, 1000));
	cgspare_put(&sp, mkslot(2, &b, 1010));
	cgspare_put(&sp, mkslot(3, &a, 1020));
	CHECK(sp.n == 3);
	/* nothing has rested yet */
	CHECK(cgspare_take(&sp, &a, 1000 + CG_REST_MS - 1) == NULL);
	/* the oldest that fits */
	g = cgspare_take(&sp, &a, 1000 + CG_REST_MS);
	CHECK(g != NULL && g->id == 1 && g->next == NULL);
	slot_free(g);
	CHECK(sp.n == 2);
	/* 3 fits but has not rested; 2 has, but is web's */
	CHECK(cgspare_take(&sp, &a, 1015 + CG_REST_MS) == NULL);
	g = cgspare_take(&sp, &a, 1020 + CG_REST_MS);
	CHECK(g != NULL && g->id == 3);
	slot_free(g);
	/* taken once: gone from the list */
	CHECK(cgspare_take(&sp, &a, 99999) == NULL);
	CHECK(sp.n == 1 && sp.head == sp.tail && sp.head->id == 2);
	/* a service that may not have one gets none */
	b.seccomp = 0;
	CHECK(cgspare_take(&sp, &b, 99999) == NULL);
	b.seccomp = 1;
	g = cgspare_take(&sp, &b, 99999);
	CHECK(g != NULL && g->id == 2);
	slot_free(g);
	CHECK(sp.n == 0 && sp.head == NULL && sp.tail == NULL);
	/* appending after emptying */
	cgspare_put(&sp, mkslot(4, &a, 5));
	CHECK(sp.head != NULL && sp.head == sp.tail);
	g = cgspare_oldest(&sp);
	CHECK(g != NULL && g->id == 4 && sp.n == 0 && sp.tail == NULL);
	slot_free(g);
	CHECK(cgspare_oldest(&sp) == NULL);
}

static void
test_unfit(void)
{
	struct service a = mksvc("pwn", 64 << 20, 16, 0);
	struct service b = mksvc("web", 32 << 20, 8, 0);
	struct service a2 = mksvc("pwn", 64 << 20, 24, 0);
	struct cgspares sp = { NULL, NULL, 0 };
	struct config c;
	struct cgslot *g;

	memset(&c, 0, sizeof(c));
	cgspare_put(&sp, mkslot(1, &a, 0));
	cgspare_put(&sp, mkslot(2, &b, 0));
	cgspare_put(&sp, mkslot(3, &a, 0));
	/* the new config: pwn's pids changed, web as it was */
	c.services = &a2;
	a2.next = &b;
	g = cgspare_unfit(&sp, &c);
	CHECK(g != NULL && g->id == 1);
	slot_free(g);
	g = cgspare_unfit(&sp, &c);
	CHECK(g != NULL && g->id == 3);
	slot_free(g);
	CHECK(cgspare_unfit(&sp, &c) == NULL);
	CHECK(sp.n == 1 && sp.head->id == 2 && sp.tail->id == 2);
	/* web's filter is now off: its spare goes too */
	b.seccomp = 0;
	g = cgspare_unfit(&sp, &c);
	CHECK(g != NULL && g->id == 2 && sp.n == 0 && sp.tail == NULL);
	slot_free(g);
}

int
main(void)
{
	test_fits();
	test_allowed();
	test_take();
	test_unfit();
	T_DONE();
}
