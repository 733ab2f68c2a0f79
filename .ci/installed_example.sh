#!/usr/bin/env bash
# libmom as a user gets it: `meson install` of build dir $1 into a temporary
# folder, then examples/train_and_sample.c compiled there against the
# installed tree through pkg-config alone, run, and its output checked.
# Also: the installed libmom.so exports only mom_* symbols, and
# pkg-config's version, mom_version() and meson.build's version agree.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --destdir "$dest" --quiet
pc=$(find "$dest" -name libmom.pc | head -n 1)
[ -n "$pc" ] || { echo "installed-example: no libmom.pc under the install"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest
libdir=$(dirname "$(dirname "$pc")")
so=$libdir/libmom.so

project_version=$(meson introspect --projectinfo "$build" | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
pc_version=$(pkg-config --modversion libmom)
[ "$pc_version" = "$project_version" ] ||
    { echo "installed-example: pkg-config says $pc_version, meson.build $project_version"; exit 1; }

foreign=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^mom_' || true)
[ -z "$foreign" ] || { echo "installed-example: libmom.so exports non-mom_ symbols:"; echo "$foreign"; exit 1; }
echo "installed-example: $(nm -D --defined-only "$so" | wc -l) symbols exported, all mom_*"

for f in include/mom.h include/mom_data.h include/mom_version.h bin/mom; do
    find "$dest" -path "*/$f" | grep -q . || { echo "installed-example: $f not installed"; exit 1; }
done
find "$dest" -name libmom.a | grep -q . || { echo "installed-example: libmom.a not installed"; exit 1; }

cc -std=c11 -Wall -Wextra -Werror "$here/examples/train_and_sample.c" $(pkg-config --cflags --libs libmom) \
    -o "$dest/train_and_sample"
out=$(LD_LIBRARY_PATH=$libdir "$dest/train_and_sample")
echo "$out"
echo "$out" | grep -qx "libmom $project_version" ||
    { echo "installed-example: mom_version() is not $project_version"; exit 1; }
echo "$out" | grep -q '^loss .* after [0-9]* steps$' || { echo "installed-example: no loss line"; exit 1; }
echo "$out" | grep -Eq '^sampled: 0 1 2( [0-9]+)+$' || { echo "installed-example: no sampled tokens"; exit 1; }
echo "installed-example: OK"
