#!/usr/bin/env python3
"""The dense-vs-Mixture-of-Mamba experiment of the paper, on the built-in data,
over several seeds and two model sizes.

For each setting (chameleon: text + image; three: text + image + speech;
transfusion: text + images as patches with a diffusion loss), each size
(small: the config mom train picks for the built-in data; large: the same
with d_model doubled, 3.2-3.4x the training FLOPs per token on the built-in data) and each seed it
trains, on the same data and token budget: the dense model, the ablations
that decouple one projection alone (in, x, dt, out), and Mixture-of-Mamba
(all four). The held-out loss of each modality (for transfusion the image
"loss" is the diffusion noise MSE) is logged against cumulative training
FLOPs (equal per token for every variant), on the same fixed prefix of the
held-out split at every evaluation.

It reports, per setting and size: the final held-out loss of each variant
(mean +- sd over seeds) and the paper's metric, the fraction of the dense
model's training FLOPs at which each variant first reaches the dense model's
final held-out loss (linear between evaluations; "-" when it never does),
both per seed (against the same seed's dense model) and from the mean
curves; plus the evaluation's own noise (from the two halves of one
evaluation of each seed's final dense model) and the wall-clock times.

    python3 tools/scripts/experiment.py --mom build/tools/mom --seeds 3

Writes to --out (default docs/experiment), for each SETTING-SIZE:
SETTING-SIZE.seeds.csv (every evaluation of every seed), SETTING-SIZE.csv
(mean and sd over seeds), SETTING-SIZE.png (mean curves with +-1 sd bands),
and one summary.md with every table, also printed to stdout. The run
folders (checkpoints, data) go to --work (default ./experiment-runs), never
into --out, which is meant to be committed. Needs gnuplot
(apt-get install gnuplot-nox).
"""
import argparse, csv, json, math, os, shutil, statistics, subprocess, sys, time

VARIANTS = [("dense", []), ("in", ["in"]), ("x", ["x"]), ("dt", ["dt"]), ("out", ["out"]),
            ("mom", ["in", "x", "dt", "out"])]
SIZES = ("small", "large")
MODALITIES = ["text", "image", "speech"]
IMAGE = 1  # index of the image modality in every setting


def die(msg):
    sys.exit(f"experiment: {msg}")


