#!/usr/bin/env bash
# powflood.sh: what a flood of wrong proof-of-work solutions costs the
# other players. chald serves the echo challenge with "pow = DIFF" to
# everyone but 127.0.0.1, which is exempt; loadgen measures the exempt
# player's connect-to-echo latency at C=1, first alone, then while
# bench/powflood.py floods wrong solutions from C clients. Prints both
# p50/p99 and their ratio (the target: p99 within 2x). Loopback only;
# every step bounded in time. ROUNDS rounds of (alone, flooded), one
# after the other, so that the machine's drift hits both; the ratio
# printed is the median of the rounds' ratios.
# Also prints chald's CPU time during the flood, per wrong solution.
# Environment: DIFF [5000], C [64], SECS [4], ROUNDS [3],
# CHALD [<repo>/build/chald],
# FRESH [0]: 1 floods from a new 127/8 address every connection (a botnet:
# no source collects strikes), SOLVER [0]: 1 measures instead a player
# who solves (bench/powsolver.py, from 127.0.0.250, not exempt): the time
# from its solution to "Correct", alone and flooded.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIFF=${DIFF:-5000}
C=${C:-64}
SECS=${SECS:-4}
ROUNDS=${ROUNDS:-3}
CHALD=${CHALD:-$ROOT/build/chald}
B=$ROOT/bench/build
make -s -C "$ROOT" build/chald
mkdir -p "$B"
cc -O2 -o "$B/loadgen" "$ROOT/bench/loadgen.c"
cc -O2 -o "$B/echo_chal" "$ROOT/bench/echo_chal.c"
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$CHALD" -f -b 127.0.0.1 -p 0 --sandbox off --per-ip 0 --max-conns 0 \
    --pending-per-ip 0 --pending-max 0 --pow "$DIFF" --pow-exempt 127.0.0.1 \
    --log "$work/log" -- "$B/echo_chal" 2>"$work/err" &
pid=$!
port=""
for _ in $(seq 50); do
	port=$(sed -nE 's/.*listening .*port=([0-9]+).*/\1/p' "$work/log" 2>/dev/null | head -n1)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "powflood.sh: chald did not start"; cat "$work/err"; exit 1; }
measure() { "$B/loadgen" -p "$port" -c 1 -n 100000 -t "$SECS" -T 5; }
if [ "${SOLVER:-0}" = 1 ]; then
	measure() { /usr/bin/python3 "$ROOT/bench/powsolver.py" "$port" "$SECS"; }
	ROUNDS=1
fi
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
fresh=""
[ "${FRESH:-0}" = 1 ] && fresh=fresh
fsecs=$((SECS + 2))
# a solver's last solve ends after SECS: the flood outlasts it
[ "${SOLVER:-0}" = 1 ] && fsecs=$((4 * SECS + 30))
hz=$(getconf CLK_TCK)
ratios="" q99s="" f99s="" rounds="" cpus=0 answered=0
for r in $(seq "$ROUNDS"); do
	quiet=$(measure)
	/usr/bin/python3 "$ROOT/bench/powflood.py" "$port" "$C" $fsecs $fresh >"$work/flood" &
	fpid=$!
	sleep 1
	c0=$(cpu); r0=$(grep -c 'reason=pow-failed' "$work/log" || true)
	flood=$(measure)
	c1=$(cpu); r1=$(grep -c 'reason=pow-failed' "$work/log" || true)
	[ "${SOLVER:-0}" = 1 ] && kill $fpid 2>/dev/null
	wait $fpid || true
	cpus=$((cpus + c1 - c0)); answered=$((answered + r1 - r0))
	if [ "${SOLVER:-0}" = 1 ]; then
		echo "pow flood: difficulty $DIFF, $C flooding clients${fresh:+ from fresh sources} ($((r1 - r0)) wrong solutions answered while the solver ran)"
		echo "  a solver's check, alone:   $quiet"
		echo "  a solver's check, flooded: $flood"
		exit 0
	fi
	q99=$(field "$quiet" p99_ms); f99=$(field "$flood" p99_ms)
	ratio=$(awk -v a="$q99" -v b="$f99" 'BEGIN { printf "%.2f", b / a }')
	ratios="$ratios $ratio" q99s="$q99s $q99" f99s="$f99s $f99"
	rounds="$rounds
  round $r: alone conn/s=$(field "$quiet" rate) p50_ms=$(field "$quiet" p50_ms) p99_ms=$q99; flooded conn/s=$(field "$flood" rate) p50_ms=$(field "$flood" p50_ms) p99_ms=$f99 ($(cat "$work/flood")): ${ratio}x"
done
echo "pow flood: difficulty $DIFF, $C flooding clients${fresh:+ from fresh sources}, $ROUNDS rounds of $SECS s alone and $SECS s flooded$rounds"
echo "  p99 alone (median): $(median <<<"$q99s") ms, flooded: $(median <<<"$f99s") ms"
echo "  p99 ratio flooded/alone: $(median <<<"$ratios")x, the median of the rounds' (target: at most 2x)"
echo "  rejects logged: $(grep -c 'reason=pow-failed' "$work/log" || true)"
echo "  chald CPU while flooded: $(awk -v c=$cpus -v n=$answered -v hz="$hz" -v s=$((SECS * ROUNDS)) \
    'BEGIN { printf "%.0f%% of a core, %.2f ms per wrong solution answered (%d), the exempt sessions spawned included", 100 * c / hz / s, n ? 1000 * c / hz / n : 0, n }')"
