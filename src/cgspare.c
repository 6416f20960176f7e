/*
 * cgspare.c: the spare session cgroups, kept empty for the next session of
 * the same service and limits instead of an rmdir and a mkdir per session
 * (each costs the daemon a few hundred microseconds of kernel time, and a
 * memory cgroup's removal walks every superblock's list_lru). Pure list
 * logic; cgroup.c checks that a spare is empty and makes it fresh, and
 * bench/README.md says why a recycled cgroup is as fresh as a new one.
 */
#include <stdint.h>
#include <string.h>

#include "chald.h"

static int
listed(char **list, const char *name)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return 1;
	return 0;
}

/*
 * Whether s's sessions may run in a recycled cgroup. A cgroup shows its
 * history (memory.peak since its creation, memory.stat, the event counts)
 * to whoever can read its files. A jail has no cgroupfs (its binds may not
 * be /, /sys or below) and can mount one only in user and mount namespaces
 * of its own: that needs the mount calls that the default filter denies.
 */
int
cgspare_allowed(const struct service *s)
{
	return s->sandbox && s->seccomp && !listed(s->sc_allow, "mount") &&
	    !listed(s->sc_allow, "fsopen");
}

/* Made for s's service with s's limits: nothing to write in it again. */
int
cgspare_fits(const struct cgslot *g, const struct service *s)
{
	return g->svc != NULL && s->name != NULL &&
	    strcmp(g->svc, s->name) == 0 && g->memory == s->memory &&
	    g->pids == s->pids && g->cpu == s->cpu;
}

void
cgspare_put(struct cgspares *sp, struct cgslot *g)
{
	g->next = NULL;
	if (sp->tail != NULL)
		sp->tail->next = g;
	else
		sp->head = g;
	sp->tail = g;
	sp->n++;
}

static struct cgslot *
unlink_after(struct cgspares *sp, struct cgslot *prev, struct cgslot *g)
{
	if (prev != NULL)
		prev->next = g->next;
	else
		sp->head = g->next;
	if (sp->tail == g)
		sp->tail = prev;
	g->next = NULL;
	sp->n--;
	return g;
}

/*
 * The spare that rested longest among those that fit s and have rested
 * CG_REST_MS, or NULL.
 */
struct cgslot *
cgspare_take(struct cgspares *sp, const struct service *s, int64_t now_ms)
{
	struct cgslot *prev = NULL;

	if (!cgspare_allowed(s))
		return NULL;
	for (struct cgslot *g = sp->head; g != NULL; prev = g, g = g->next) {
		if (now_ms - g->ended_ms < CG_REST_MS)
			break;		/* the rest came later still */
		if (cgspare_fits(g, s))
			return unlink_after(sp, prev, g);
	}
	return NULL;
}

/* For the cap: the spare that rested longest. */
struct cgslot *
cgspare_oldest(struct cgspares *sp)
{
	return sp->head != NULL ? unlink_after(sp, NULL, sp->head) : NULL;
}

/* A spare that no service of c may take (after a reload), or NULL. */
struct cgslot *
cgspare_unfit(struct cgspares *sp, const struct config *c)
{
	struct cgslot *prev = NULL;

	for (struct cgslot *g = sp->head; g != NULL; prev = g, g = g->next) {
		const struct service *s;

		for (s = c->services; s != NULL; s = s->next)
			if (cgspare_allowed(s) && cgspare_fits(g, s))
				break;
		if (s == NULL)
			return unlink_after(sp, prev, g);
	}
	return NULL;
}
