#!/usr/bin/env python3
"""Runs the benchmarks behind the CPU-speed targets and prints them as a
Markdown table (the README's, with the numbers of this machine, this run).

    python3 tools/scripts/bench_targets.py [--mom build/tools/mom] [--torch]

--torch also times the reference PyTorch module (torch_bench.py; needs
python3-torch and takes a few minutes) for the tokens/s ratio. Every number
comes from `mom bench` JSON lines printed by this run; nothing is cached."""
import argparse, json, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))


def lines(cmd, env=None):
    full = dict(os.environ, **(env or {}))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=full).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


# The CPU classes, each a `mom bench train` of the same invocation on this
# machine: (row, environment, goal as a fraction of the AVX-512 run's tokens/s).
CLASSES = [
    ("AVX2 laptop (ONEDNN_MAX_CPU_ISA=AVX2 MOM_CPU=avx2)", {"ONEDNN_MAX_CPU_ISA": "AVX2", "MOM_CPU": "avx2"}, 0.40),
    ("without oneDNN, OpenBLAS (MOM_MATMUL=blas: the matmul a build without oneDNN takes)", {"MOM_MATMUL": "blas"}, 0.35),
    ("without oneDNN or BLAS (MOM_MATMUL=plain: the kernels' own blocked GEMM)", {"MOM_MATMUL": "plain"}, 0.10),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mom", default=os.path.join(here, "..", "..", "build", "tools", "mom"))
    ap.add_argument("--torch", action="store_true")
    a = ap.parse_args()
    mom = os.path.abspath(a.mom)
    train = lines([mom, "bench", "train", "--dense"])[0]
    bf16 = lines([mom, "bench", "train", "--matmul", "bf16"])[0]
    mem = lines([mom, "bench", "memory"])[0]
    scan = {}
    for th in (1, 2):
        for r in lines([mom, "bench", "kernels", "--threads", str(th)]):
            if r["name"].startswith("scan"):
                scan[(th, r["path"])] = scan.get((th, r["path"]), 0) + r["seconds"]
    fast = [p for (t, p) in scan if p != "scalar"]
    fast = fast[0] if fast else "scalar"
    simd_x = scan[(1, "scalar")] / scan[(1, fast)]
    thread_x = scan[(1, fast)] / scan[(2, fast)]
    rows = [
        ("Training step MFU (fp32, vs the oneDNN fp32 matmul peak of this run)", ">= 0.40",
         f"{train['mfu']:.3f} (matmul FLOPs only: {train['mfu_matmul_only']:.3f}); "
         f"{train['tokens_per_s']:.0f} tokens/s, {train['model_gflops']:.1f} of {train['matmul_peak_gflops']:.1f} GFLOP/s",
         train["mfu"] >= 0.40),
        ("Mixture-of-Mamba step / dense step (same shape)", "<= 1.05",
         f"{train['mom_over_dense']:.3f} ({train['seconds_per_step']:.3f} s vs {train['dense_seconds_per_step']:.3f} s)",
         train["mom_over_dense"] <= 1.05),
        (f"Scan fwd + bwd, {fast} vs scalar, 1 thread", ">= 8x",
         f"{simd_x:.1f}x ({scan[(1, 'scalar')]*1e3:.0f} ms vs {scan[(1, fast)]*1e3:.1f} ms)", simd_x >= 8),
        (f"Scan fwd + bwd, {fast}, 2 threads vs 1", ">= 1.8x",
         f"{thread_x:.2f}x ({scan[(1, fast)]*1e3:.1f} ms vs {scan[(2, fast)]*1e3:.1f} ms)", thread_x >= 1.8),
        ("Peak memory growth, T 1024 -> 4096, batch 1", "<= 12 KiB / token / layer",
         f"{mem['growth_kib_per_token_per_layer']:.2f} KiB (peak RSS {mem['peak_rss_mib'][0]:.0f} -> "
         f"{mem['peak_rss_mib'][1]:.0f} MiB)", mem["growth_kib_per_token_per_layer"] <= 12),
        ("bf16 matmuls (--matmul bf16)", "(no target)",
         f"{bf16['tokens_per_s']:.0f} tokens/s, {bf16['seconds_per_step']:.3f} s/step", None),
    ]
    # The CPU classes against a plain AVX-512 run of the same invocation.
    base = lines([mom, "bench", "train"])[0]
    rows.append(("Training step MFU, AVX-512 + oneDNN (the goal)", ">= 0.50",
                 f"{base['mfu']:.3f}; {base['tokens_per_s']:.0f} tokens/s", base["mfu"] >= 0.50))
    for name, env, goal in CLASSES:
        r = lines([mom, "bench", "train"], env)[0]
        x = r["tokens_per_s"] / base["tokens_per_s"]
        rows.append((f"{name}: tokens/s vs AVX-512 + oneDNN", f">= {goal:.2f}x",
                     f"{x:.2f}x ({r['tokens_per_s']:.0f} vs {base['tokens_per_s']:.0f}); MFU {r['mfu']:.3f} of its own "
                     f"matmul's {r['matmul_peak_gflops']:.0f} GFLOP/s ({r['backend']})", x >= goal))
        if env.get("MOM_CPU") == "avx2":
            rows.append((f"{name}: MFU vs the AVX2 matmul peak", ">= 0.40", f"{r['mfu']:.3f}", r["mfu"] >= 0.40))
    avx2_scan = {}
    for r in lines([mom, "bench", "kernels", "--threads", "1"], {"MOM_CPU": "avx2"}):
        if r["name"].startswith("scan"):
            avx2_scan[r["path"]] = avx2_scan.get(r["path"], 0) + r["seconds"]
    if "avx2" in avx2_scan:
        x = avx2_scan["scalar"] / avx2_scan["avx2"]
        rows.append(("Scan fwd + bwd, avx2 vs scalar, 1 thread", ">= 6x",
                     f"{x:.1f}x ({avx2_scan['scalar']*1e3:.0f} ms vs {avx2_scan['avx2']*1e3:.1f} ms)", x >= 6))
    if a.torch:
        t = lines([sys.executable, os.path.join(here, "torch_bench.py")])[0]
        x = train["tokens_per_s"] / t["tokens_per_s"]
        rows.append(("tokens/s vs the reference PyTorch module on the CPU (fp32)", ">= 50x",
                     f"{x:.1f}x ({train['tokens_per_s']:.0f} vs {t['tokens_per_s']:.1f} tokens/s, torch {t['torch']})",
                     x >= 50))
    print("| target | goal | measured | met |")
    print("|---|---|---|---|")
    for name, goal, got, ok in rows:
        print(f"| {name} | {goal} | {got} | {'-' if ok is None else ('yes' if ok else 'no')} |")
    print(f"\nconfig d_model 256, 4 layers, 3 modalities all decoupled, vocab 1024, batch 8 x seq 512; "
          f"{train['backend']}")


if __name__ == "__main__":
    main()
