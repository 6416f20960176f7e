#!/usr/bin/env bash
# admin.sh: a paced player's greeting latency (bench/paced.py) behind chald
# unjailed, with the admin listener idle and with it flooded by
# bench/admin_flood.py (200 stalled connections, re-opened as they are
# closed, plus scrapes in a loop); rounds interleaved.
#   ROUNDS=3 bash bench/admin.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
B=bench/build
PY=/usr/bin/python3
[ -x ./chald ] && [ -x $B/echo_chal ] || { echo "admin.sh: run make bench once first"; exit 1; }
cpid= fpid=
trap '[ -n "$fpid" ] && kill "$fpid" 2>/dev/null; [ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null; true' EXIT
freeport() { $PY -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
printf '%-10s %s\n' variant "p50_ms / p90_ms per round"
for v in idle flood; do
	line="$v:"
	for _ in $(seq "$ROUNDS"); do
		port=$(freeport) aport=$(freeport)
		./chald -f -b 127.0.0.1 -p "$port" --per-ip 0 --sandbox off \
		    --admin "127.0.0.1:$aport" --log /dev/null \
		    -- "$PWD/$B/echo_chal" &
		cpid=$!
		sleep 0.8
		if [ "$v" = flood ]; then
			timeout 60 $PY bench/admin_flood.py "$aport" 12 >&2 &
			fpid=$!
			sleep 1
		fi
		r=$(timeout 60 $PY bench/paced.py "$port")
		line="$line $(sed 's/p50_ms=//; s/ p90_ms=/\//' <<<"$r")"
		if [ -n "$fpid" ]; then wait "$fpid" || true; fpid=; fi
		kill -TERM "$cpid"; wait "$cpid" 2>/dev/null || true; cpid=
	done
	echo "$line"
done
