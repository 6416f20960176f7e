/*
 * guess.c - example chald challenge: a menu-driven number guessing game.
 *
 * chald runs this with the TCP connection on stdin/stdout and the
 * service's workdir as the current directory.  Guess the secret number
 * (1..100) within 8 tries and the contents of ./flag.txt are printed.
 * Input is read defensively: EOF ends the game, overlong lines and
 * non-numbers get a message, and alarm(120) bounds the session length.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOW        1
#define HIGH       100
#define MAX_TRIES  8
#define LINE_MAX_  64
#ifndef TIME_LIMIT
#define TIME_LIMIT 120   /* seconds; alarm(120) safety net */
#endif

static void on_alarm(int sig)
{
    static const char msg[] = "\nTime is up, bye.\n";
    (void)sig;
    /* only async-signal-safe calls here */
    (void)!write(STDOUT_FILENO, msg, sizeof msg - 1);
    _exit(0);
}

/* Random value from /dev/urandom; falls back to time/pid if unavailable. */
static unsigned int random_seed(void)
{
    unsigned int v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n;
        do {
            n = read(fd, &v, sizeof v);
        } while (n < 0 && errno == EINTR);
        close(fd);
        if (n == (ssize_t)sizeof v)
            return v;
    }
    return (unsigned int)time(NULL) ^ ((unsigned int)getpid() << 16);
}

/*
 * Read one line into buf (without the newline).  Returns 1 on success,
 * 0 if the line was too long (rest of it is discarded), -1 on EOF/error.
 */
static int read_line(char *buf, size_t size)
{
    size_t len;
    int c;

    if (fgets(buf, (int)size, stdin) == NULL)
        return -1;
    len = strlen(buf);
    if (len > 0 && buf[len - 1] == '\n') {
        buf[--len] = '\0';
        if (len > 0 && buf[len - 1] == '\r')   /* tolerate CRLF clients */
            buf[--len] = '\0';
        return 1;
    }
    if (feof(stdin))                /* last line without a newline */
        return 1;
    /* overlong: swallow the remainder of the line */
    while ((c = getchar()) != EOF && c != '\n')
        ;
    return 0;
}

/*
 * Parse a whole line as a decimal integer in [lo, hi].
 * Returns 1 and stores into *out on success, 0 otherwise.
 */
static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return 0;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || errno == ERANGE)
        return 0;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0' || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

/* Prompt and read a number; exits the program on EOF. */
static int ask_number(const char *prompt, long lo, long hi, long *out)
{
    char line[LINE_MAX_];
    int r;

    printf("%s", prompt);
    r = read_line(line, sizeof line);
    if (r < 0) {
        printf("\nEOF, bye.\n");
        exit(0);
    }
    if (r == 0) {
        printf("That line is way too long.\n");
        return 0;
    }
    if (!parse_int(line, lo, hi, out)) {
        printf("Please enter a number between %ld and %ld.\n", lo, hi);
        return 0;
    }
    return 1;
}

static void print_flag(void)
{
    char buf[256];
    size_t n;
    FILE *f = fopen("flag.txt", "r");

    if (f == NULL) {
        printf("...but flag.txt is missing. Please tell the organizers.\n");
        return;
    }
    printf("Here is your flag: ");
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(f);
}

int main(void)
{
    const char *ip = getenv("TCPREMOTEIP");
    long secret, choice, g;
    int tries = 0, hint_used = 0;

    setvbuf(stdin, NULL, _IONBF, 0);
    setvbuf(stdout, NULL, _IONBF, 0);
    setvbuf(stderr, NULL, _IONBF, 0);
    signal(SIGALRM, on_alarm);
    alarm(TIME_LIMIT);

    secret = LOW + (long)(random_seed() % (HIGH - LOW + 1));

    if (ip == NULL || *ip == '\0')
        ip = "stranger";
    printf("Hello %s! I am thinking of a number between %d and %d.\n",
           ip, LOW, HIGH);
    printf("Guess it within %d tries and the flag is yours.\n", MAX_TRIES);

    while (tries < MAX_TRIES) {
        printf("\n[%d/%d tries used]\n"
               "1) guess\n2) hint\n3) quit\n", tries, MAX_TRIES);
        if (!ask_number("> ", 1, 3, &choice))
            continue;

        switch (choice) {
        case 1:
            if (!ask_number("Your guess: ", LOW, HIGH, &g))
                break;
            tries++;
            if (g == secret) {
                printf("Correct! The number was %ld (%d tries).\n",
                       secret, tries);
                print_flag();
                return 0;
            }
            printf("Nope, my number is %s than %ld.\n",
                   g < secret ? "greater" : "less", g);
            break;
        case 2:
            if (hint_used) {
                printf("You already had your hint.\n");
                break;
            }
            hint_used = 1;
            tries++;
            printf("Hint (costs one try): the number is %s.\n",
                   secret % 2 == 0 ? "even" : "odd");
            break;
        case 3:
            printf("Giving up already? Bye.\n");
            return 0;
        }
    }
    printf("Out of tries! The number was %ld.\n", secret);
    return 0;
}
