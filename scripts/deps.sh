#!/bin/sh
# deps.sh: installs the Debian packages a target needs when they are missing,
# so that "make" and "make check" work on a fresh Debian 12 or Ubuntu machine.
# Usage: scripts/deps.sh build|test|bench|vm
set -eu

build="gcc make pkg-config libc6-dev libinih-dev libseccomp-dev musl-tools"
test="python3 python3-pytest python3-pwntools iproute2 procps prometheus"
bench="socat xinetd ucspi-tcp procps"
vm="qemu-system-x86 linux-image-amd64 busybox-static cpio"

case "${1:-build}" in
build) want=$build ;;
test) want="$build $test" ;;
bench) want="$build $bench" ;;
vm) want="$build $vm" ;;
*) echo "usage: $0 build|test|bench|vm" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: missing packages:$missing (no apt-get here: install them by hand)" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=sudo
	else
		echo "deps.sh: missing packages:$missing (run as root or install sudo)" >&2
		exit 1
	fi
fi
echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
