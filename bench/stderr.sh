#!/usr/bin/env bash
# stderr.sh: what a stderr flood costs the daemon. Serves
# tests/progs/stderrflood -k (one-byte lines on fd 2 for 20 s, writing on
# whatever the writes return) with "stderr = log", jailed, to K sessions at
# once, and reads the daemon's own CPU time (utime+stime of its pid in
# /proc) over WINDOW seconds while they flood. Prints the share of one
# core, and the bytes the log took. Loopback only; bounded in time.
# Environment: K [4], WINDOW [10], CHALD [<repo>/build/chald].
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
K=${K:-4}
WINDOW=${WINDOW:-10}
CHALD=${CHALD:-$ROOT/build/chald}
make -s -C "$ROOT" build/chald build/progs/stderrflood
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$CHALD" -f -b 127.0.0.1 -p 0 --stderr log --timeout 30s --per-ip 0 \
    --pool 0 --log "$work/log" -- "$ROOT/build/progs/stderrflood" -k \
    2>"$work/err" &
pid=$!
for _ in $(seq 50); do
	port=$(sed -nE 's/.*listening .*port=([0-9]+).*/\1/p' "$work/log" 2>/dev/null | head -n1)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "stderr.sh: chald did not start"; cat "$work/err"; exit 1; }
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
for i in $(seq "$K"); do
	timeout $((WINDOW + 15)) /usr/bin/python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(40)
while s.recv(65536): pass
' "$port" &
done
sleep 1
t0=$(ticks); s0=$(date +%s.%N)
sleep "$WINDOW"
t1=$(ticks); s1=$(date +%s.%N)
pct=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s0="$s0" -v s1="$s1" \
    'BEGIN { printf "%.2f", 100 * (b - a) / hz / (s1 - s0) }')
bytes=$(grep -c ' stderr service=' "$work/log" || true)
size=$(grep ' stderr service=' "$work/log" | wc -c)
capped=$(grep -c 'stderr-capped' "$work/log" || true)
echo "stderr flood: K=$K sessions of stderrflood -k for ${WINDOW}s: daemon CPU ${pct}% of one core;" \
    "log: $bytes stderr events, $size bytes, $capped sessions capped"
