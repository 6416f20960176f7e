#!/bin/sh
# run-v2.sh: tests chald against cgroup v2 in a VM ("make check-v2"). Installs
# what it needs (scripts/deps.sh vm), builds chald, the hostile test programs
# and a static client, packs them with busybox into an initramfs whose /init
# is tests/vm/guest-init.sh, boots Debian's kernel under qemu (KVM when
# a probe boots on /dev/kvm, software emulation otherwise), and reads the guest's
# "V2TEST NAME PASS|FAIL DETAIL" lines from a second serial port. Ends with
# "N passed, N failed" and exits non-zero on any failure, or when the guest
# reported nothing or did not finish. Work files go to build/vm/ (console.log
# there has the whole boot and every chald log).
# Environment: VM_TIMEOUT (seconds, default 600), KERNEL (default: the newest
# /boot/vmlinuz-*), VM_ACCEL (kvm or tcg: skip the KVM probe), KVM_PROBE_SECS
# (how long the probe may take to boot, default 20).
set -eu

cd "$(dirname "$0")/../.."
TOP=$(pwd)
OUT=$TOP/build/vm
ROOT=$OUT/root
PROGS="forkbomb membomb cpuburn escapee echo jailprobe sockhog rootprobe cgns"
: "${VM_TIMEOUT:=600}"

# die MESSAGE: a setup step failed: that is one failure, never a pass.
die() {
	echo "run-v2.sh: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

start=$(date +%s)
sh scripts/deps.sh vm || die "could not install the packages (scripts/deps.sh vm)"

targets="build/chald"
for p in $PROGS; do
	targets="$targets build/progs/$p"
done
# shellcheck disable=SC2086
make -s $targets || die "the build failed"

if [ -z "${KERNEL:-}" ]; then
	KERNEL=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
fi
if [ -z "$KERNEL" ] || [ ! -r "$KERNEL" ]; then
	die "no readable kernel (${KERNEL:-/boot/vmlinuz-*}); install" \
	    "linux-image-amd64 and run as root"
fi
BUSYBOX=/bin/busybox
if ! "$BUSYBOX" --help 2>&1 | head -n 1 | grep -q BusyBox ||
    ldd "$BUSYBOX" >/dev/null 2>&1; then
	die "$BUSYBOX is not a static busybox (busybox-static)"
fi

rm -rf "$ROOT"
mkdir -p "$ROOT/bin" "$ROOT/t/progs" "$ROOT/etc" "$ROOT/lib64"
cc -static -O2 -Wall -Wextra -o "$OUT/vmclient" tests/vm/vmclient.c ||
    die "could not build tests/vm/vmclient.c"

cp "$BUSYBOX" "$ROOT/bin/busybox"
cp build/chald "$ROOT/t/chald"
cp "$OUT/vmclient" "$ROOT/t/vmclient"
for p in $PROGS; do
	cp "build/progs/$p" "$ROOT/t/progs/$p"
done
cp tests/vm/guest-init.sh "$ROOT/init"
chmod 755 "$ROOT/init"

# The shared libraries and the loader, at the paths ldd names them (the
# jails bind-mount /lib and /lib64 read-only, so the same paths work there).
libs=$(for f in build/chald $(for p in $PROGS; do echo "build/progs/$p"; done); do
	ldd "$f" | awk '/=> \// { print $3 } /^\t\// { print $1 }'
done | sort -u)
for l in $libs; do
	mkdir -p "$ROOT$(dirname "$l")"
	cp -L "$l" "$ROOT$l" || die "could not copy $l"
done

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' \
    >"$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"

(cd "$ROOT" && find . | cpio -o -H newc --quiet) | gzip -1 \
    >"$OUT/initramfs.gz" || die "could not make the initramfs"

# KVM only when a probe boots: on some hosts "-cpu host" aborts ("failed to
# set MSR 0x10a") and KVM with the default CPU hangs, so /dev/kvm being there
# proves nothing. The probe boots the same kernel with an initramfs whose
# init only prints a word and powers off; without the word within
# KVM_PROBE_SECS the run uses software emulation (TCG), which always works.
# VM_ACCEL=kvm|tcg skips the probe.
kvm_probe() {
	[ -w /dev/kvm ] && [ -r /dev/kvm ] || return 1
	p=$OUT/probe
	rm -rf "$p" && mkdir -p "$p/root/bin" || return 1
	cp "$BUSYBOX" "$p/root/bin/busybox"
	printf '#!/bin/busybox sh\n/bin/busybox echo CHALD-KVM-PROBE-OK\n/bin/busybox poweroff -f\n' \
	    >"$p/root/init"
	chmod 755 "$p/root/init"
	(cd "$p/root" && find . | cpio -o -H newc --quiet) | gzip -1 \
	    >"$p/initramfs.gz" || return 1
	timeout -k 2 "${KVM_PROBE_SECS:-20}" qemu-system-x86_64 -accel kvm \
	    -cpu host -smp 1 -m 256 -nographic -no-reboot -nic none \
	    -kernel "$KERNEL" -initrd "$p/initramfs.gz" \
	    -append "console=ttyS0 panic=-1 quiet" \
	    </dev/null >"$p/console.log" 2>&1
	grep -q CHALD-KVM-PROBE-OK "$p/console.log"
}

case "${VM_ACCEL:-}" in
kvm) accel="-accel kvm -cpu host"; how="kvm (VM_ACCEL=kvm)" ;;
tcg) accel="-accel tcg"; how="tcg (VM_ACCEL=tcg)" ;;
"")
	if kvm_probe; then
		accel="-accel kvm -cpu host"
		how="kvm (the probe booted)"
	elif [ -e /dev/kvm ]; then
		accel="-accel tcg"
		how="tcg (software emulation: a KVM probe did not boot, see"
		how="$how build/vm/probe/console.log)"
	else
		accel="-accel tcg"
		how="tcg (software emulation, no /dev/kvm)"
	fi ;;
*) die "VM_ACCEL must be kvm or tcg, not '$VM_ACCEL'" ;;
esac
echo "run-v2.sh: booting $KERNEL with $how, up to ${VM_TIMEOUT}s;" \
    "console in build/vm/console.log" >&2

: >"$OUT/results.txt"
rc=0
# shellcheck disable=SC2086
timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 $accel -smp 2 -m 1024 \
    -nographic -no-reboot -nic none \
    -kernel "$KERNEL" -initrd "$OUT/initramfs.gz" \
    -append "console=ttyS0 panic=-1 quiet" \
    -serial mon:stdio -serial "file:$OUT/results.txt" \
    </dev/null >"$OUT/console.log" 2>&1 || rc=$?

tr -d '\r' <"$OUT/results.txt" >"$OUT/results.clean"
grep -E '^V2(TEST|LOG|INFO|DONE) ' "$OUT/results.clean" || true
passed=$(grep -cE '^V2TEST [^ ]+ PASS' "$OUT/results.clean" || true)
failed=$(grep -cE '^V2TEST [^ ]+ FAIL' "$OUT/results.clean" || true)
if ! grep -q '^V2DONE ' "$OUT/results.clean"; then
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		why="qemu was killed after ${VM_TIMEOUT}s"
	else
		why="qemu exited $rc"
	fi
	echo "run-v2.sh: the guest did not finish ($why); end of the console:"
	tail -n 30 "$OUT/console.log" | tr -d '\r'
	failed=$((failed + 1))
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
	echo "run-v2.sh: the guest reported no result"
	failed=1
fi
echo "run-v2.sh: $(($(date +%s) - start))s in all"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
