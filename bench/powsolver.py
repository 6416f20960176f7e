#!/usr/bin/python3
"""
powsolver.py: a player who solves chald's proof of work, from 127.0.0.250,
again and again for SECS seconds: solves each challenge (with
tests/integration/powsolve.py, as a player would; seconds at difficulty
5000), sends the line and times the daemon's check, from the write to
"Correct". Prints the checks' count, median and max in ms.

    powsolver.py PORT SECS
"""

import os
import re
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration"))
import powsolve  # noqa: E402


def until(s, marker):
    buf = b""
    while marker not in buf:
        c = s.recv(4096)
        if not c:
            raise EOFError(buf)
        buf += c
    return buf


def main():
    port, secs = int(sys.argv[1]), float(sys.argv[2])
    stop = time.monotonic() + secs
    ms = []
    while time.monotonic() < stop:
        with socket.create_connection(("127.0.0.1", port), timeout=30,
                                      source_address=("127.0.0.250", 0)) as s:
            prompt = until(s, b"Solution? ")
            chal = re.search(rb"solve (s\.\S+)", prompt).group(1).decode()
            line = powsolve.solve(chal).encode() + b"\n"
            t0 = time.monotonic()
            s.sendall(line)
            got = until(s, b"\n")
            if not got.startswith(b"Correct\n"):
                raise SystemExit("powsolver.py: not Correct: %r" % got)
            ms.append((time.monotonic() - t0) * 1000)
    print(f"checks={len(ms)} median_ms={statistics.median(ms):.2f} "
          f"max_ms={max(ms):.2f}" if ms else "checks=0")


main()
