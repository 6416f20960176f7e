/*
 * sleeper: a session that never ends by itself. Prints "ready\n" so the test
 * knows chald has spawned it, then sleeps until a signal kills it. SIGTERM
 * keeps its default action (see stubborn for one that ignores it).
 */
#include <unistd.h>

int
main(void)
{
	if (write(1, "ready\n", 6) != 6)
		return 1;
	for (;;)
		pause();
}
