#!/usr/bin/env bash
# layers.sh: what each layer of the jail costs per session. The same echo
# challenge behind chald with the jail off, fully on, and on with one layer
# taken away at a time; rounds interleaved, the median of each figure shown.
# Loopback only; every step is capped in time.
#   ROUNDS=3 SECS=4 bash bench/layers.sh
# VARIANTS="plain jail-all" runs only those; BASE=/path/to/an/older/chald adds
# "base-jail-all", the full jail of that binary, interleaved with the rest
# (an A/B of a change). cpu_ms_c8 is the host's busy CPU time (/proc/stat,
# every process and kernel worker) per session served at C=8: it moves less
# with the load of others than the rate.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-4}
B=bench/build
PY=/usr/bin/python3
[ -x ./chald ] || { echo "layers.sh: build chald first (make)"; exit 1; }
[ -x $B/loadgen ] && [ -x $B/echo_chal ] || { echo "layers.sh: run make bench once to build bench/build"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "layers.sh: the jail needs root"; exit 1; }

variants=(
	"plain|--sandbox off"
	"jail-all|"
	"jail-no-pool|--pool 0"
	"jail-no-netns|--network host"
	"jail-no-seccomp|--seccomp off"
	"jail-no-limits|--memory 0 --pids 0 --cpu 0"
	"jail-only-netns-off+pool0|--network host --pool 0"
)
if [ -n "${BASE:-}" ]; then
	[ -x "$BASE" ] || { echo "layers.sh: BASE=$BASE is not an executable"; exit 1; }
	variants+=("base-jail-all|")
fi
if [ -n "${VARIANTS:-}" ]; then
	keep=()
	for v in "${variants[@]}"; do
		case " $VARIANTS " in *" ${v%%|*} "*) keep+=("$v") ;; esac
	done
	variants=("${keep[@]}")
fi
tmp=$(mktemp -d)

cpid=
cleanup() { [ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
. bench/lib.sh
field() { sed -n "s/.*[ ^]$1=\([0-9.]*\).*/\1/p" <<<" $2"; }
busy_ms() { awk '/^cpu / {printf "%d\n", ($2+$3+$4+$7+$8) * 1000 / '"$(getconf CLK_TCK)"'}' /proc/stat; }

for r in $(seq "$ROUNDS"); do
	for v in "${variants[@]}"; do
		name=${v%%|*}; opts=${v#*|}
		port=$(free_port)
		bin=./chald
		case $name in base-*) bin=$BASE ;; esac
		# shellcheck disable=SC2086
		"$bin" -f -b 127.0.0.1 -p "$port" --per-ip 0 --max-conns 0 \
		    --timeout 30s --log /dev/null $opts -- "$PWD/$B/echo_chal" &
		cpid=$!
		"$B/benchutil" waitport "$port" 5000 "$cpid" >/dev/null 2>&1 || true
		sleep 0.5	# let the pool fill
		c1=$(timeout $((SECS + 10)) $B/loadgen -p "$port" -c 1 -n 100000 -t "$SECS")
		sleep 0.5
		b0=$(busy_ms)
		c8=$(timeout $((SECS + 10)) $B/loadgen -p "$port" -c 8 -n 100000 -t "$SECS")
		b1=$(busy_ms)
		kill -TERM "$cpid"; wait "$cpid" 2>/dev/null || true; cpid=
		cpu=$(awk -v a="$b0" -v b="$b1" -v n="$(field ok "$c8")" 'BEGIN {printf "%.3f", (n > 0 ? (b - a) / n : 0)}')
		echo "$name $(field rate "$c1") $(field p50_ms "$c1") $(field rate "$c8") $(field p99_ms "$c8") $cpu" >> "$tmp/raw"
	done
done
printf '%-26s %10s %10s %10s %10s %10s %8s\n' variant rate_c1 p50_c1_ms rate_c8 p99_c8_ms cpu_ms_c8 vs_first
plain_rate=
for v in "${variants[@]}"; do
	name=${v%%|*}
	med() { grep "^$name " "$tmp/raw" | awk -v k="$1" '{print $k}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
	r1=$(med 2); p1=$(med 3); r8=$(med 4); p8=$(med 5); cp8=$(med 6)
	[ -z "$plain_rate" ] && plain_rate=$r8
	printf '%-26s %10s %10s %10s %10s %10s %7.2fx\n' "$name" "$r1" "$p1" "$r8" "$p8" "$cp8" "$(awk -v a="$r8" -v b="$plain_rate" 'BEGIN {print a / b}')"
done
