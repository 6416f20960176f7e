/*
 * jailid.c: the identity (device and inode) of the host paths a service's
 * jails bind: the program's directory and the working directory, or the
 * root, and the bind-ro and bind-rw paths. A jail binds them when it is
 * built, so a jail waiting in the pool holds the directories of that
 * moment; after a redeploy that replaces a directory (mv dir dir.old;
 * cp -a dir.old dir; rm -rf dir.old) it would run the old, deleted one, or
 * fail to find the program at all. Comparing identities costs a stat() per
 * path, cheap enough for every accept that takes a jail from the pool.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chald.h"

/* The i-th bound path of s into buf; 0 once there are no more. */
static int
jailid_path(const struct service *s, int i, char *buf, size_t len)
{
	char *slash;

	if (s->root != NULL) {
		if (i == 0) {
			snprintf(buf, len, "%s", s->root);
			return 1;
		}
		i--;
	} else {
		if (i == 0) {
			snprintf(buf, len, "%s", s->argv[0]);
			slash = strrchr(buf, '/');
			if (slash != NULL && slash != buf)
				*slash = '\0';
			return 1;
		}
		if (i == 1) {
			snprintf(buf, len, "%s", s->workdir);
			return 1;
		}
		i -= 2;
	}
	if (i < s->nbind_ro) {
		snprintf(buf, len, "%s", s->bind_ro[i]);
		return 1;
	}
	i -= s->nbind_ro;
	if (i < s->nbind_rw) {
		snprintf(buf, len, "%s", s->bind_rw[i]);
		return 1;
	}
	return 0;
}

static void
jailid_stat(const char *path, struct pathid *id)
{
	struct stat st;

	/* A path that is gone, for the moment of a copy, is an identity
	 * too: it differs from every real one. */
	if (stat(path, &st) == -1) {
		id->dev = 0;
		id->ino = 0;
		return;
	}
	id->dev = st.st_dev;
	id->ino = st.st_ino;
}

/* The identities of s's paths now, in *ids (replaced). -1: no memory. */
int
jailid_take(const struct service *s, struct pathid **ids, int *n)
{
	char path[PATH_MAX];
	int count = 0;

	while (jailid_path(s, count, path, sizeof(path)))
		count++;
	free(*ids);
	*ids = calloc((size_t)count + 1, sizeof(**ids));
	*n = 0;
	if (*ids == NULL)
		return -1;
	for (int i = 0; i < count; i++) {
		jailid_path(s, i, path, sizeof(path));
		jailid_stat(path, &(*ids)[i]);
	}
	*n = count;
	return 0;
}

/*
 * Whether a path of s is no longer what ids recorded; its name goes to
 * which. Without a record (no memory earlier) nothing can be told.
 */
int
jailid_changed(const struct service *s, const struct pathid *ids, int n,
    char *which, size_t whichlen)
{
	char path[PATH_MAX];
	struct pathid now;

	for (int i = 0; i < n && jailid_path(s, i, path, sizeof(path)); i++) {
		jailid_stat(path, &now);
		if (now.dev != ids[i].dev || now.ino != ids[i].ino) {
			snprintf(which, whichlen, "%s", path);
			return 1;
		}
	}
	return 0;
}
