#!/usr/bin/env bash
# paced.sh: greeting latency of a paced player (bench/paced.py) behind chald
# unjailed, jailed with the pool, and jailed without it; rounds interleaved.
#   ROUNDS=3 bash bench/paced.sh        (root: the jail needs it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
B=bench/build
PY=/usr/bin/python3
[ -x ./chald ] && [ -x $B/echo_chal ] || { echo "paced.sh: run make bench once first"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "paced.sh: the jail needs root"; exit 1; }
cpid=
trap '[ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null; true' EXIT
printf '%-20s %s\n' variant "p50_ms / p90_ms per round"
for v in "plain|--sandbox off" "jail-pool2|--pool 2" "jail-pool0|--pool 0"; do
	line="${v%%|*}:"
	for _ in $(seq "$ROUNDS"); do
		port=$($PY -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
		# shellcheck disable=SC2086
		./chald -f -b 127.0.0.1 -p "$port" --per-ip 0 --log /dev/null ${v#*|} \
		    -- "$PWD/$B/echo_chal" &
		cpid=$!
		sleep 0.8
		r=$(timeout 60 $PY bench/paced.py "$port")
		line="$line $(sed 's/p50_ms=//; s/ p90_ms=/\//' <<<"$r")"
		kill -TERM "$cpid"; wait "$cpid" 2>/dev/null || true; cpid=
	done
	echo "$line"
done
