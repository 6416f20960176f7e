#!/bin/sh
# build.sh: `make image`. Stages the image's root (chald and the shared
# libraries it links, found with ldd) in build/image/rootfs, builds
# deploy/image/Containerfile FROM scratch with Debian's podman, offline,
# and prints the image's size.
# Usage: deploy/image/build.sh [CHALD_BINARY] [IMAGE_NAME]
set -eu
chald=${1:-build/chald}
name=${2:-chald:latest}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top"
PODMAN_DIR=${PODMAN_DIR:-$top/build/podman}
. "$here/podman-env.sh"

ctx=build/image
rm -rf "$ctx/rootfs"
mkdir -p "$ctx/rootfs/usr/sbin"
install -m 755 "$chald" "$ctx/rootfs/usr/sbin/chald"
# Each library at the path the dynamic linker looks for, symlinks resolved.
for lib in $(ldd "$chald" | awk '/=> \//{print $3} /^\t\/[^ ]*ld-linux/{print $1}'); do
	mkdir -p "$ctx/rootfs$(dirname "$lib")"
	cp -L "$lib" "$ctx/rootfs$lib"
done
for d in srv/app srv/proc srv/dev srv/tmp app run/chald tmp proc dev sys etc; do
	mkdir -p "$ctx/rootfs/$d"
done
chmod 1777 "$ctx/rootfs/tmp"
chmod 700 "$ctx/rootfs/run/chald"
cp "$here/Containerfile" "$ctx/Containerfile"

podman build --pull=never --network=none -q -t "$name" -f "$ctx/Containerfile" \
    "$ctx" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$name")
echo "image $name: $size bytes ($(( (size + 524288) / 1048576 )) MiB), $(find "$ctx/rootfs" -type f | wc -l) files"
