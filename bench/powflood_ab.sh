#!/usr/bin/env bash
# powflood_ab.sh: bench/powflood.sh against two chald binaries, A and B,
# alternating (A B, then B A, ...) for R runs, so that the machine's drift
# hits both. One line per run: the median p99 ratio, the p99s, chald's CPU
# while flooded, the load average before it. Every step bounded in time.
#     A=old/chald B=build/chald [R=4 ROUNDS=3 SECS=3] bash bench/powflood_ab.sh
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${A:?A=path of the first chald}" "${B:?B=path of the second chald}"
R=${R:-4}
for r in $(seq "$R"); do
	if [ $((r % 2)) = 1 ]; then order="A B"; else order="B A"; fi
	for w in $order; do
		if [ "$w" = A ]; then bin=$A; else bin=$B; fi
		load=$(cut -d' ' -f1 /proc/loadavg)
		out=$(CHALD=$bin ROUNDS=${ROUNDS:-3} SECS=${SECS:-3} bash "$ROOT/bench/powflood.sh" 2>&1)
		ratio=$(sed -n 's/.*ratio flooded\/alone: \([0-9.]*\)x.*/\1/p' <<<"$out")
		p99=$(sed -n 's/.*p99 alone (median): \(.*\)/\1/p' <<<"$out")
		cpu=$(sed -n 's/.*chald CPU while flooded: \([0-9]*%\) of a core.*/\1/p' <<<"$out")
		echo "run=$r $w ratio=${ratio}x p99 alone: $p99 | chald CPU flooded: $cpu of a core | load $load"
	done
done
