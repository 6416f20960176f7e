"""
The daemon's files call each other in one direction only: the loop at the
top, the stages below it, the ground floor (clock, log, tables) at the
bottom. Read from the object files that make the built chald: an edge
A -> B when A.o uses a symbol B.o defines. No circle may appear, directly
or round several files, and nothing may call up into main.c.
"""

import os
import subprocess
from pathlib import Path

from conftest import CHALD

BUILD = Path(CHALD).resolve().parent
# the embedded chald-init, not code the daemon calls
SKIP = {"initbin.o"}


def _symbols(obj, flag):
    out = subprocess.run(["nm", flag, str(obj)], capture_output=True,
                         text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        if flag == "-u":
            names.add(parts[-1])
        elif len(parts) == 3 and parts[1] in "TDBR":
            names.add(parts[2])
    return names


def _graph():
    objs = sorted(p for p in BUILD.glob("*.o") if p.name not in SKIP)
    assert objs, f"no object files in {BUILD}"
    defined = {}
    for o in objs:
        for s in _symbols(o, "--defined-only"):
            defined[s] = o.stem
    edges = {o.stem: set() for o in objs}
    for o in objs:
        for s in _symbols(o, "-u"):
            to = defined.get(s)
            if to is not None and to != o.stem:
                edges[o.stem].add(to)
    return edges


def _cycles(edges):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_no_file_calls_back_round_a_circle():
    edges = _graph()
    assert "loop" in edges and "session" in edges, sorted(edges)
    cycles = _cycles(edges)
    assert cycles == [], "files that call each other: " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_nothing_calls_main():
    edges = _graph()
    callers = sorted(f for f, to in edges.items() if "main" in to)
    assert callers == []


def test_the_cycle_check_sees_a_cycle():
    # the check itself must be able to fail
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == \
        [["a", "b", "c"]]
