#!/usr/bin/env bash
# run.sh: the chald benchmark. Builds the load generator, the echo challenge
# and the baseline servers under bench/build/, then measures connection
# rate, latency, errors, zombies, leftover processes, RSS and fds of each
# server (baselines, peers, chald) at several concurrencies, in interleaved
# rounds, and prints a table of medians with min-max spreads plus chald's
# ratio to every other server. Loopback only; everything it starts is killed
# at the end of each step and again on exit.
#
# Environment overrides (defaults in brackets):
#   ROUNDS [3]   rounds per concurrency level
#   N [2000]     max connections per step
#   SECS [4]     max seconds per step (a step stops at N or SECS)
#   CS ["1 8 64"]  concurrency levels
#   SERVERS ["inline fork vfork posix_spawn socat xinetd tcpserver
#            socat-bwrap chald-plain chald-proxy chald-sandbox"]
#   socat-bwrap is the jailed peer organizers use: socat forking
#   bubblewrap with every namespace unshared, per connection.
#   CHALD [<repo>/chald]  the chald binary (copied once per run)
#   CHALD_PLAIN_EXTRA [auto]  extra options for chald-plain; auto means
#                "--sandbox off" when chald --help lists --sandbox
#   CONN_TIMEOUT [5]  per-connection timeout in seconds
#   WARMUP [600]  unrecorded connections before each step, at the step's
#                concurrency: enough for chald's pools to reach what a
#                long-running daemon has
#   WARMUP_SECS [2]  the warm-up's cap, in seconds
#   CC [cc]      C compiler
set -u
set -o pipefail

