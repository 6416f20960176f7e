#!/bin/sh
# verify.sh: deploy/systemd/chald.service through `systemd-analyze verify`,
# with ExecStart pointed at the chald just built (verify wants the program
# to exist). Part of `make check`; skipped, and says so, where systemd is
# not installed.
set -eu
cd "$(dirname "$0")/../.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "check-systemd: skipped: no systemd-analyze on this machine"
	exit 0
fi
chald=${CHALD:-$(pwd)/build/chald}
out=build/systemd
mkdir -p "$out"
sed "s|/usr/local/sbin/chald|$chald|" deploy/systemd/chald.service \
    >"$out/chald.service"
# --man=no: chald's pages are in man/, not installed.
if ! log=$(systemd-analyze verify --man=no "$out/chald.service" 2>&1) ||
    [ -n "$log" ]; then
	echo "check-systemd: systemd-analyze verify failed:" >&2
	echo "$log" >&2
	exit 1
fi
echo "check-systemd: systemd-analyze verify chald.service: ok"
