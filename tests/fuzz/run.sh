#!/bin/sh
# run.sh: runs each libFuzzer harness for SECS seconds and ends with one
# line per harness: runs, exec/s and coverage (cov: edges, ft: features).
# Usage: tests/fuzz/run.sh SECS DIR NAME...  (make fuzz calls it)
#   DIR/NAME is the built harness; tests/fuzz/corpus/NAME its seed corpus,
#   which is only read: new inputs go to DIR/corpus/NAME. Extra libFuzzer
#   flags may be given in tests/fuzz/NAME.options, a dictionary in
#   tests/fuzz/NAME.dict. A crash, a leak or a timeout fails the run; the
#   input that caused it is kept as DIR/NAME-crash-* (or leak-, timeout-).
set -u
secs=$1 dir=$2
shift 2
failed=0 summary=""

for name in "$@"; do
	bin=$dir/$name
	work=$dir/corpus/$name
	seeds=tests/fuzz/corpus/$name
	log=$dir/$name.log
	mkdir -p "$work"
	opts=""
	[ -f "tests/fuzz/$name.options" ] && opts=$(cat "tests/fuzz/$name.options")
	[ -f "tests/fuzz/$name.dict" ] && opts="$opts -dict=tests/fuzz/$name.dict"
	echo "== $name: $secs s"
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$dir/$name-" $opts \
	    "$work" "$seeds" >"$log" 2>&1
	rc=$?
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
	runs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}')
	execs=$(grep -E '^stat::average_exec_per_sec:' "$log" | awk '{print $2}')
	cov=$(printf '%s\n' "$done_line" | sed -nE 's/.* cov: ([0-9]+).*/\1/p')
	ft=$(printf '%s\n' "$done_line" | sed -nE 's/.* ft: ([0-9]+).*/\1/p')
	if [ "$rc" -ne 0 ] || [ -z "$done_line" ]; then
		failed=$((failed + 1))
		echo "$name: FAILED (exit $rc); the end of $log:"
		tail -n 40 "$log"
		line="$name: FAILED (exit $rc, see $log)"
	else
		line="$name: ${runs:-?} runs, ${execs:-?} exec/s, cov: ${cov:-?} ft: ${ft:-?}"
	fi
	echo "$line"
	summary="$summary$line
"
done
printf '== make fuzz\n%s' "$summary"
[ "$failed" -eq 0 ]
