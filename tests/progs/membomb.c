/*
 * membomb.c: hostile. Says "ready", then allocates and touches memory 1 MiB
 * at a time, reporting every 16 MiB, until the kernel stops it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(void)
{
	char line[64];
	int n;

	if (write(1, "ready\n", 6) != 6)
		return 1;
	for (long mib = 1;; mib++) {
		char *p = malloc(1 << 20);

		if (p == NULL) {
			n = snprintf(line, sizeof(line), "malloc failed at %ld MiB\n",
			    mib);
			if (write(1, line, n) < 0)
				return 2;
			pause();
		}
		memset(p, 0xa5, 1 << 20);
		if (mib % 16 == 0) {
			n = snprintf(line, sizeof(line), "%ld MiB\n", mib);
			if (write(1, line, n) < 0)
				return 2;
		}
	}
}