SELF_DIR=.
[[ ${BASH_SOURCE[0]} == */* ]] && SELF_DIR=${BASH_SOURCE[0]%/*}
ROOT=$(cd "$SELF_DIR/.." && pwd) || exit 2
BENCH=$ROOT/bench
BUILD=$BENCH/build

ROUNDS=${ROUNDS:-3}
N=${N:-2000}
SECS=${SECS:-4}
CS=${CS:-"1 8 64"}
ALL_SERVERS="inline fork vfork posix_spawn socat xinetd tcpserver socat-bwrap chald-plain chald-proxy chald-sandbox"
SERVERS=${SERVERS:-$ALL_SERVERS}
CHALD=${CHALD:-$ROOT/chald}
CONN_TIMEOUT=${CONN_TIMEOUT:-5}
WARMUP=${WARMUP:-600}
WARMUP_SECS=${WARMUP_SECS:-2}
CC=${CC:-cc}

die() { echo "run.sh: $*" >&2; exit 2; }

is_int() { [[ $1 =~ ^[0-9]{1,9}$ ]] && ((10#$1 >= $2 && 10#$1 <= $3)); }
is_int "$ROUNDS" 1 50 || die "ROUNDS must be 1-50, got '$ROUNDS'"
is_int "$N" 1 1000000 || die "N must be 1-1000000, got '$N'"
is_int "$SECS" 1 600 || die "SECS must be 1-600 (whole seconds), got '$SECS'"
is_int "$CONN_TIMEOUT" 1 600 || die "CONN_TIMEOUT must be 1-600, got '$CONN_TIMEOUT'"
is_int "$WARMUP" 0 10000 || die "WARMUP must be 0-10000, got '$WARMUP'"
is_int "$WARMUP_SECS" 1 60 || die "WARMUP_SECS must be 1-60 (whole seconds), got '$WARMUP_SECS'"
[[ -n ${CS// /} ]] || die "CS is empty"
for c in $CS; do is_int "$c" 1 4096 || die "CS entries must be 1-4096, got '$c'"; done
[[ -n ${SERVERS// /} ]] || die "SERVERS is empty"
for s in $SERVERS; do
	[[ " $ALL_SERVERS " == *" $s "* ]] || die "unknown server '$s' (known: $ALL_SERVERS)"
done
read -r -a SRV <<<"$SERVERS"
for t in setsid timeout awk sed grep tee cut cp date mktemp nproc sha256sum sleep tail "$CC"; do
	command -v "$t" >/dev/null 2>&1 || die "needs '$t', which is not in PATH"
done
read -r -a CLIST <<<"$CS"

# ---------------------------------------------------------------- build
mkdir -p "$BUILD" || die "cannot create $BUILD"
echo "== building in $BUILD with $CC -O2"
for prog in loadgen echo_chal benchutil base_fork base_vfork base_spawn base_inline; do
	if [[ ! -x $BUILD/$prog || $BENCH/$prog.c -nt $BUILD/$prog ]]; then
		"$CC" -O2 -Wall -Wextra -o "$BUILD/$prog" "$BENCH/$prog.c" ||
			die "build of $prog failed"
	fi
done
LOADGEN=$BUILD/loadgen
UTIL=$BUILD/benchutil
CHAL=$BUILD/echo_chal

STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$BUILD/results/$STAMP
mkdir -p "$OUT" || die "cannot create $OUT"
TMPD=$(mktemp -d /tmp/chald-bench.XXXXXX) || die "mktemp failed"
RAW=$OUT/raw.tsv
LGLOG=$OUT/loadgen.log
: >"$RAW"
: >"$LGLOG"

# ---------------------------------------------------------------- servers
declare -A SKIP=()      # server -> reason it is skipped
declare -a LIVE=()      # PIDs of servers currently running
SPID=""
REASON=""

note_skip() {
	SKIP[$1]=$2
	echo "$1: skipped: $2"
}

# Peers and chald that cannot run at all are skipped up front, with a reason.
for s in "${SRV[@]}"; do
	case $s in
	socat | xinetd | tcpserver)
		command -v "$s" >/dev/null 2>&1 || note_skip "$s" "$s not installed (not in PATH)"
		;;
	socat-bwrap)
		command -v socat >/dev/null 2>&1 || note_skip "$s" "socat not installed (not in PATH)"
		command -v bwrap >/dev/null 2>&1 || note_skip "$s" "bwrap not installed (bubblewrap)"
		;;
	chald-plain | chald-proxy | chald-sandbox)
		if [[ ! -e $CHALD ]]; then
			note_skip "$s" "$CHALD not found (chald not built yet)"
		elif [[ ! -x $CHALD ]]; then
			note_skip "$s" "$CHALD is not executable"
		fi
		;;
	esac
done

# The whole run uses one copy of chald, so a rebuild during the run cannot
# mix two versions in one table.
CHALD_RUN=$BUILD/chald-under-test
CHALD_DESC="not used"
if [[ " ${SRV[*]} " == *" chald-"* && -x $CHALD ]]; then
	cp "$CHALD" "$CHALD_RUN" || die "cannot copy $CHALD"
	CHALD_DESC="$CHALD ($(date -r "$CHALD" '+%F %T'), sha256 $(sha256sum <"$CHALD_RUN" | cut -c1-12))"
	# chald-plain means no sandbox: say "--sandbox off" when chald knows
	# the option (it may default to on); CHALD_PLAIN_EXTRA overrides.
	# The help is read whole first: with pipefail, `--help | grep -q`
	# fails whenever grep quits before chald has written the rest (it
	# then dies of SIGPIPE), and chald-plain silently ran jailed.
	if [[ ${CHALD_PLAIN_EXTRA-auto} == auto ]]; then
		CHALD_PLAIN_EXTRA=""
		help=$(timeout 5 "$CHALD_RUN" --help 2>&1 || true)
		if grep -q -- '--sandbox' <<<"$help"; then
			CHALD_PLAIN_EXTRA="--sandbox off"
		fi
	fi
fi
read -r -a PLAIN_EXTRA <<<"${CHALD_PLAIN_EXTRA:-}"

write_xinetd_conf() { # port conf-path
	cat >"$2" <<EOF
# generated by bench/run.sh: one UNLISTED service, no includedir
defaults
{
	instances = UNLIMITED
	per_source = UNLIMITED
	cps = 100000 1
}

service chald-bench-echo
{
	type = UNLISTED
	port = $1
	bind = 127.0.0.1
	socket_type = stream
	protocol = tcp
	wait = no
	user = root
	server = $CHAL
	instances = UNLIMITED
	per_source = UNLIMITED
	cps = 100000 1
	log_type = FILE $TMPD/xinetd.log
}
EOF
}

# Kill a server's process group and every descendant seen before the kill,
# with bounded waits, then reap it. Says so when SIGTERM was not enough.
# (stderr is silenced around kill..wait, or bash reports "Killed" itself.)
stop_server() { # pid [name]
	local pid=$1 name=${2:-server} i killed=0
	local -a snap
	mapfile -t snap < <("$UTIL" desc "$pid" 2>/dev/null)
	{
		kill -TERM -- "-$pid" || kill -TERM "$pid"
		for ((i = 0; i < 40; i++)); do # up to 2 s
			[[ $("$UTIL" alive "$pid" "${snap[@]}") == 0 ]] && break
			sleep 0.05
		done
		if [[ $("$UTIL" alive "$pid" "${snap[@]}") != 0 ]]; then
			killed=1
			kill -KILL -- "-$pid"
			kill -KILL "$pid" "${snap[@]}"
			for ((i = 0; i < 20; i++)); do # up to 1 s more
				[[ $("$UTIL" alive "$pid" "${snap[@]}") == 0 ]] && break
				sleep 0.05
			done
		fi
		wait "$pid"
	} 2>/dev/null
	if ((killed)); then
		echo "$name: still running 2 s after SIGTERM; sent SIGKILL"
	fi
	local -a keep=()
	for i in "${LIVE[@]}"; do [[ $i != "$pid" ]] && keep+=("$i"); done
	LIVE=("${keep[@]}")
}

# Start a server on a port; sets SPID, or REASON and returns 1.
start_server() { # name port
	local name=$1 port=$2 log=$OUT/$1.stderr
	local -a cmd
	case $name in
	inline) cmd=("$BUILD/base_inline" "$port" "$CHAL") ;;
	fork) cmd=("$BUILD/base_fork" "$port" "$CHAL") ;;
	vfork) cmd=("$BUILD/base_vfork" "$port" "$CHAL") ;;
	posix_spawn) cmd=("$BUILD/base_spawn" "$port" "$CHAL") ;;
	socat) cmd=(socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr,backlog=4096" "EXEC:$CHAL") ;;
	socat-bwrap)
		# A read-only view of the host, private /dev, /proc and /tmp, every
		# namespace (user, pid, net, ipc, uts, cgroup) unshared; no cgroup
		# limits and no seccomp filter, which chald's jail adds.
		cmd=(socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr,backlog=4096"
			"EXEC:bwrap --unshare-all --die-with-parent --new-session --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp $CHAL")
		;;
	xinetd)
		write_xinetd_conf "$port" "$TMPD/xinetd.conf"
		cmd=(xinetd -dontfork -f "$TMPD/xinetd.conf" -pidfile "$TMPD/xinetd.pid")
		;;
	tcpserver) cmd=(tcpserver -R -H -l0 -c 100000 -b 4096 127.0.0.1 "$port" "$CHAL") ;;
	chald-plain)
		cmd=("$CHALD_RUN" -f -b 127.0.0.1 -p "$port" --per-ip 0 --max-conns 0 --rate 0
			--timeout 30s --log /dev/null "${PLAIN_EXTRA[@]}" -- "$CHAL")
		;;
	chald-proxy)
		cmd=("$CHALD_RUN" -f -b 127.0.0.1 -p "$port" --per-ip 0 --max-conns 0 --rate 0
			--timeout 30s --log /dev/null --proxy-from 127.0.0.1
			"${PLAIN_EXTRA[@]}" -- "$CHAL")
		;;
	chald-sandbox)
		cmd=("$CHALD_RUN" -f -b 127.0.0.1 -p "$port" --per-ip 0 --max-conns 0 --rate 0
			--timeout 30s --log /dev/null --sandbox on -- "$CHAL")
		;;
	esac
	echo "## $(date +%T) ${cmd[*]}" >>"$log"
	# Not a job-control shell, so the child is no group leader and setsid
	# execs in place: $! is the server and leads its own process group.
	setsid "${cmd[@]}" </dev/null >>"$log" 2>&1 &
	SPID=$!
	LIVE+=("$SPID")
	"$UTIL" waitport "$port" 5000 "$SPID"
	local rc=$?
	[[ $rc == 0 ]] && return 0
	if [[ $rc == 3 ]]; then
		wait "$SPID" 2>/dev/null
		local st=$?
		local last
		last=$(grep -v "^## " "$log" | grep -m 1 .)
		REASON="exited with status $st on start${last:+: $last}"
	else
		REASON="did not accept connections on port $port within 5 s"
	fi
	stop_server "$SPID" "$name"
	SPID=""
	return 1
}

cleanup() {
	local pid
	for pid in "${LIVE[@]}"; do stop_server "$pid"; done
	rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM HUP

# ---------------------------------------------------------------- steps
field() { # line key -> value
	local kv
	for kv in $1; do
		[[ ${kv%%=*} == "$2" ]] && { echo "${kv#*=}"; return; }
	done
	echo 0
}

# Live descendants of the server once they stop changing (at most ~1 s).
idle_procs() { # pid
	local prev="" cur i
	for ((i = 0; i < 10; i++)); do
		cur=$(field "$("$UTIL" procs "$1")" live)
		[[ $cur == "$prev" ]] && break
		prev=$cur
		sleep 0.1
	done
	echo "$cur"
}

NCPU=$(nproc)
STEP=0
TOTAL=$((${#CLIST[@]} * ROUNDS * ${#SRV[@]}))
run_step() { # name C round
	local name=$1 c=$2 round=$3 port try
	SPID=""
	STEP=$((STEP + 1))
	[[ -n ${SKIP[$name]:-} ]] && return 0
	for try in 1 2; do
		port=$("$UTIL" freeport) || { REASON="no free port"; continue; }
		start_server "$name" "$port" && break
		case $name in
		chald-*)
			note_skip "$name" "$REASON"
			return 0
			;;
		esac
		echo "$name: start failed (try $try): $REASON"
		SPID=""
	done
	if [[ -z $SPID ]]; then
		echo "$name C=$c round $round: no data: $REASON"
		return 0
	fi
	# chald-proxy's every connection carries a PROXY v2 header.
	local LGOPT=()
	[[ $name == chald-proxy ]] && LGOPT=(-P)
	# The warm-up runs at the step's concurrency: a jailed step starts a
	# new daemon, whose pools of network namespaces and cgroups fill only
	# as sessions circulate (about rate x 100 ms plus those in flight);
	# measured from cold, 7-15% of a step's sessions made a namespace
	# that a daemon serving an event makes only in its first seconds
	# (bench/README.md, "Warm-up").
	if ((WARMUP > 0)); then
		"$LOADGEN" "${LGOPT[@]}" -p "$port" -c "$c" -n "$WARMUP" -t "$WARMUP_SECS" -T "$CONN_TIMEOUT" >/dev/null 2>&1
	fi
	local idle line
	idle=$(idle_procs "$SPID")
	echo "## $name C=$c round=$round port=$port" >>"$LGLOG"
	local cpu0 cpu1 t0 t1
	cpu0=$("$UTIL" cpu "$SPID")
	t0=$(date +%s%N)
	line=$(timeout -k 2 $((SECS + CONN_TIMEOUT + 10)) \
		"$LOADGEN" "${LGOPT[@]}" -p "$port" -c "$c" -n "$N" -t "$SECS" -T "$CONN_TIMEOUT" 2>>"$LGLOG")
	local lrc=$?
	echo "$line" >>"$LGLOG"
	sleep 1
	local pr
	pr=$("$UTIL" procs "$SPID")
	cpu1=$("$UTIL" cpu "$SPID")
	t1=$(date +%s%N)
	stop_server "$SPID" "$name"
	SPID=""
	if [[ $lrc != 0 || $line != conns=* ]]; then
		echo "$name C=$c round $round: no data: loadgen failed (status $lrc)"
		return 0
	fi
	local rate p50 p99 errs zomb left rss fds k
	rate=$(field "$line" rate)
	p50=$(field "$line" p50_ms)
	p99=$(field "$line" p99_ms)
	errs=0
	for k in err_refused err_reset err_timeout err_wrong err_eof err_other; do
		errs=$((errs + $(field "$line" $k)))
	done
	zomb=$(field "$pr" zombies)
	left=$(($(field "$pr" live) - idle))
	rss=$(field "$pr" rss_kb)
	fds=$(field "$pr" fds)
	# Share of all CPUs busy with work outside the benchmark during the
	# step: total busy time minus the server tree's and loadgen's own.
	local other
	other=$(awk -v b0="$(field "$cpu0" busy_ticks)" -v b1="$(field "$cpu1" busy_ticks)" \
		-v p0="$(field "$cpu0" proc_ticks)" -v p1="$(field "$cpu1" proc_ticks)" \
		-v hz="$(field "$cpu1" hz)" -v lg="$(field "$line" cpu_ms)" \
		-v ns="$((t1 - t0))" -v ncpu="$NCPU" 'BEGIN {
			cap = ns / 1e9 * hz * ncpu
			o = (cap > 0) ? ((b1 - b0) - (p1 - p0) - lg * hz / 1000) / cap * 100 : 0
			if (o < 0) o = 0
			if (o > 100) o = 100
			printf "%.0f", o
		}')
	# Share of all CPUs that the hypervisor gave to someone else: on a
	# virtual machine the speed of a step wanders with it.
	local steal
	steal=$(awk -v s0="$(field "$cpu0" steal_ticks)" -v s1="$(field "$cpu1" steal_ticks)" \
		-v hz="$(field "$cpu1" hz)" -v ns="$((t1 - t0))" -v ncpu="$NCPU" 'BEGIN {
			cap = ns / 1e9 * hz * ncpu
			o = (cap > 0 && s0 >= 0 && s1 >= s0) ? (s1 - s0) / cap * 100 : 0
			if (o > 100) o = 100
			printf "%.0f", o
		}')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$name" "$c" "$round" "$rate" "$p50" "$p99" "$errs" "$zomb" "$left" "$rss" "$fds" "$other" "$steal" >>"$RAW"
	printf '[%d/%d] %-13s C=%-3s round %d: rate=%s p50=%sms p99=%sms errs=%s zombies=%s leftover=%s rss=%skB fds=%s other=%s%% steal=%s%%\n' \
		"$STEP" "$TOTAL" "$name" "$c" "$round" "$rate" "$p50" "$p99" "$errs" "$zomb" "$left" "$rss" "$fds" "$other" "$steal"
}

machine_line() {
	local ag=unknown
	[[ -r /proc/sys/kernel/sched_autogroup_enabled ]] && ag=$(</proc/sys/kernel/sched_autogroup_enabled)
	echo "$(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg), sched_autogroup=$ag"
}
MACHINE_START=$(machine_line)
START=$(date +%s)
echo "== chald benchmark: ROUNDS=$ROUNDS N=$N SECS=$SECS CS=\"$CS\" CONN_TIMEOUT=$CONN_TIMEOUT WARMUP=$WARMUP"
echo "== servers: ${SRV[*]}"
echo "== chald: $CHALD_DESC"
if [[ " ${SRV[*]} " == *" chald-plain "* ]]; then
	echo "== chald-plain extra options: ${PLAIN_EXTRA[*]:-(none)}"
fi
echo "== raw results and logs: $OUT"
echo "== machine at start: $MACHINE_START"
for c in "${CLIST[@]}"; do
	for ((r = 1; r <= ROUNDS; r++)); do
		# Rotate the order by one place per round: A B C, B C A, C A B ...
		k=${#SRV[@]}
		for ((i = 0; i < k; i++)); do
			run_step "${SRV[$(((i + r - 1) % k))]}" "$c" "$r"
		done
	done
done
END=$(date +%s)
MACHINE_END=$(machine_line)

# ---------------------------------------------------------------- table
skips=""
for s in "${SRV[@]}"; do
	[[ -n ${SKIP[$s]:-} ]] && skips+="$s=${SKIP[$s]}"$'\x1f'
done

awk -F'\t' -v servers="${SRV[*]}" -v cs="${CLIST[*]}" -v skips="$skips" \
	-v hdr="ROUNDS=$ROUNDS N=$N SECS=$SECS CONN_TIMEOUT=$CONN_TIMEOUT WARMUP=$WARMUP elapsed=$((END - START))s" \
	-v chald="$CHALD_DESC" -v plainx="${PLAIN_EXTRA[*]:-(none)}" \
	-v mstart="$MACHINE_START" -v mend="$MACHINE_END" '
function sortv(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
}
# median [min-max] of the values stored for key k, column col
function stat(k, col, fmt,    a, n, med, lo, hi, s) {
	n = split(vals[k, col], a, " ")
	if (n == 0) return "-"
	sortv(a, n)
	med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	lo = a[1]; hi = a[n]
	s = sprintf(fmt, med)
	if (sprintf(fmt, lo) != sprintf(fmt, hi))
		s = s " [" sprintf(fmt, lo) "-" sprintf(fmt, hi) "]"
	return s
}
function median(k, col,    a, n) {
	n = split(vals[k, col], a, " ")
	if (n == 0) return ""
	sortv(a, n)
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function pfmt(v) { return v >= 100 ? "%.0f" : (v >= 10 ? "%.1f" : (v >= 1 ? "%.2f" : "%.3f")) }
{
	k = $1 SUBSEP $2
	cnt[k]++
	for (col = 4; col <= 13; col++) vals[k, col] = vals[k, col] " " $col
	steps++
	if ($12 + 0 > 10) busy++
	if ($13 + 0 > 10) stolen++
}
END {
	ns = split(servers, S, " "); nc = split(cs, C, " ")
	n = split(skips, sk, "\037")
	for (i = 1; i <= n; i++) if (sk[i] != "") { p = index(sk[i], "="); skip[substr(sk[i], 1, p - 1)] = substr(sk[i], p + 1) }
	print "chald benchmark (" hdr ")"
	print "chald: " chald "; chald-plain extra options: " plainx
	print "machine at start: " mstart
	print "machine at end:   " mend
	print "each cell: median [min-max] over rounds; a single number means every round gave it"
	if (busy > 0) {
		print "WARNING: in " busy " of " steps " steps more than 10% of the CPUs were busy with work outside"
		print "the benchmark (column other%). With sched_autogroup on, that favours servers that call"
		print "setsid() per connection (chald does; the baselines and peers do not). Rerun on a quiet machine."
	}
	if (stolen > 0) {
		print "WARNING: in " stolen " of " steps " steps the hypervisor gave more than 10% of the"
		print "time of the CPUs to others (column steal%): those steps ran on a slower machine."
	}
	fmt = "%-13s %3s %2s  %-19s %-20s %-20s %-11s %-8s %-9s %-17s %-9s %-9s %s\n"
	for (ci = 1; ci <= nc; ci++) {
		print ""
		printf fmt, "server", "C", "n", "conn/s", "p50_ms", "p99_ms", "errors", "zombies", "leftover", "rss_kB", "fds", "other%", "steal%"
		for (si = 1; si <= ns; si++) {
			s = S[si]; c = C[ci]; k = s SUBSEP c
			if (s in skip) { printf "%-13s %3s     skipped: %s\n", s, c, skip[s]; continue }
			if (!(k in cnt)) { printf "%-13s %3s     no data (see messages above)\n", s, c; continue }
			printf fmt, s, c, cnt[k], stat(k, 4, "%.0f"), stat(k, 5, pfmt(median(k, 5))), stat(k, 6, pfmt(median(k, 6))), \
				stat(k, 7, "%d"), stat(k, 8, "%d"), stat(k, 9, "%d"), stat(k, 10, "%d"), stat(k, 11, "%d"), stat(k, 12, "%d"), stat(k, 13, "%d")
		}
	}
	for (hi = 1; hi <= 2; hi++) {
		h = (hi == 1) ? "chald-plain" : "chald-sandbox"
		found = 0
		for (si = 1; si <= ns; si++) if (S[si] == h) found = 1
		if (!found) continue
		print ""
		if (h in skip) { print h " ratios: none, " h " skipped: " skip[h]; continue }
		print h " ratios (median " h " / median other, same C): conn/s >1 means " h " is faster; p99 <1 means " h " has lower tail latency"
		line = sprintf("%-13s", "vs")
		for (ci = 1; ci <= nc; ci++) line = line sprintf("  %-26s", "C=" C[ci] " conn/s | p99")
		print line
		for (si = 1; si <= ns; si++) {
			o = S[si]
			if (o == h) continue
			line = sprintf("%-13s", o)
			for (ci = 1; ci <= nc; ci++) {
				kh = h SUBSEP C[ci]; ko = o SUBSEP C[ci]
				if (o in skip || !(ko in cnt) || !(kh in cnt)) { cell = "n/a" }
				else {
					r1 = median(ko, 4); r2 = median(ko, 6)
					cell = (r1 > 0 ? sprintf("%.2fx", median(kh, 4) / r1) : "n/a") " | " \
					       (r2 > 0 ? sprintf("%.2fx", median(kh, 6) / r2) : "n/a")
				}
				line = line sprintf("  %-26s", cell)
			}
			print line
		}
	}
	# The targets of the issues, as ratios of medians in this one run.
	print ""
	print "targets (issues 9 and 12; ratios of the medians of this run):"
	target("chald-sandbox", "chald-plain", 8, 4, ">=", 0.5, "jailed conn/s vs plain, C=8 (issue 9: target 0.5x, floor 0.4x)")
	target("chald-sandbox", "chald-plain", 64, 4, ">=", 0.5, "jailed conn/s vs plain, C=64 (issue 9: target 0.5x, floor 0.4x)")
	target("chald-sandbox", "chald-plain", 1, 5, "<=", 2, "jailed p50 vs plain, C=1 (issue 9)")
	target("chald-sandbox", "chald-plain", 1, 6, "<=", 4, "jailed p99 vs plain, C=1 (issue 9)")
	for (ci = 1; ci <= nc; ci++)
		target("chald-sandbox", "socat-bwrap", C[ci], 4, ">", 1, "jailed conn/s vs the jailed peer, C=" C[ci] " (issue 9)")
	for (ci = 1; ci <= nc; ci++)
		target("chald-proxy", "chald-plain", C[ci], 4, ">=", 0.95, "PROXY v2 conn/s vs plain, C=" C[ci] " (issue 12)")
	print "  with 1,000 idle jails: MODE=sandbox NS=\"0 1000\" bash bench/idle.sh, which make bench runs last (issue 9: >= 0.8x of none, floor 0.7x)"
	print "  the proof-of-work flood: bash bench/powflood.sh, which make bench runs next (issue 12: p99 at most 2x)"
}
# One target line: median col of a over b at concurrency c, against want.
function target(a, b, c, col, op, want, what,    ka, kb, r, ok) {
	ka = a SUBSEP c; kb = b SUBSEP c
	if (!(ka in cnt) || !(kb in cnt) || median(kb, col) <= 0) {
		printf "  %-66s n/a (not run)\n", what
		return
	}
	r = median(ka, col) / median(kb, col)
	ok = (op == ">=" && r >= want) || (op == "<=" && r <= want) || (op == ">" && r > want)
	printf "  %-66s %.2fx  (%s %gx: %s)\n", what, r, op, want, ok ? "met" : "NOT met"
}' "$RAW" | tee "$OUT/table.txt"
cp "$OUT/table.txt" "$BUILD/results/latest.txt"

# Anything of ours still running is a bug in this script or a server: say so.
stray=$("$UTIL" countexe "$CHAL")
if [[ $stray != 0 ]]; then
	echo "warning: $stray echo_chal processes still running after the run"
fi
echo "== done in $((END - START)) s; table: $OUT/table.txt"
