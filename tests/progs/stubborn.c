/*
 * stubborn: like sleeper, but ignores SIGTERM, so only SIGKILL (chald's
 * shutdown grace running out, or a timeout) ends it. Prints "ready\n" once
 * SIGTERM is ignored, then sleeps forever.
 */
#include <signal.h>
#include <unistd.h>

int
main(void)
{
	signal(SIGTERM, SIG_IGN);
	if (write(1, "ready\n", 6) != 6)
		return 1;
	for (;;)
		pause();
}
