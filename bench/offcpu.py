#!/usr/bin/python3
"""offcpu.py: where tasks wait, from a `perf record -e sched:sched_switch -g`.

For every switch-out of a task that blocked (state S or D), the time until
that task is switched in again is added to its kernel stack (a few frames
under schedule(), which say what it waited for). Prints the 25 biggest
totals: total ms, number of waits, longest wait, comm, state, stack.

    perf record -e sched:sched_switch -g -a -o sw.data -- COMMAND
    perf script -i sw.data | /usr/bin/python3 bench/offcpu.py

Used in bench/README.md to find what a jailed session waits for.
"""
import collections
import re
import sys

HDR = re.compile(r"^\s*(\S.*?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+"
                 r"sched:sched_switch:\s+prev_comm=(.*?) prev_pid=(\d+) "
                 r"prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) "
                 r"next_pid=(\d+)")


def main():
    lines = sys.stdin.read().split("\n")
    out_at, tot = {}, collections.Counter()
    cnt, longest = collections.Counter(), collections.Counter()
    i = 0
    while i < len(lines):
        m = HDR.match(lines[i])
        i += 1
        if not m:
            continue
        t, prev, state, nxt = (float(m.group(4)), int(m.group(6)),
                               m.group(7), int(m.group(9)))
        stack = []
        while i < len(lines) and lines[i].strip():
            f = lines[i].split()
            if len(f) >= 2 and f[1] != "[unknown]":
                stack.append(f[1].split("+")[0])
            i += 1
        if nxt in out_at:
            t0, key = out_at.pop(nxt)
            tot[key] += t - t0
            cnt[key] += 1
            longest[key] = max(longest[key], t - t0)
        if state[0] in "SD":
            key = "%s %s %s" % (m.group(5).split("/")[0], state[0],
                                ";".join(stack[2:9]))
            out_at[prev] = (t, key)
    for key, v in tot.most_common(25):
        print("%9.1fms n=%6d max=%7.2fms %s" % (v * 1000, cnt[key],
                                                 longest[key] * 1000,
                                                 key[:230]))


if __name__ == "__main__":
    main()
