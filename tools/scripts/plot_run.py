#!/usr/bin/env python3
"""A picture of one or more training runs: the loss of each modality against
steps (top row) and against training FLOPs (bottom row), the training loss as
lines and the held-out evaluations as points, from each run folder's
metrics.jsonl. Several folders draw on the same axes, one colour each.

    python3 tools/scripts/plot_run.py RUN_DIR [RUN_DIR ...] [--out PNG]

The picture goes to RUN_DIR/loss.png (the first folder's, with several)
unless --out says otherwise. Needs gnuplot (apt-get install gnuplot-nox).
"""
import argparse, json, os, subprocess, sys, tempfile

NAMES = ["text", "image", "speech"]


def modality_names(run_dir, n_mod):
    """The names mom train prints: text, image, speech where the model has a
    vocabulary layout, m0, m1, ... otherwise."""
    try:
        config = json.load(open(os.path.join(run_dir, "config.json")))
    except (OSError, ValueError):
        config = {}
    if "vocab_layout" in config:
        return [NAMES[k] if k < 3 else f"m{k}" for k in range(n_mod)]
    return [f"m{k}" for k in range(n_mod)]


def read_metrics(run_dir):
    """(train, evals): {step: (flops, [loss per modality])} each. A step logged
    twice (a run killed after it, then resumed from an earlier checkpoint)
    keeps its last line, the one the resumed run wrote."""
    path = os.path.join(run_dir, "metrics.jsonl")
    train, evals = {}, {}
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        sys.exit(f"plot_run: {path}: {e.strerror}")
    for number, line in enumerate(lines, 1):
        try:
            d = json.loads(line)
        except ValueError:
            sys.exit(f"plot_run: {path}:{number}: not a JSON line: {line[:60]}")
        if "eval" in d:
            evals[d["step"]] = (d["train_flops"], d["eval"]["loss_by_modality"])
        elif "loss_by_modality" in d:
            train[d["step"]] = (d["train_flops"], d["loss_by_modality"])
    if not train and not evals:
        sys.exit(f"plot_run: {path}: no step or evaluation lines")
    return train, evals


def write_table(path, rows, n_mod):
    """step flops loss_0 .. loss_{n-1}, '?' where a modality had no targets."""
    with open(path, "w") as f:
        for step in sorted(rows):
            flops, by = rows[step]
            cells = ["?" if k >= len(by) or by[k] is None else f"{by[k]:.6g}" for k in range(n_mod)]
            f.write(f"{step} {flops:.6g} " + " ".join(cells) + "\n")


def main():
    ap = argparse.ArgumentParser(description="Loss curves of mom train runs (gnuplot).")
    ap.add_argument("runs", nargs="+", metavar="RUN_DIR")
    ap.add_argument("--out", help="the PNG (default: RUN_DIR/loss.png of the first run)")
    a = ap.parse_args()
    out = a.out or os.path.join(a.runs[0], "loss.png")
    runs = [(d, *read_metrics(d)) for d in a.runs]
    n_mod = max(len(by) for _, train, evals in runs for _, by in list(train.values()) + list(evals.values()))
    names = modality_names(a.runs[0], n_mod)
    with tempfile.TemporaryDirectory() as tmp:
        series = []
        for i, (d, train, evals) in enumerate(runs):
            label = os.path.basename(os.path.normpath(d)).replace("_", "\\\\_")
            tp, ep = os.path.join(tmp, f"train{i}.dat"), os.path.join(tmp, f"eval{i}.dat")
            write_table(tp, train, n_mod)
            write_table(ep, evals, n_mod)
            series.append((label, tp, ep, bool(train), bool(evals)))
        panels = []
        for x_col, x_label in ((1, "step"), (2, "training FLOPs (10^{12})")):
            x = "1" if x_col == 1 else "($2/1e12)"
            for k, name in enumerate(names):
                plots = []
                for i, (label, tp, ep, has_train, has_eval) in enumerate(series):
                    if has_train:
                        plots.append(f"'{tp}' using {x}:{3 + k} with lines lc {i + 1} title '{label} train'")
                    if has_eval:
                        plots.append(f"'{ep}' using {x}:{3 + k} with points pt 7 lc {i + 1} title '{label} held-out'")
                panels.append(f"set title '{name} loss'\nset xlabel '{x_label}'\nplot " + ", ".join(plots) + "\n")
        script = (f"set terminal png size {420 * n_mod},760\nset output '{out}'\nset datafile missing '?'\n"
                  "set key top right\nset ylabel 'loss (log scale)'\nset logscale y\n"
                  f"set multiplot layout 2,{n_mod}\n" + "".join(panels) + "unset multiplot\n")
        try:
            subprocess.run(["gnuplot"], input=script, text=True, check=True)
        except FileNotFoundError:
            sys.exit("plot_run: gnuplot is not installed (apt-get install gnuplot-nox)")
    print(out)


if __name__ == "__main__":
    main()
