"""
hold.py: opens N connections to a loopback port, waits for each session's
first line (so every one is really spawned), prints "held N", then holds
them until its stdin closes. Used by bench/idle.sh. Loopback only; every
wait is bounded.
"""
import resource
import socket
import sys
import time

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if not (host.startswith("127.") or host == "::1"):
    sys.exit("hold.py: loopback targets only")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 256
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, hard), max(want, hard)))

socks = []
deadline = time.monotonic() + 600
for i in range(n):
    if time.monotonic() > deadline:
        sys.exit(f"hold.py: only {i} of {n} sessions within 600 s")
    s = socket.create_connection((host, port), timeout=30)
    socks.append(s)
    # read the greeting in batches so spawning overlaps connecting
    if len(socks) % 50 == 0 or i == n - 1:
        for t in socks[-50:]:
            buf = b""
            while not buf.endswith(b"\n"):
                c = t.recv(64)
                if not c:
                    sys.exit(f"hold.py: session {i} closed early")
                buf += c
print(f"held {len(socks)}", flush=True)
sys.stdin.read()
for s in socks:
    s.close()
