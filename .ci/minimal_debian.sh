#!/usr/bin/env bash
# The README's two commands, word for word (less `sudo`: this runs as
# root), on a minimal Debian 12, which is what the debian:12 container
# image is: `debootstrap --variant=minbase bookworm` into ROOT, with the
# mirror this machine's own apt uses, a clone of the commit under test in
# ROOT/libmom, and /proc, /sys and /dev mounted for the run and unmounted
# on every way out. A tool a test calls that the README's package list
# does not install fails here, as it would for a new user.
# Usage: .ci/minimal_debian.sh ROOT   (from the repository's top; needs
# debootstrap). Its Meson test log: ROOT/libmom/build/meson-logs/testlog.json.
set -uo pipefail
root=$1
repo=$(pwd -P)

# Debian's own mirror, as apt reads it from this machine's sources
# (sources.list or deb822 .sources alike).
arch=$(dpkg --print-architecture)
mirror=$(apt-cache policy | awk -v a="$arch" '$3 == "bookworm/main" && $4 == a {print $2; exit}')
[ -n "$mirror" ] || { echo "minimal Debian: no bookworm/main mirror in this machine's apt sources"; exit 1; }

unmount_all() {
    for m in dev sys proc; do
        mountpoint -q "$root/$m" && umount -R -l "$root/$m"
    done
}
trap unmount_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ ! -x "$root/usr/bin/apt-get" ]; then
    rm -rf "$root"
    mkdir -p "$(dirname "$root")"
    debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.debootstrap.log" 2>&1 ||
        { echo "minimal Debian: debootstrap from $mirror failed:"; tail -20 "$root.debootstrap.log"; exit 1; }
fi
rm -rf "$root/libmom"
git clone --quiet "$repo" "$root/libmom" || exit 1
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc" && mount -t sysfs sys "$root/sys" && mount --rbind /dev "$root/dev" || exit 1

# The two commands as the README has them (its only lines that start with
# "sudo apt-get update"), each with its "sudo " taken out.
mapfile -t commands < <(grep '^sudo apt-get update' "$repo/README.md" | sed 's/sudo //g')
[ "${#commands[@]}" -eq 2 ] || { echo "minimal Debian: the README has ${#commands[@]} commands, not 2"; exit 1; }
for c in "${commands[@]}"; do
    echo "minimal Debian: $c"
    chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        bash -c "cd /libmom && $c" || exit 1
done
