/*
 * confload.c: the configuration as the command line asks for it: the
 * file given with -c, or the one service after "--", with every option
 * applied on top as an override. Used at startup and again at each reload,
 * which is why the command line is kept (struct cmdline).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <err.h>

#include "chald.h"

void
cmdline_override(struct cmdline *cl, const char *key, const char *value,
    int global)
{
	if (cl->noverrides == MAX_OVERRIDES)
		errx(2, "too many options");
	cl->overrides[cl->noverrides].key = key;
	cl->overrides[cl->noverrides].value = value;
	cl->overrides[cl->noverrides].global = global;
	cl->noverrides++;
}

/* An override that the command line's own options come after. */
void
cmdline_prepend(struct cmdline *cl, const char *key, const char *value)
{
	if (cl->noverrides == MAX_OVERRIDES)
		errx(2, "too many options");
	memmove(cl->overrides + 1, cl->overrides,
	    cl->noverrides * sizeof(*cl->overrides));
	cl->overrides[0] = (struct override){ key, value, 0 };
	cl->noverrides++;
}

static char *
cwd_join(const struct cmdline *cl, const char *p)
{
	char *out;

	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s/%s", cl->cwd, p) < 0)
		return NULL;
	return out;
}

/* The service of "chald [OPTIONS] -- PROGRAM [ARG...]". */
static void
cmdline_service(const struct cmdline *cl, struct config *c)
{
	struct service *s;
	char **argv = cl->argv;
	const char *base = strrchr(argv[0], '/');
	int n = 0;

	s = service_new(cl->name ? cl->name : base ? base + 1 : argv[0],
	    NULL, 0);
	while (argv[n] != NULL)
		n++;
	s->argv = calloc(n + 1, sizeof(*s->argv));
	for (int i = 0; i < n; i++)
		s->argv[i] = i == 0 && strchr(argv[0], '/') ?
		    cwd_join(cl, argv[0]) : strdup(argv[i]);
	s->argc = n;
	config_add_service(c, s);
}

static int
overrides_apply(const struct cmdline *cl, struct config *c, char *err,
    size_t errlen)
{
	char msg[CHALD_ERRLEN];

	for (int i = 0; i < cl->noverrides; i++) {
		const struct override *o = &cl->overrides[i];

		if (o->global) {
			if (config_set_global(c, o->key, o->value, msg,
			    sizeof(msg)) == -1) {
				snprintf(err, errlen, "--%s: %s", o->key, msg);
				return -1;
			}
			continue;
		}
		for (struct service *s = c->services; s != NULL; s = s->next)
			if (config_set_service(s, o->key, o->value, cl->cwd,
			    msg, sizeof(msg)) == -1) {
				snprintf(err, errlen, "--%s: %s",
				    strcmp(o->key, "listen") == 0 ? "bind" :
				    o->key, msg);
				return -1;
			}
	}
	return 0;
}

/* The daemon works from "/": file names are taken from here, now. */
static void
path_absolute(const struct cmdline *cl, char **p)
{
	char *abs;

	if (*p == NULL || (*p)[0] == '/')
		return;
	abs = cwd_join(cl, *p);
	free(*p);
	*p = abs;
}

struct config *
config_load(const struct cmdline *cl, char *err, size_t errlen)
{
	struct config *c = config_new();

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (cl->config_path != NULL) {
		if (config_parse_file(c, cl->config_path, err, errlen) == -1)
			goto fail;
	} else
		cmdline_service(cl, c);
	if (overrides_apply(cl, c, err, errlen) == -1 ||
	    config_finish(c, err, errlen) == -1)
		goto fail;
	if (c->log != NULL && strcmp(c->log, "stderr") != 0 &&
	    strcmp(c->log, "syslog") != 0)
		path_absolute(cl, &c->log);
	path_absolute(cl, &c->pidfile);
	return c;
fail:
	config_free(c);
	return NULL;
}
