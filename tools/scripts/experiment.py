#!/usr/bin/env python3
"""The dense-vs-Mixture-of-Mamba experiment of the paper, on the built-in data.

For each setting (chameleon: text + image; three: text + image + speech) it
trains, on the same data, seed and token budget: the dense model, the
ablations that decouple one projection alone (in, x, dt, out), and
Mixture-of-Mamba (all four). The held-out loss of each modality is logged
against cumulative training FLOPs (equal per token for every variant). It
writes OUT/SETTING.csv, draws OUT/SETTING.png with gnuplot, and prints the
paper's metric: the fraction of the dense model's training FLOPs at which
each variant first reaches the dense model's final held-out loss, per
modality (linear between evaluations; "-" when it never does).

    python3 tools/scripts/experiment.py --mom build/tools/mom [--steps 300] [--out experiment]
"""
import argparse, csv, json, os, shutil, subprocess, sys

VARIANTS = [("dense", []), ("in", ["in"]), ("x", ["x"]), ("dt", ["dt"]), ("out", ["out"]),
            ("mom", ["in", "x", "dt", "out"])]


def train(mom, out, setting, config, a):
    if os.path.exists(out):
        shutil.rmtree(out)
    cmd = [mom, "train", "--setting", setting, "--steps", str(a.steps), "--batch", str(a.batch), "--seq", str(a.seq),
           "--seed", str(a.seed), "--eval-every", str(a.eval_every), "--eval-batches", "0", "--out", out]
    if config:
        cmd += ["--config", config]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def evals(run_dir):
    rows = []
    for line in open(os.path.join(run_dir, "metrics.jsonl")):
        d = json.loads(line)
        if "eval" in d:
            rows.append((d["step"], d["train_flops"], d["eval"]["loss"], d["eval"]["loss_by_modality"]))
    return rows


def first_reach(rows, k, target):
    """FLOPs at which modality k's held-out loss first reaches target."""
    prev = None
    for step, flops, loss, by in rows:
        cur = by[k]
        if cur is not None and cur <= target:
            if prev is None or prev[1] is None:
                return flops
            f0, l0 = prev
            return f0 + (flops - f0) * (l0 - target) / (l0 - cur) if l0 != cur else flops
        prev = (flops, cur)
    return None


def plot(path_png, csv_path, names, variants):
    panels = []
    for k, name in enumerate(names):
        lines = ", ".join(
            f"'{csv_path}' using (strcol(1) eq '{v}' ? $3 / 1e12 : 1/0):{5 + k} with linespoints title '{v}'"
            for v in variants)
        panels.append(f"set title 'held-out {name} loss'\nplot {lines}\n")
    script = (f"set terminal png size {420 * len(names)},380\nset output '{path_png}'\n"
              "set datafile separator ','\nset key top right\nset xlabel 'training FLOPs (10^{12})'\n"
              "set ylabel 'held-out loss (log scale)'\nset logscale y\n"
              f"set multiplot layout 1,{len(names)}\n" + "".join(panels) + "unset multiplot\n")
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mom", default="build/tools/mom")
    ap.add_argument("--out", default="experiment")
    ap.add_argument("--settings", default="chameleon,three")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    mom = os.path.abspath(a.mom)
    os.makedirs(a.out, exist_ok=True)
    for setting in a.settings.split(","):
        base_dir = os.path.join(a.out, setting, "base")
        # One step without a config: the model config the built-in data gets
        # (vocabulary, modalities, layout), the base of every variant.
        subprocess.run([mom, "train", "--setting", setting, "--steps", "1", "--out", base_dir], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = json.load(open(os.path.join(base_dir, "config.json")))
        n_mod = base["n_modalities"]
        names = ["text", "image", "speech"][:n_mod]
        results = {}
        for name, decouple in VARIANTS:
            cfg = dict(base, decouple=decouple)
            cfg_path = os.path.join(a.out, setting, f"{name}.json")
            json.dump(cfg, open(cfg_path, "w"))
            run_dir = os.path.join(a.out, setting, name)
            print(f"{setting}: training {name} ({a.steps} steps)", file=sys.stderr)
            train(mom, run_dir, setting, cfg_path, a)
            results[name] = evals(run_dir)
        csv_path = os.path.join(a.out, f"{setting}.csv")
        with open(csv_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["variant", "step", "train_flops", "loss"] + [f"loss_{n}" for n in names])
            for name, rows in results.items():
                for step, flops, loss, by in rows:
                    w.writerow([name, step, f"{flops:.6g}", f"{loss:.5f}"] +
                               ["" if x is None else f"{x:.5f}" for x in by[:n_mod]])
        plot(os.path.join(a.out, f"{setting}.png"), csv_path, names, [v for v, _ in VARIANTS])
        dense = results["dense"]
        dense_flops = dense[-1][1]
        print(f"\n### {setting}: held-out loss after {a.steps} steps ({dense_flops:.3g} training FLOPs each)\n")
        print("| variant | " + " | ".join(names) + " | " +
              " | ".join(f"FLOPs to dense final {n}" for n in names) + " |")
        print("|---" * (1 + 2 * n_mod) + "|")
        for name, rows in results.items():
            final = rows[-1][3]
            fr = []
            for k in range(n_mod):
                hit = first_reach(rows, k, dense[-1][3][k])
                fr.append("-" if hit is None else f"{hit / dense_flops:.2f}")
            print(f"| {name} | " + " | ".join(f"{x:.4f}" for x in final[:n_mod]) + " | " + " | ".join(fr) + " |")
        print(f"\ncurves: {csv_path}, plot: {os.path.join(a.out, setting + '.png')}")


if __name__ == "__main__":
    main()
