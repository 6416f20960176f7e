/*
 * envdump: reports what chald gave the challenge, then exits 0:
 *   "ENV NAME=VALUE" for every environment variable,
 *   "CWD /path" for the working directory,
 *   "FDS 0 1 2" listing which of fds 0..63 are open,
 *   "PGID n SID n PID n" for the process group, session and pid,
 *   "HOST name" for the hostname (uname -n),
 *   "END" last.
 * The fd list is taken before stdio opens anything.
 */
#include <sys/utsname.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

extern char **environ;

int
main(void)
{
	char cwd[PATH_MAX];
	struct utsname u;
	int open_fds[64], n = 0;

	for (int fd = 0; fd < 64; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			open_fds[n++] = fd;
	for (char **e = environ; *e != NULL; e++)
		printf("ENV %s\n", *e);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		printf("CWD ?\n");
	else
		printf("CWD %s\n", cwd);
	printf("FDS");
	for (int i = 0; i < n; i++)
		printf(" %d", open_fds[i]);
	printf("\n");
	printf("PGID %d SID %d PID %d\n", (int)getpgrp(), (int)getsid(0),
	    (int)getpid());
	if (uname(&u) == 0)
		printf("HOST %s\n", u.nodename);
	printf("END\n");
	return fflush(stdout) == 0 ? 0 : 1;
}
