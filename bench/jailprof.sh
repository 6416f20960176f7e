#!/usr/bin/env bash
# jailprof.sh: what a jailed connection costs in CPU, with N idle jails
# held, for one or more chald binaries, interleaved. Each run serves the
# configuration of bench/idle.sh (an idle service holding N sessions, and
# the echo service), drives the echo service with loadgen at C=8 under
# `perf record -a -g`, and counts only the samples of that chald's process
# tree (bench/perftree.py), so that the rest of a shared machine does not.
# Prints per run: conns, rate, and CPU ms per connection of the tree and of
# chald-init. Loopback only; bounded in time. Needs root and perf.
#   BINS="./chald /tmp/chald.old" NS="0 1000" ROUNDS=3 SECS=4 bash bench/jailprof.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BINS=${BINS:-./chald}
NS=${NS:-"0 1000"}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-4}
B=$PWD/bench/build
PY=/usr/bin/python3
[ -x $B/loadgen ] && [ -x $B/echo_chal ] || { echo "jailprof.sh: run make bench once to build bench/build"; exit 1; }
command -v perf >/dev/null || { echo "jailprof.sh: needs perf"; exit 1; }
cc -O2 -o $B/idle_sleeper tests/progs/sleeper.c
. bench/lib.sh
bench_scratch

run() {		# run BIN N
	local pi pe cpid hpid o c rate tree tot init
	pi=$(free_port); pe=$(free_port)
	cat > "$tmp/c.conf" <<CONF
[global]
listen = 127.0.0.1
per-ip = 0
max-conns = 0
timeout = 0
sandbox = on
pool = 4
[service idle]
port = $pi
command = $B/idle_sleeper
[service echo]
port = $pe
command = $B/echo_chal
CONF
	bench_hold "$1" "$pi" "$pe" "$2" jailprof.sh
	timeout 30 $B/loadgen -p "$pe" -c 8 -n 200 -t 5 >/dev/null	# warm-up
	o=$(perf record -q -a -g -F 4000 -o "$tmp/perf.data" -- timeout 60 \
	    $B/loadgen -p "$pe" -c 8 -n 100000 -t "$SECS" 2>/dev/null)
	exec 7>&-
	wait "$hpid" 2>/dev/null || true
	kill -TERM "$cpid"; wait "$cpid" 2>/dev/null || true
	$PY bench/perftree.py "$tmp/perf.data" "$cpid" > "$tmp/tree"
	c=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$o")
	rate=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$o")
	tot=$(sed -n '1s/total=\([0-9]*\).*/\1/p' "$tmp/tree")
	tree=$(sed -n '1s/.*tree=\([0-9]*\).*/\1/p' "$tmp/tree")
	init=$(awk '$2 == "chald-init" {sub("%", "", $1); print $1}' "$tmp/tree")
	# cpu-clock at 4 kHz: a sample is 0.25 ms of one CPU
	printf '%-24s %6s %6s %8s %16s %16s\n' "$(basename "$1")" "$2" "$c" "$rate" \
	    "$(awk -v t="$tree" -v c="$c" 'BEGIN {printf "%.2f", t / 4 / c}')" \
	    "$(awk -v p="${init:-0}" -v t="$tot" -v c="$c" 'BEGIN {printf "%.2f", p / 100 * t / 4 / c}')"
	rm -f "$tmp/hold.in" "$tmp/hold.out" "$tmp/log" "$tmp/perf.data"
}

printf '%-24s %6s %6s %8s %16s %16s\n' chald idle conns rate_c8 tree_ms_per_conn init_ms_per_conn
for r in $(seq "$ROUNDS"); do
	for n in $NS; do
		for b in $BINS; do
			run "$b" "$n"
		done
	done
done
