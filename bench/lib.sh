# bench/lib.sh: what the benchmark's scripts share; sourced, never run.

# A free TCP port on 127.0.0.1 (loopback only, as every load here).
free_port() {
	/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# A scratch directory in $tmp, and the processes whose pids a script adds
# to pids[]: both gone when the script exits, however it exits.
bench_scratch() {
	tmp=$(mktemp -d)
	pids=()
	trap bench_cleanup EXIT
}

bench_cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}

# Starts chald ($1) on $tmp/c.conf, logging to $tmp/log, waits for its
# listener on port $3, then holds $4 idle sessions on port $2 with
# bench/hold.py (released when fd 7 is closed). Sets cpid and hpid; exits
# with a line naming $5 when the sessions cannot be held.
bench_hold() {
	ulimit -n 65536 2>/dev/null || true
	"$1" -f -c "$tmp/c.conf" --log "$tmp/log" &
	cpid=$!; pids+=("$cpid")
	for _ in $(seq 50); do grep -q "port=$3" "$tmp/log" 2>/dev/null && break; sleep 0.1; done
	mkfifo "$tmp/hold.in"
	/usr/bin/python3 bench/hold.py 127.0.0.1 "$2" "$4" < "$tmp/hold.in" > "$tmp/hold.out" &
	hpid=$!; pids+=("$hpid")
	exec 7> "$tmp/hold.in"
	for _ in $(seq 6000); do grep -q held "$tmp/hold.out" 2>/dev/null && break; kill -0 $hpid 2>/dev/null || break; sleep 0.1; done
	grep -q held "$tmp/hold.out" || { echo "$5: could not hold $4 sessions"; exit 1; }
}
