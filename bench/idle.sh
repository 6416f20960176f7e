#!/usr/bin/env bash
# idle.sh: the parent's cost per connection as live sessions pile up. One
# chald serves an idle service (sessions that never end) and the benchmark's
# echo service; with 0, 1,000 and 10,000 idle sessions held open it measures
# the echo service's latency at C=1 and rate at C=8, and the parent's RSS and
# fds, in ROUNDS rounds; then each n's median rate and its ratio to the
# first n's. Loopback only; bounded in time.
#   MODE=plain|sandbox  NS="0 1000 10000"  ROUNDS=3  CHALD=./chald  bash bench/idle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${MODE:-plain}
CHALD=${CHALD:-./chald}
NS=${NS:-"0 1000 10000"}
ROUNDS=${ROUNDS:-3}
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || { echo "idle.sh: ROUNDS must be 1-99, got '$ROUNDS'"; exit 1; }
for n in $NS; do
	[[ $n =~ ^[0-9]{1,5}$ ]] || { echo "idle.sh: NS entries must be 0-99999, got '$n'"; exit 1; }
done
[[ $MODE == plain || $MODE == sandbox ]] || { echo "idle.sh: MODE must be plain or sandbox, got '$MODE'"; exit 1; }
B=bench/build
PY=/usr/bin/python3
[ -x "$CHALD" ] || { echo "idle.sh: build chald first (make), or name one in CHALD"; exit 1; }
[ -x $B/loadgen ] && [ -x $B/echo_chal ] || { echo "idle.sh: run make bench once to build bench/build"; exit 1; }
cc -O2 -o $B/idle_sleeper tests/progs/sleeper.c

. bench/lib.sh
bench_scratch

sandbox=off
[ "$MODE" = sandbox ] && sandbox=on
# Until the CPUs are quiet (under a tenth busy over half a second, for at
# most 30 s): the kernel tears down the last step's namespaces and cgroups
# in its workers after chald has exited, and a step that began meanwhile
# would be slowed by it, the steps with no idle jails after those with
# 1,000 most.
settle() {
	local i a b
	for ((i = 0; i < 60; i++)); do
		a=$(head -1 /proc/stat); sleep 0.5; b=$(head -1 /proc/stat)
		awk -v a="$a" -v b="$b" -v ncpu="$(nproc)" 'BEGIN {
			split(a, x); split(b, y)
			busy = (y[2] + y[3] + y[4] + y[7] + y[8]) - (x[2] + x[3] + x[4] + x[7] + x[8])
			total = busy + (y[5] + y[6]) - (x[5] + x[6])
			exit !(total > 0 && busy / total < 0.1)
		}' && return 0
	done
	echo "idle.sh: the CPUs did not quieten within 30 s; measuring anyway" >&2
}

# One step: chald serving both services, n idle sessions held, a warm-up
# (the pools fill, the namespaces circulate), then the latency at C=1 and
# the rate at C=8. Prints a row and appends "n rate" to $tmp/rates.
step() {
	local n=$1 pi pe lat rate rss fds p50 p99 r
	settle
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
	bench_hold "$CHALD" "$pi" "$pe" "$n" idle.sh
	timeout 60 $B/loadgen -p "$pe" -c 8 -n 500 -t 20 >/dev/null
	lat=$(timeout 60 $B/loadgen -p "$pe" -c 1 -n 300 -t 20)
	rate=$(timeout 60 $B/loadgen -p "$pe" -c 8 -n 2000 -t 20)
	rss=$(awk '/VmRSS/ {print $2}' /proc/$cpid/status)
	fds=$(ls /proc/$cpid/fd | wc -l)
	p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<<"$lat")
	p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$lat")
	r=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$rate")
	printf '%-8s %5s %8s %8s %8s %10s %8s %6s\n' "$MODE" "$round" "$n" "$p50" "$p99" "$r" "$rss" "$fds"
	echo "$n $r" >> "$tmp/rates"
	exec 7>&-
	wait "$hpid" 2>/dev/null || true
	kill -TERM "$cpid"; wait "$cpid" 2>/dev/null || true
	rm -f "$tmp/hold.in" "$tmp/hold.out" "$tmp/log"
}

printf '%-8s %5s %8s %8s %8s %10s %8s %6s\n' mode round idle p50_ms p99_ms rate_c8 rss_kb fds
# The steps of a round in turn, so that a drift of the machine's speed
# falls on every n alike; the summary takes each n's median over rounds.
for round in $(seq "$ROUNDS"); do
	for n in $NS; do
		step "$n"
	done
done
awk -v order="$NS" -v mode="$MODE" '
	{ v[$1] = v[$1] " " $2 }
	function median(s,    a, n, i, j, t) {
		n = split(s, a, " ")
		if (n == 0)
			return 0
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		k = split(order, ns, " ")
		first = ns[1]
		base = median(v[first])
		for (i = 1; i <= k; i++) {
			rel = ""
			if (i > 1)
				rel = base > 0 ? sprintf(", %.2fx of %s idle", median(v[ns[i]]) / base, first) : ", n/a (no rate with " first " idle)"
			printf "median rate_c8 with %s idle: %.1f conn/s (%s)%s\n", ns[i],
			    median(v[ns[i]]), substr(v[ns[i]], 2), rel
		}
		for (i = 2; i <= k; i++)
			if (mode == "sandbox" && first == 0 && ns[i] == 1000 && base > 0) {
				r = median(v[1000]) / base
				verdict = "NOT met"
				if (r >= 0.7)
					verdict = "floor met, target NOT met"
				if (r >= 0.8)
					verdict = "met"
				printf "target (issue 9): 1,000 idle jails >= 0.8x of none (floor 0.7x): %.2fx: %s\n", r, verdict
			}
	}' "$tmp/rates"
