/*
 * pow.h: kCTF's proof of work, "sloth" (pow.c). A header of its own so that
 * only the files that use it see <gmp.h>.
 */
#ifndef POW_H
#define POW_H

#include <stddef.h>
#include <stdint.h>

#include <gmp.h>

/*
 * kCTF writes the difficulty in 3 bytes up to 2^23 - 1 and in 6 above, and
 * redpwnpow refuses more than 4: so at most 2^23 - 1 (hours of work; kCTF
 * quotes 31337 as 30 s).
 */
#define POW_DIFF_MAX	8388607u
#define POW_RANDOM	16	/* bytes of x: kCTF's x is below 2^128 */
#define POW_NUM_MAX	192	/* bytes of a number read (a solution is at
				   most 162 in kCTF's encoding) */
#define POW_CHAL_MAX	272	/* "s.D.X" text with a NUL, D and X up to
				   4 and POW_NUM_MAX bytes in base64 */
#define POW_LINE_MAX	1024	/* a solution line with its newline and any
				   blank lines before it */

/* What kCTF answers after the solution line. */
#define POW_TEXT_OK	"Correct\n"
#define POW_TEXT_FAIL	"Proof-of-work fail\n"

/* kCTF's prompt, with {challenge} and {difficulty} to be replaced. */
#define POW_PROMPT_KCTF							\
	"== proof-of-work: enabled ==\n"				\
	"please solve a pow first\n"					\
	"You can run the solver with:\n"				\
	"    python3 <(curl -sSL https://goo.gle/kctf-pow) solve {challenge}\n" \
	"===================\n"						\
	"\n"								\
	"Solution? "

/* A challenge: x is to be taken through difficulty square roots. */
struct pow_chal {
	uint32_t	 difficulty;
	size_t		 xlen;
	unsigned char	 x[POW_NUM_MAX];	/* big-endian */
	char		 text[POW_CHAL_MAX];	/* "s.<difficulty>.<x>" */
};

/* A check under way: difficulty squarings of the solution, in steps. */
struct pow_verify {
	mpz_t		 y, t, hi, p, x, px;
	uint32_t	 left;		/* squarings still to do */
	int		 live;		/* the mpz_t are initialized */
};

int		 pow_chal_make(struct pow_chal *, uint32_t difficulty,
		    const unsigned char rnd[POW_RANDOM], char *err,
		    size_t errlen);
int		 pow_chal_parse(struct pow_chal *, const char *text, size_t len,
		    char *err, size_t errlen);
int		 pow_prompt(char *out, size_t outlen, const char *tmpl,
		    const struct pow_chal *, char *err, size_t errlen);
int		 pow_line_scan(const unsigned char *buf, size_t len,
		    size_t *linelen, char *err, size_t errlen);
int		 pow_solution_parse(const unsigned char *line, size_t len,
		    unsigned char y[POW_NUM_MAX], size_t *ylen, char *err,
		    size_t errlen);
void		 pow_verify_init(struct pow_verify *);
void		 pow_verify_load(struct pow_verify *, const struct pow_chal *,
		    const unsigned char *y, size_t ylen);
int		 pow_verify_start(struct pow_verify *, const struct pow_chal *,
		    const unsigned char *line, size_t len, char *err,
		    size_t errlen);
int		 pow_verify_step(struct pow_verify *, uint32_t max_squarings);
void		 pow_verify_free(struct pow_verify *);
int		 pow_verify(const struct pow_chal *, const unsigned char *line,
		    size_t len, char *err, size_t errlen);

#endif /* POW_H */