def mom_run(cmd):
    """Runs a mom command and returns its stdout; on failure shows why (its
    stderr is kept only then: training prints progress lines we don't want)."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode:
        die(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p.stdout


def threads(a):
    return ["--threads", str(a.threads)] if a.threads else []


def base_config(mom, work, setting, a):
    """One step without a config: the model config the built-in data gets
    (vocabulary, modalities, layout), the base of every variant and size.
    One evaluation batch: its loss is not read."""
    base_dir = os.path.join(work, setting, "base")
    if os.path.exists(base_dir):
        shutil.rmtree(base_dir)
    mom_run([mom, "train", "--setting", setting, "--steps", "1", "--eval-batches", "1", "--out", base_dir] +
            threads(a))
    with open(os.path.join(base_dir, "config.json")) as f:
        return json.load(f)


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f)


def write_text(path, text):
    with open(path, "w") as f:
        f.write(text)


def size_config(base, size):
    """large: d_model doubled, so d_inner doubles too (4x the FLOPs of
    in_proj and out_proj; 3.2-3.4x a token's in all on the built-in data),
    with dt_rank following it as Mamba's ceil(d_model / 16)."""
    if size == "small":
        return dict(base)
    d = 2 * base["d_model"]
    return dict(base, d_model=d, dt_rank=math.ceil(d / 16))


def model_info(mom, cfg_path):
    """What mom info says of a config (JSON), or {} when it says nothing."""
    p = subprocess.run([mom, "info", "--config", cfg_path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True)
    try:
        return json.loads(p.stdout)
    except ValueError:
        return {}


def flops_per_token(info):
    """Training FLOPs per token from mom info's answer, or None when it
    can't say (then the summary falls back to the runs' train_flops /
    tokens)."""
    v = info.get("train_flops_per_token")
    return None if v is None else float(v)


def train(mom, run_dir, setting, cfg_path, seed, a):
    if os.path.exists(run_dir):
        shutil.rmtree(run_dir)
    mom_run([mom, "train", "--setting", setting, "--config", cfg_path, "--steps", str(a.steps),
             "--batch", str(a.batch), "--seq", str(a.seq), "--seed", str(seed), "--eval-every", str(a.eval_every),
             "--eval-batches", str(a.eval_batches), "--out", run_dir] + threads(a))


def evals(run_dir):
    """Rows (step, train_flops, loss, [loss by modality], [targets by modality])."""
    rows = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            d = json.loads(line)
            if "eval" in d:
                e = d["eval"]
                rows.append((d["step"], d["train_flops"], e["loss"], e["loss_by_modality"],
                             e["targets_by_modality"]))
    return rows


def first_reach(rows, k, target):
    """FLOPs at which modality k's held-out loss first reaches target.
    rows: (step, flops, loss, [loss by modality], ...), of one seed or the mean."""
    prev = None
    for row in rows:
        flops, cur = row[1], row[3][k]
        if cur is not None and cur <= target:
            if prev is None or prev[1] is None:
                return flops
            f0, l0 = prev
            return f0 + (flops - f0) * (l0 - target) / (l0 - cur)  # l0 > target >= cur
        prev = (flops, cur)
    return None


def mean_sd(xs):
    """(mean, sample sd, n) of the values that exist; sd 0 with one value,
    so a band of one seed draws as the line itself."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None, 0
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0, len(xs)


def rms(xs):
    """Root mean square of the values that exist: the pooled standard error
    of several estimates of one (averaging them would read low)."""
    xs = [x for x in xs if x is not None]
    return math.sqrt(sum(x * x for x in xs) / len(xs)) if xs else None


def fmt_ms(xs, digits):
    m, sd, n = mean_sd(xs)
    if n == 0:
        return "-"
    return f"{m:.{digits}f}" if n == 1 else f"{m:.{digits}f} +- {sd:.{digits}f}"


def mean_curve(seed_rows, n_mod):
    """The seeds' curves of one variant as one: rows (step, flops, loss mean,
    [mean by modality], [sd by modality], n_seeds). Every seed evaluates at
    the same steps, so rows align by position."""
    out = []
    for same in zip(*seed_rows, strict=True):
        if len({r[0] for r in same}) != 1:
            die(f"seeds evaluated at different steps: {[r[0] for r in same]}")
        by = [mean_sd([r[3][k] for r in same]) for k in range(n_mod)]
        out.append((same[0][0], same[0][1], mean_sd([r[2] for r in same])[0], [b[0] for b in by],
                    [b[1] for b in by], len(same)))
    return out


def last_is_lowest(rows, k):
    vals = [r[3][k] for r in rows if r[3][k] is not None]
    return bool(vals) and rows[-1][3][k] is not None and rows[-1][3][k] <= min(vals)


def num(x, spec):
    return "" if x is None else format(x, spec)


def write_seeds_csv(path, results, seeds, names):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "seed", "step", "train_flops", "loss"] + [f"loss_{n}" for n in names])
        for v, _ in VARIANTS:
            for s in seeds:
                for step, flops, loss, by, _t in results[s][v]:
                    w.writerow([v, s, step, f"{flops:.6g}", num(loss, ".5f")] +
                               [num(x, ".5f") for x in by[:len(names)]])


def write_mean_csv(path, means, names):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "step", "train_flops"] +
                   [c for n in names for c in (f"loss_{n}_mean", f"loss_{n}_sd")] + ["n_seeds"])
        for v, _ in VARIANTS:
            for step, flops, _l, by, sd, n in means[v]:
                w.writerow([v, step, f"{flops:.6g}"] +
                           [c for k in range(len(names)) for c in (num(by[k], ".5f"), num(sd[k], ".5f"))] + [n])


def plot(path_png, csv_path, labels, title, from_step):
    """One panel per modality: each variant's mean curve over a translucent
    +-1 sd band of the same colour, from the evaluation at from_step on:
    the steep first evaluations would squeeze the part where the variants
    differ into a few pixels."""
    panels = []
    for k, label in enumerate(labels):
        m, sd = 4 + 2 * k, 5 + 2 * k
        parts = []
        for i, (v, _) in enumerate(VARIANTS, 1):
            x = f"(strcol(1) eq '{v}' && $2 >= {from_step} ? $3 / 1e12 : 1/0)"
            parts.append(f"'{csv_path}' using {x}:(${m}-${sd}):(${m}+${sd}) "
                         f"with filledcurves fs transparent solid 0.2 noborder lc {i} notitle")
            parts.append(f"'{csv_path}' using {x}:{m} with linespoints lc {i} pt 7 ps 0.5 title '{v}'")
        panels.append(f"set title 'held-out {label} loss'\nplot " + ", \\\n  ".join(parts) + "\n")
    script = (f"set terminal png truecolor size {420 * len(labels)},400\nset output '{path_png}'\n"
              "set datafile separator ','\nset key top right\nset xlabel 'training FLOPs (10^{12})'\n"
              "set ylabel 'held-out loss'\n"
              f"set multiplot layout 1,{len(labels)} title '{title}'\n" + "".join(panels) + "unset multiplot\n")
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def mom_eval(mom, run_dir, k_batches, a):
    out = mom_run([mom, "eval", "--model", os.path.join(run_dir, "model.safetensors"),
                   "--data", os.path.join(run_dir, "data", "val.bin"), "--batch", str(a.batch), "--seq", str(a.seq),
                   "--max-batches", str(k_batches)] + threads(a))
    return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])


def eval_spread(mom, run_dir, last, a, n_mod):
    """The noise of one evaluation of this model: its run's last evaluation
    (last, an evals() row: the whole, K batches), the first half (K/2
    batches, mom eval: the same prefix of the held-out file), the second
    half by target-weighted difference. With per-target variance v, L1 - L2 has variance
    v (1/n1 + 1/n2) and the whole's mean v / n, so |L1 - L2| sqrt(n1 n2) / n
    estimates that mean's standard error (half the gap for equal halves).
    None where it can't be split."""
    if a.eval_batches < 2:
        return [None] * n_mod
    half = mom_eval(mom, run_dir, a.eval_batches // 2, a)
    se = []
    for k in range(n_mod):
        lw, l1 = last[3][k], half["loss_by_modality"][k]
        nw, n1 = last[4][k], half["targets_by_modality"][k]
        if lw is None or l1 is None or n1 <= 0 or nw - n1 <= 0:
            se.append(None)
            continue
        l2 = (lw * nw - l1 * n1) / (nw - n1)
        se.append(abs(l1 - l2) * math.sqrt(n1 * (nw - n1)) / nw)
    return se


class Progress:
    """One stderr line per run, with the time left estimated from the work
    done so far, each run weighted by its FLOPs per token (a rough guide:
    a large run took about 2.3 small ones' time, for 3.2-3.4x the FLOPs)."""

    def __init__(self, weights):
        self.total, self.done, self.i, self.n = sum(weights), 0.0, 0, len(weights)
        self.t0 = time.time()

    def start(self, label):
        self.i += 1
        elapsed = time.time() - self.t0
        left = f", about {elapsed / self.done * (self.total - self.done) / 60:.0f} min left" if self.done else ""
        print(f"[{self.i}/{self.n}] {label} ({elapsed / 60:.1f} min elapsed{left})", file=sys.stderr, flush=True)

    def finish(self, weight):
        self.done += weight


def params_line(params):
    """The dense and Mixture-of-Mamba parameter counts, in all and active
    per token, from mom info."""
    def count(v):
        info = params.get(v, {})
        n, active = info.get("n_params"), info.get("n_params_active_per_token")
        if n is None:
            return "?"
        return f"{n / 1e6:.2f}M" + ("" if active in (None, n) else f" ({active / 1e6:.2f}M active per token)")

    return f"- parameters: dense {count('dense')}, Mixture-of-Mamba {count('mom')}"


def section(setting, size, a, seeds, cfg, fpt_small, params, results, means, labels, spread, targets, wall, files):
    """The markdown for one setting and size: the lines that describe the
    runs, then the table."""
    n_mod = len(labels)
    dense_s = [results[s]["dense"] for s in seeds]
    tokens = a.steps * a.batch * a.seq
    run_flops = dense_s[0][-1][1]
    fpt = flops_per_token(params["dense"])
    if fpt is None:  # mom info said nothing: what the runs counted
        fpt = run_flops / tokens
    ratio = f", {fpt / fpt_small:.2f}x the small model's" if size == "large" and fpt_small else ""
    lines = [f"## {setting}, {size}", "",
             f"- model: d_model {cfg['d_model']}, n_layer {cfg['n_layer']}, dt_rank {cfg['dt_rank']}; "
             f"{fpt:.4g} training FLOPs per token{ratio}", params_line(params),
         f"- {a.steps} steps of batch {a.batch} x seq {a.seq}: {tokens} tokens and {run_flops:.4g} "
         f"training FLOPs per run; seeds {', '.join(map(str, seeds))}; evaluated every {a.eval_every} steps",
         f"- held-out targets per evaluation ({a.eval_batches} batches, the same prefix of the held-out split "
         "each time): " + ", ".join(f"{labels[k]} {targets[k]}" for k in range(n_mod)),
         "- evaluation spread (standard error of one evaluation, from the gap between its two halves; "
         "root mean square over the seeds' final dense models): " +
         ", ".join(f"{labels[k]} {num(rms([sp[k] for sp in spread]), '.4f') or '-'}" for k in range(n_mod))]
    per_seed = ", ".join(f"seed {s} {'yes' if last_is_lowest(r, IMAGE) else 'no'}" for s, r in zip(seeds, dense_s))
    mean_lowest = "yes" if last_is_lowest(means["dense"], IMAGE) else "no"
    lines.append(f"- dense image loss lowest at last eval: {mean_lowest} (mean curve; {per_seed})")
    lines += [f"- wall clock: {wall / 60:.1f} min", f"- files: {', '.join(files)}", ""]
    head = ([f"final {l} (mean +- sd)" for l in labels] + [f"FLOPs fraction {l}, per seed (k/n)" for l in labels] +
            [f"{l}, from mean curves" for l in labels])
    lines += ["| variant | " + " | ".join(head) + " |", "|---" * (1 + 3 * n_mod) + "|"]
    dense_mean = means["dense"]
    for v, _ in VARIANTS:
        final = [fmt_ms([results[s][v][-1][3][k] for s in seeds], 4) for k in range(n_mod)]
        frac, from_mean = [], []
        for k in range(n_mod):
            hits = []
            for s, d in zip(seeds, dense_s):
                t = d[-1][3][k]
                hit = None if t is None else first_reach(results[s][v], k, t)
                hits.append(None if hit is None else hit / d[-1][1])
            reached = sum(h is not None for h in hits)
            frac.append(f"{fmt_ms(hits, 2)} ({reached}/{len(seeds)})")
            t = dense_mean[-1][3][k]
            hit = None if t is None else first_reach(means[v], k, t)
            from_mean.append("-" if hit is None else f"{hit / dense_mean[-1][1]:.2f}")
        lines.append(f"| {v} | " + " | ".join(final + frac + from_mean) + " |")
    return lines + [""]


def header(a, seeds, sizes, settings):
    return ["# Dense vs Mixture-of-Mamba on the built-in data", "",
            "`python3 tools/scripts/experiment.py " + " ".join(sys.argv[1:]) + "`", "",
            f"Settings {', '.join(settings)}; sizes {', '.join(sizes)} (large: d_model doubled); "
            f"{len(seeds)} seeds; variants {', '.join(v for v, _ in VARIANTS)} (mom: Mixture-of-Mamba). "
            "sd is the sample standard deviation over seeds. The FLOPs fraction is where a variant first "
            "reaches the dense model's final held-out loss, over the dense model's training FLOPs (linear "
            "between evaluations; per seed against the same seed's dense model, with k/n the seeds where it "
            "is reached; from mean curves: the mean variant curve against the mean dense curve's final value). "
            "For transfusion the image loss is the diffusion noise MSE.", ""]


def run_setting_size(mom, a, setting, size, cfg_paths, cfg, params, fpt_small, seeds, progress):
    """Trains every seed and variant of one setting and size, writes its
    CSVs and plot, and returns its summary lines."""
    t0 = time.time()
    fpt = flops_per_token(params["dense"])
    n_mod = cfg["n_modalities"]
    names = MODALITIES[:n_mod]
    labels = [n + " (MSE)" if setting == "transfusion" and n == "image" else n for n in names]
    results = {}
    for s in seeds:
        results[s] = {}
        for v, _ in VARIANTS:
            progress.start(f"{setting} {size} seed {s} {v}")
            run_dir = os.path.join(a.work, setting, size, f"seed{s}", v)
            train(mom, run_dir, setting, cfg_paths[v], s, a)
            results[s][v] = evals(run_dir)
            progress.finish(fpt or 1.0)
    spread = [eval_spread(mom, os.path.join(a.work, setting, size, f"seed{s}", "dense"), results[s]["dense"][-1], a,
                          n_mod) for s in seeds]
    means = {v: mean_curve([results[s][v] for s in seeds], n_mod) for v, _ in VARIANTS}
    stem = os.path.join(a.out, f"{setting}-{size}")
    write_seeds_csv(stem + ".seeds.csv", results, seeds, names)
    write_mean_csv(stem + ".csv", means, names)
    eval_steps = [row[0] for row in means["dense"]]
    from_step = eval_steps[2] if len(eval_steps) > 3 else eval_steps[0]  # the third evaluation on
    plot(stem + ".png", stem + ".csv", labels, f"{setting}, {size}: mean of {len(seeds)} seeds, band +-1 sd, "
         f"from step {from_step}", from_step)
    files = [os.path.basename(stem) + e for e in (".csv", ".seeds.csv", ".png")]
    targets = results[seeds[0]]["dense"][-1][4]
    return section(setting, size, a, seeds, cfg, fpt_small, params, results, means, labels, spread, targets,
                   time.time() - t0, files)


def inside(path, folder):
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return os.path.commonpath([path, folder]) == folder


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mom", default="build/tools/mom")
    ap.add_argument("--out", default="docs/experiment", help="CSVs, PNGs and summary.md (committed)")
    ap.add_argument("--work", default="experiment-runs", help="run folders (not committed)")
    ap.add_argument("--settings", default="chameleon,three,transfusion")
    ap.add_argument("--sizes", default="small,large")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--eval-batches", type=int, default=16, help="held-out batches per evaluation (a fixed prefix)")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    settings, sizes, seeds = a.settings.split(","), a.sizes.split(","), list(range(a.seeds))
    if any(s not in SIZES for s in sizes) or not seeds:
        die(f"--sizes takes {','.join(SIZES)}; --seeds at least 1")
    if inside(a.work, a.out):
        die(f"--work {a.work} is inside --out {a.out}: run folders must stay out of it")
    mom = os.path.abspath(a.mom)
    t0 = time.time()
    os.makedirs(a.out, exist_ok=True)
    # Every config first, so the progress line can weigh the runs to come.
    plan = []
    for setting in settings:
        base = base_config(mom, a.work, setting, a)
        fpt_small = None
        for size in sizes:
            cfg = size_config(base, size)
            paths = {}
            for v, decouple in VARIANTS:
                paths[v] = os.path.join(a.work, setting, size, f"{v}.json")
                os.makedirs(os.path.dirname(paths[v]), exist_ok=True)
                write_json(paths[v], dict(cfg, decouple=decouple))
            params = {v: model_info(mom, paths[v]) for v in ("dense", "mom")}
            # The large model's ratio is against the small one of its setting,
            # even when --sizes leaves small out.
            if size == "small":
                fpt_small = flops_per_token(params["dense"])
            elif fpt_small is None:
                tmp = os.path.join(a.work, setting, "small-dense.json")
                write_json(tmp, size_config(base, "small"))
                fpt_small = flops_per_token(model_info(mom, tmp))
            plan.append((setting, size, paths, cfg, params, fpt_small))
    progress = Progress([flops_per_token(p[4]["dense"]) or 1.0 for p in plan for _ in seeds for _ in VARIANTS])
    lines = header(a, seeds, sizes, settings)
    print("\n".join(lines))
    for setting, size, paths, cfg, params, fpt_small in plan:
        sec = run_setting_size(mom, a, setting, size, paths, cfg, params, fpt_small, seeds, progress)
        print("\n".join(sec), flush=True)
        lines += sec
        # Written after each part, so an interrupted experiment keeps what it did.
        write_text(os.path.join(a.out, "summary.md"), "\n".join(lines) + "\n")
    tail = f"Whole experiment: {(time.time() - t0) / 60:.1f} min wall clock."
    print(tail)
    write_text(os.path.join(a.out, "summary.md"), "\n".join(lines + [tail]) + "\n")


if __name__ == "__main__":
    main()
