"""
perftree.py DATA ROOTPID: the CPU of one process tree in a system-wide
`perf record -a -g` (cpu-clock) profile, by comm: samples whose process
descends from ROOTPID (by the fork events in DATA), so that other work on a
shared machine does not count. Prints "total=N tree=N" and then each comm's
share of all samples. Used by bench/jailprof.sh.
"""
import collections
import re
import subprocess
import sys

data, root = sys.argv[1], int(sys.argv[2])
out = subprocess.run(["perf", "script", "-i", data, "--show-task-events",
                      "-F", "comm,pid"], capture_output=True, text=True,
                     timeout=300).stdout
parent, samples = {}, []
for line in out.split("\n"):
    m = re.search(r"PERF_RECORD_FORK\((\d+):\d+\):\((\d+):\d+\)", line)
    if m:
        parent.setdefault(int(m.group(1)), int(m.group(2)))
        continue
    f = line.split()
    if len(f) >= 2 and "PERF_RECORD" not in line and f[-1].isdigit():
        samples.append((" ".join(f[:-1]), int(f[-1])))


def mine(pid):
    for _ in range(64):
        if pid == root:
            return True
        pid = parent.get(pid)
        if pid is None:
            return False
    return False


tree = [c for c, p in samples if mine(p)]
print(f"total={len(samples)} tree={len(tree)}")
for comm, n in collections.Counter(tree).most_common(10):
    print(f"{100 * n / max(len(samples), 1):.2f}% {comm}")
