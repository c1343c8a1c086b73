#!/usr/bin/env bash
# Builds the tiny test guest from Debian packages only (linux-image-amd64, busybox-static, cpio, xz-utils):
#   OUTDIR/vmlinux            the installed kernel as an ELF with its PVH entry note (QEMU -kernel boots it directly)
#   OUTDIR/initramfs.cpio.gz  busybox + /init: GUEST-READY marker, one "tick N" a second, ACPI power button ->
#                             poweroff, a shell on ttyS0; with dirty_mb=N on the kernel command line it keeps
#                             rewriting N MiB of memory (a migration under load)
#   OUTDIR/cmdline            the kernel command line to boot it with (QEMU -append)
# Idempotent: does nothing (in a few ms) when OUTDIR was built from the same kernel, busybox and script.
# Usage: build-guest.sh OUTDIR
set -euo pipefail
export LC_ALL=C

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
OUT=$1

die()
{
  echo "build-guest: $*" >&2
  exit 1
}

# The newest installed kernel: the file name changes with every Debian kernel update, so never hard-code it.
VMLINUZ=$(ls -1 /boot/vmlinuz-* 2> /dev/null | sort -V | tail -n 1 || true)
[ -n "$VMLINUZ" ] || die "no /boot/vmlinuz-*: apt-get install --no-install-recommends linux-image-amd64"
KVER=${VMLINUZ#/boot/vmlinuz-}
MODDIR=/lib/modules/$KVER
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || die "no busybox: apt-get install --no-install-recommends busybox-static"
if ldd "$BUSYBOX" > /dev/null 2>&1; then
  die "$BUSYBOX is dynamically linked; the initramfs needs busybox-static"
fi
command -v cpio > /dev/null || die "no cpio: apt-get install --no-install-recommends cpio"
command -v xz > /dev/null || die "no xz: apt-get install --no-install-recommends xz-utils"

# Modules for the ACPI power button: button (the ACPI device) and evdev (/dev/input/event*, read by acpid).
# Debian builds both as modules; either may be built in on another kernel, then it is simply not copied.
MODULES=()
for m in kernel/drivers/input/evdev.ko kernel/drivers/acpi/button.ko; do
  for f in "$MODDIR/$m" "$MODDIR/$m.xz" "$MODDIR/$m.zst"; do
    if [ -f "$f" ]; then
      MODULES+=("$f")
    fi
  done
done

SCRIPT_SUM=$(sha256sum "$0" | cut -d' ' -f1)
stat_of()
{
  stat -L -c '%n %s %Y' "$@"
}
STAMP="$SCRIPT_SUM $(stat_of "$VMLINUZ" "$BUSYBOX" ${MODULES[@]+"${MODULES[@]}"} | tr '\n' ' ')"
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ] \
  && [ -f "$OUT/vmlinux" ] && [ -f "$OUT/initramfs.cpio.gz" ] && [ -f "$OUT/cmdline" ]; then
  echo "build-guest: $OUT is up to date ($KVER)"
  exit 0
fi

mkdir -p "$OUT"
WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# 1. vmlinux: the vmlinuz is a bzImage whose payload is one xz stream (CONFIG_KERNEL_XZ); decompress from the
#    stream's magic and stop at its end (the bzImage has more bytes after it). Check that an ELF came out.
OFFSETS=$(grep -obUaP '\xFD\x37\x7A\x58\x5A\x00' "$VMLINUZ" | cut -d: -f1 || true)
[ -n "$OFFSETS" ] || die "$VMLINUZ has no xz stream (not CONFIG_KERNEL_XZ?)"
found=
for off in $OFFSETS; do
  # (xz stops reading at the stream's end: a pipe from tail would fail with SIGPIPE under pipefail)
  if xz -dc --single-stream < <(tail -c "+$((off + 1))" "$VMLINUZ") > "$WORK/vmlinux" 2> /dev/null \
    && [ "$(head -c 4 "$WORK/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ]; then
    found=1
    break
  fi
done
[ -n "$found" ] || die "could not extract an ELF vmlinux from $VMLINUZ"

# 2. initramfs
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,dev,proc,sys,etc/acpi/PWRF,lib/modules,tmp,root}
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$ROOT/bin/$applet"
done
for f in ${MODULES[@]+"${MODULES[@]}"}; do
  case "$f" in
    *.xz) xz -dc "$f" > "$ROOT/lib/modules/$(basename "${f%.xz}")" ;;
    *.zst) die "zstd-compressed module $f: not supported" ;;
    *) cp "$f" "$ROOT/lib/modules/" ;;
  esac
done
# busybox acpid runs /etc/acpi/<ACTION>/<EVENT>: the power button's event is PWRF 00000080.
printf '#!/bin/sh\necho "GUEST-POWEROFF" > /dev/ttyS0\nexec poweroff -f\n' > "$ROOT/etc/acpi/PWRF/00000080"
chmod 755 "$ROOT/etc/acpi/PWRF/00000080"
cat > "$ROOT/init" << 'EOF'
#!/bin/sh
# PID 1 of the tiny guest. Everything goes to ttyS0 (COM1).
export PATH=/bin:/sbin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
# ACPI power button -> poweroff (QEMU system_powerdown). Best effort: a kernel without ACPI just has no button.
for m in /lib/modules/evdev.ko /lib/modules/button.ko; do
  [ -f "$m" ] && insmod "$m" 2> /dev/null
done
acpid -d > /dev/null 2>&1 &
echo "GUEST-READY uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
# dirty_mb=N on the kernel command line (the kernel hands unknown name=value words to init as environment): keep
# rewriting N MiB of random bytes, a guest whose memory changes while it migrates.
if [ -n "$dirty_mb" ]; then
  (dd if=/dev/urandom of=/tmp/dirty.src bs=1M count="$dirty_mb" 2> /dev/null
    while true; do cp /tmp/dirty.src /tmp/dirty.dst; done) &
fi
# A shell on the serial line, with ttyS0 as its controlling terminal; a new one when it exits.
(while true; do setsid -c sh -i < /dev/ttyS0 > /dev/ttyS0 2>&1; sleep 1; done) &
i=0
while true; do
  i=$((i + 1))
  echo "tick $i" > /dev/ttyS0
  sleep 1
done
EOF
chmod 755 "$ROOT/init"
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1 -n) > "$WORK/initramfs.cpio.gz"

# quiet: fewer kernel lines on a slow emulated UART; panic=-1: a panic resets (QEMU reports RESET).
echo "console=ttyS0 quiet panic=-1" > "$WORK/cmdline"

mv -f "$WORK/vmlinux" "$OUT/vmlinux"
mv -f "$WORK/initramfs.cpio.gz" "$OUT/initramfs.cpio.gz"
mv -f "$WORK/cmdline" "$OUT/cmdline"
echo "$STAMP" > "$OUT/.stamp"
echo "build-guest: built $OUT from $VMLINUZ ($KVER)"
