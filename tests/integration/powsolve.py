#!/usr/bin/python3
"""
powsolve.py: solves a kCTF "sloth" proof of work as a player would, and
independently of chald's C code: Python's integers, or gmpy2 when it is
installed (Debian's python3-gmpy2), as kCTF's own solver does.

    powsolve.py [--pure] [--minimal] CHALLENGE

prints the solution line for CHALLENGE ("s.<difficulty>.<x>", base64).
--pure      Python's integers even where gmpy2 is installed (slower)
--minimal   the solution's number in as few bytes as it takes, as redpwnpow
            writes it, instead of kCTF's multiple of 3 bytes

Tests import solve() from here.
"""

import base64
import sys

MODULUS = 2**1279 - 1
EXPONENT = (MODULUS + 1) // 4   # a square root mod p, as p = 3 mod 4

try:
    import gmpy2
except ImportError:
    gmpy2 = None


def _number(text):
    return int.from_bytes(base64.b64decode(text, validate=True), "big")


def _encode(n, minimal):
    if minimal:
        size = max(1, (n.bit_length() + 7) // 8)
    else:
        size = n.bit_length() // 24 * 3 + 3
    return base64.b64encode(n.to_bytes(size, "big")).decode()


def solve(challenge, pure=False, minimal=False):
    """The solution line (without newline) for a challenge string."""
    fields = challenge.strip().split(".")
    if len(fields) != 3 or fields[0] != "s":
        raise ValueError("not a sloth challenge: %r" % challenge)
    difficulty, x = _number(fields[1]), _number(fields[2])
    if gmpy2 is not None and not pure:
        y = gmpy2.mpz(x)
        for _ in range(difficulty):
            y = gmpy2.powmod(y, EXPONENT, MODULUS).bit_flip(0)
        y = int(y)
    else:
        y = x
        for _ in range(difficulty):
            y = pow(y, EXPONENT, MODULUS) ^ 1
    return "s." + _encode(y, minimal)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = set(a for a in argv[1:] if a.startswith("--"))
    if len(args) != 1 or not flags <= {"--pure", "--minimal"}:
        sys.stderr.write(__doc__)
        return 2
    print(solve(args[0], "--pure" in flags, "--minimal" in flags))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
