#!/usr/bin/env bash
# ab.sh: two chald builds A/B, interleaved, on the jailed echo challenge at
# C=8: the rate, and the CPU time per session of the whole tree (daemon,
# inits, challenges: perf stat task-clock, inherited) and of the daemon
# alone. CPU time per session moves much less than the rate when others
# load the machine; kernel workers' time (netns and cgroup teardown) is in
# neither. Loopback only; every step is capped in time.
#   BINS="base=/tmp/chald-old new=./chald" ROUNDS=3 N=800 OPTS= bash bench/ab.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-800}
OPTS=${OPTS:-}
BINS=${BINS:?BINS="name=path name=path"}
B=bench/build
[ -x $B/loadgen ] && [ -x $B/echo_chal ] && [ -x $B/benchutil ] ||
	{ echo "ab.sh: run make bench once to build bench/build"; exit 1; }
command -v perf >/dev/null || { echo "ab.sh: needs perf"; exit 1; }
. bench/lib.sh
bench_scratch
msec() { awk -F, '/task-clock/ {print $1}' "$1"; }

for r in $(seq "$ROUNDS"); do
	for v in $BINS; do
		name=${v%%=*}; bin=${v#*=}; port=$(free_port)
		# shellcheck disable=SC2086
		perf stat -x, -o "$tmp/tree" -e task-clock -- "$bin" -f \
		    -b 127.0.0.1 -p "$port" --per-ip 0 --max-conns 0 \
		    --timeout 30s --log /dev/null $OPTS -- "$PWD/$B/echo_chal" &
		ppid=$!
		$B/benchutil waitport "$port" 5000 >/dev/null 2>&1
		sleep 0.5
		cpid=$(pgrep -P "$ppid" | head -n 1)
		perf stat --no-inherit -x, -o "$tmp/daemon" -e task-clock \
		    -p "$cpid" &
		spid=$!
		out=$(timeout 120 $B/loadgen -p "$port" -c 8 -n "$N" -t 60)
		kill -INT "$spid"; wait "$spid"
		kill -TERM "$cpid"; wait "$ppid"
		n=$(sed -n 's/.*conns=\([0-9]*\).*/\1/p' <<<"$out")
		rate=$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$out")
		line=$(awk -v n="$n" -v t="$(msec "$tmp/tree")" \
		    -v d="$(msec "$tmp/daemon")" -v r="$rate" \
		    'BEGIN { printf "%s %.0f %.0f", r, t / n * 1000, d / n * 1000 }')
		echo "$name $line" >>"$tmp/raw"
		echo "round $r: $name $line" >&2
	done
done
printf '%-10s %10s %16s %18s\n' variant rate_c8 tree_us/session daemon_us/session
for v in $BINS; do
	name=${v%%=*}
	med() { grep "^$name " "$tmp/raw" | awk -v k="$1" '{print $k}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
	printf '%-10s %10s %16s %18s\n' "$name" "$(med 2)" "$(med 3)" "$(med 4)"
done
