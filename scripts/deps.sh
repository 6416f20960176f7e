#!/bin/sh
# deps.sh: installs the Debian packages a target needs when they are missing,
# so that "make" and "make check" work on a fresh Debian 12 or Ubuntu machine.
# Usage: scripts/deps.sh [--list] build|run|test|bench|vm|image|docker|k8s|fuzz
#   --list: print the packages of the target, install nothing
set -eu

list=0
if [ "${1:-}" = "--list" ]; then
	list=1
	shift
fi

build="gcc make pkg-config libc6-dev libinih-dev libseccomp-dev libgmp-dev musl-tools"
# "make run": the README's first connection is "nc 127.0.0.1 1337"
run="netcat-openbsd"
test="python3 python3-pytest python3-pwntools python3-gmpy2 iproute2 procps haproxy netcat-openbsd gcc-multilib busybox-static prometheus"
bench="socat xinetd ucspi-tcp procps bubblewrap"
vm="qemu-system-x86 linux-image-amd64 busybox-static cpio"
image="podman runc slirp4netns debootstrap python3-pwntools"
# docker: the image is built with podman, run by docker; the seccomp
# profile it runs with is containers-common's (podman's)
docker="$image docker.io golang-github-containers-common"
# kubectl: Debian's kubernetes-client, unless a kubectl is there already
# (another package's /usr/bin/kubectl would conflict with it); npm only
# where the installed nodejs does not bring its own.
k8s="nodejs"
command -v kubectl >/dev/null 2>&1 || k8s="$k8s kubernetes-client"
command -v npm >/dev/null 2>&1 || k8s="$k8s npm"
# libFuzzer and the sanitizers' runtimes are only recommended by clang
fuzz="clang libclang-rt-14-dev"

case "${1:-build}" in
build) want=$build ;;
run) want="$build $run" ;;
test) want="$build $test" ;;
bench) want="$build $bench" ;;
vm) want="$build $vm" ;;
image) want="$build $image" ;;
docker) want="$build $docker" ;;
k8s) want="$k8s" ;;
fuzz) want="$build $fuzz" ;;
*) echo "usage: $0 [--list] build|run|test|bench|vm|image|docker|k8s|fuzz" >&2; exit 2 ;;
esac
if [ "$list" = 1 ]; then
	echo $want
	exit 0
fi

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
