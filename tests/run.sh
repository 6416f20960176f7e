#!/bin/sh
# run.sh: runs the C unit tests and the pytest integration suite and ends with
# one line that adds them up: "N passed, N failed, N skipped".
# Called by "make check", which sets CHALD, PROGS, UNIT and PYTHON; extra
# arguments go to pytest (e.g. "make check TESTS='-k timeout'").
set -u
: "${PYTHON:=/usr/bin/python3}"
passed=0 failed=0 skipped=0

for t in $UNIT; do
	out=$("./$t" 2>&1); rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	p=$(printf '%s' "$line" | sed -nE 's/.* ([0-9]+) passed.*/\1/p')
	f=$(printf '%s' "$line" | sed -nE 's/.* ([0-9]+) failed.*/\1/p')
	if [ -z "$p" ]; then
		echo "$t: no summary line (exit $rc): counted as 1 failure"
		failed=$((failed + 1))
		continue
	fi
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
done

log=$(mktemp)
"$PYTHON" -m pytest -rs -p no:cacheprovider tests/integration "$@" 2>&1 | tee "$log"
summary=$(grep -E '^=+ .*(passed|failed|error|skipped|no tests ran).* =+$' "$log" | tail -n 1)
rm -f "$log"
for kind in passed failed skipped error errors; do
	n=$(printf '%s' "$summary" | grep -oE "[0-9]+ $kind\b" | grep -oE '^[0-9]+')
	[ -n "$n" ] || continue
	case $kind in
	passed) passed=$((passed + n)) ;;
	skipped) skipped=$((skipped + n)) ;;
	*) failed=$((failed + n)) ;;
	esac
done
if [ -z "$summary" ]; then
	echo "pytest printed no summary: counted as 1 failure"
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
