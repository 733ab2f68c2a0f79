#!/usr/bin/env bash
# libmom as a user gets it: `meson install` of build dir $1 into a temporary
# folder, then examples/train_and_sample.c compiled there against the
# installed tree through pkg-config alone, run, and its output checked;
# then the README's Python example (examples/train_loop.py) run with the
# installed package and library alone, on the built-in data the installed
# mom unpacks. Also: the installed libmom.so exports only mom_* symbols, and
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

# Python: the first python3 with numpy (Debian's /usr/bin/python3 gets it
# from python3-numpy; a python3 earlier on the PATH may lack it), the
# installed package (PYTHONPATH) and library (LD_LIBRARY_PATH), nothing of
# the source or build tree.
py=
for p in python3 /usr/bin/python3; do
    if "$p" -c 'import numpy' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "installed-example: no python3 with numpy (apt-get install python3-numpy)"; exit 1; }
init=$(find "$dest" -path '*/libmom/__init__.py' | head -n 1)
[ -n "$init" ] || { echo "installed-example: the Python package libmom is not installed"; exit 1; }
site=$(dirname "$(dirname "$init")")
mom=$(find "$dest" -path '*/bin/mom' | head -n 1)
run() { (cd "$dest" && env -u LIBMOM_LIBRARY PYTHONPATH="$site" LD_LIBRARY_PATH="$libdir" "$@"); }
where=$(run "$py" -c 'import libmom; print(libmom.__file__); print(libmom.version()); print(next(l.split()[-1] for l in open("/proc/self/maps") if "libmom.so" in l))')
echo "$where"
[ "$(echo "$where" | sed -n 1p)" = "$init" ] || { echo "installed-example: libmom was not imported from the install"; exit 1; }
[ "$(echo "$where" | sed -n 2p)" = "$project_version" ] || { echo "installed-example: libmom.version() is not $project_version"; exit 1; }
case "$(echo "$where" | sed -n 3p)" in
    "$libdir"/*) ;;
    *) echo "installed-example: Python loaded a libmom.so outside the install"; exit 1 ;;
esac
run "$mom" train --steps 1 --threads 2 --out "$dest/run" > /dev/null 2>&1 ||
    { echo "installed-example: mom train --steps 1 (to unpack the built-in data) failed"; exit 1; }
out=$(run "$py" "$here/examples/train_loop.py" "$dest/run/data/train.bin")
echo "$out"
echo "$out" | grep -Eq '^loss [0-9.]+ -> [0-9.]+ after [0-9]+ steps$' || { echo "installed-example: no Python loss line"; exit 1; }
echo "$out" | awk '/^loss / { exit !($4 < $2) }' || { echo "installed-example: the Python example's loss did not fall"; exit 1; }
echo "$out" | grep -q '^sampled: the letter' || { echo "installed-example: no sampled caption from Python"; exit 1; }
echo "installed-example: OK"
