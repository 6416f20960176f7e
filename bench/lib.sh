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
