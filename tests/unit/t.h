/*
 * t.h: the few macros the C unit tests share. Each test binary counts its
 * checks and ends with "N passed, N failed"; the exit status is 1 on any
 * failure.
 */
#ifndef T_H
#define T_H

#include <stdio.h>
#include <string.h>

static int t_passed, t_failed;

#define CHECK(cond) do {						\
	if (cond)							\
		t_passed++;						\
	else {								\
		t_failed++;						\
		fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, \
		    #cond);						\
	}								\
} while (0)

#define CHECK_STR(got, want) do {					\
	const char *g_ = (got), *w_ = (want);				\
	if (g_ != NULL && strcmp(g_, w_) == 0)				\
		t_passed++;						\
	else {								\
		t_failed++;						\
		fprintf(stderr, "%s:%d: FAIL: got \"%s\", want \"%s\"\n", \
		    __FILE__, __LINE__, g_ ? g_ : "(null)", w_);	\
	}								\
} while (0)

#define T_DONE() do {							\
	printf("%s: %d passed, %d failed\n", __FILE__, t_passed,	\
	    t_failed);							\
	return t_failed ? 1 : 0;					\
} while (0)

#endif
