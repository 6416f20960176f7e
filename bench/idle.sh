#!/usr/bin/env bash
# idle.sh: the parent's cost per connection as live sessions pile up. One
# chald serves an idle service (sessions that never end) and the benchmark's
# echo service; with 0, 1,000 and 10,000 idle sessions held open it measures
# the echo service's latency at C=1 and rate at C=8, and the parent's RSS and
# fds. Loopback only; bounded in time.
#   MODE=plain|sandbox  NS="0 1000 10000"  bash bench/idle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${MODE:-plain}
NS=${NS:-"0 1000 10000"}
B=bench/build
PY=/usr/bin/python3
[ -x ./chald ] || { echo "idle.sh: build chald first (make)"; exit 1; }
[ -x $B/loadgen ] && [ -x $B/echo_chal ] || { echo "idle.sh: run make bench once to build bench/build"; exit 1; }
cc -O2 -o $B/idle_sleeper tests/progs/sleeper.c

. bench/lib.sh
bench_scratch

sandbox=off
[ "$MODE" = sandbox ] && sandbox=on
printf '%-8s %8s %8s %8s %10s %8s %6s\n' mode idle p50_ms p99_ms rate_c8 rss_kb fds
for n in $NS; do
	pi=$(free_port); pe=$(free_port)
	cat > "$tmp/c.conf" <<CONF
[global]
listen = 127.0.0.1
per-ip = 0
max-conns = 0
timeout = 0
sandbox = $sandbox
pool = 4
[service idle]
port = $pi
command = $PWD/$B/idle_sleeper
[service echo]
port = $pe
command = $PWD/$B/echo_chal
CONF
	bench_hold ./chald "$pi" "$pe" "$n" idle.sh
	lat=$(timeout 60 $B/loadgen -p "$pe" -c 1 -n 300 -t 20)
	rate=$(timeout 60 $B/loadgen -p "$pe" -c 8 -n 2000 -t 20)
	rss=$(awk '/VmRSS/ {print $2}' /proc/$cpid/status)
	fds=$(ls /proc/$cpid/fd | wc -l)
	p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<<"$lat")
	p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$lat")
	r=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$rate")
	printf '%-8s %8s %8s %8s %10s %8s %6s\n' "$MODE" "$n" "$p50" "$p99" "$r" "$rss" "$fds"
	exec 7>&-
	wait "$hpid" 2>/dev/null || true
	kill -TERM "$cpid"; wait "$cpid" 2>/dev/null || true
	rm -f "$tmp/hold.in" "$tmp/hold.out" "$tmp/log"
done
