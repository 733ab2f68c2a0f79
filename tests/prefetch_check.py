#!/usr/bin/env python3
"""Counts the prefetch instructions of the kernels whose speed rests on
them, in the built library, and fails if any has fewer than its source
asks for.

    prefetch_check.py OBJDUMP LIBRARY ISA...    (the SIMD ISAs built: avx512 avx2 neon)

GCC 12 deleted, without a warning, every call to a prefetch helper that it
had not inlined (simd/prefetch.h): the conv's reads and most of the
portable scan's were gone while every test passed. The minimums below are
the kernels' prefetch call sites (a call inside a loop may become several
instructions; none may become none). Names are GCC's: a conv function's
count includes its OpenMP bodies (`NAME._omp_fn.N`), which hold the loops
in a build with OpenMP. Every SIMD ISA has its own static scan_fwd_item and
scan_bwd_item: there must be one of each per ISA, each meeting the
minimum. Exit 77 (skip) where OBJDUMP cannot disassemble the library."""
import re, subprocess, sys

SCAN = [("scan_fwd_item", 0, 0, 8),    # delta, u, z, y, and B and C (two lines each)
        ("scan_bwd_item", 0, 0, 18)]   # the recompute, each chunk's start, the backward loop
# Per ISA: (function, reads at least, writes at least, in all at least).
CONV = {
    "avx512": [("mom_conv_silu_fwd_avx512", 1, 0, 1),
               ("mom_conv_silu_bwd_avx512", 2, 1, 3)],  # x and dout read, dx written
    "avx2": [("mom_conv_silu_fwd_avx2", 1, 0, 1)],
    "neon": [("mom_conv_silu_fwd_neon", 1, 0, 1)],
}
READ = re.compile(r"\b(prefetcht[012]|prefetchnta|prfm\s+pld\w*)\b")
WRITE = re.compile(r"\b(prefetchw|prfm\s+pst\w*)\b")
HEAD = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")


def counts(objdump, lib):
    run = subprocess.run([objdump, "-d", "--no-show-raw-insn", lib], capture_output=True, text=True)
    if run.returncode:
        return {}
    out = run.stdout
    found, name = {}, None
    for line in out.splitlines():
        m = HEAD.match(line)
        if m:
            name = m.group(1)
            found.setdefault(name, []).append([0, 0])
        elif name and line.strip():
            c = found[name][-1]
            c[0] += bool(READ.search(line))
            c[1] += bool(WRITE.search(line))
        else:
            name = None
    return found


def main():
    objdump, lib, isas = sys.argv[1], sys.argv[2], [i for i in sys.argv[3:] if i in CONV]
    found = counts(objdump, lib)
    if not any(v for v in found.values()):
        print(f"SKIP: {objdump} disassembled nothing of {lib}")
        return 77
    bad = []

    def check(fn, r, w, total, blocks):
        for i, (nr, nw) in enumerate(blocks):
            print(f"{fn} #{i}: {nr} read, {nw} write prefetches")
            if nr < r or nw < w or nr + nw < total:
                bad.append(f"{fn} #{i}: {nr} read + {nw} write prefetches, expected at least {r} + {w}, "
                           f"{total} in all")

    for fn, r, w, total in SCAN:
        blocks = found.get(fn, [])
        if len(blocks) != len(isas):
            bad.append(f"{fn}: {len(blocks)} functions of that name, expected one per ISA ({' '.join(isas)})")
        check(fn, r, w, total, blocks)
    for isa in isas:
        for fn, r, w, total in CONV[isa]:
            parts = [c for name, blocks in found.items() if name == fn or name.startswith(fn + "._omp_fn.")
                     for c in blocks]
            if not parts:
                bad.append(f"{fn}: not in {lib}")
                continue
            check(fn, r, w, total, [[sum(c[0] for c in parts), sum(c[1] for c in parts)]])
    for b in bad:
        print("FAIL", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
