#!/usr/bin/env python3
"""simclr_report.py — tables and plots of docs/simclr.md from the runs of
experiments/simclr.sh (results/simclr/<name>_s<seed>.{csv,out}).

    /usr/bin/python3 experiments/simclr_report.py [RESULTS_DIR [IMG_DIR]]

Prints Markdown tables (mean +- sample std over seeds) and writes
simclr_knn.png, simclr_hardness.png and simclr_fn.png into IMG_DIR
(default docs/img)."""
import collections
import csv
import glob
import os
import re
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
res_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "results", "simclr")
img_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "docs", "img")


def parse_out(path):
    text = open(path).read()
    d = {}
    m = re.search(r"kNN top-1 ([\d.]+)%", text)
    d["knn"] = float(m.group(1)) if m else None
    m = re.search(r"linear probe top-1 ([\d.]+)%", text)
    d["probe"] = float(m.group(1)) if m else None
    m = re.search(r"hardness ([-\d.]+)\s+hardest negative ([-\d.]+)\s+"
                  r"false negatives ([-\d.]+)", text)
    if m:
        d["hard"], d["hardest"], d["fn"] = map(float, m.groups())
    m = re.search(r"time: ([\d.]+) s total, ([\d.]+) s graph \+ sampling", text)
    if m:
        d["total_s"], d["sampler_s"] = map(float, m.groups())
    return d


runs = collections.defaultdict(dict)  # name -> seed -> (summary, rows)
for out in sorted(glob.glob(os.path.join(res_dir, "*_s*.out"))):
    base = os.path.basename(out)[:-4]
    name, seed = base.rsplit("_s", 1)
    rows = list(csv.DictReader(open(out[:-4] + ".csv")))
    runs[name][int(seed)] = (parse_out(out), rows)


def ms(vals, digits=2):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return (f"{statistics.mean(vals):.{digits}f} ± "
            f"{statistics.stdev(vals):.{digits}f}")


def table(names, title):
    print(f"\n{title}\n")
    print("| batches | seeds | kNN top-1 (%) | linear probe top-1 (%) | "
          "hardness | hardest neg. | false-neg. rate | graph+sampling share |")
    print("|---|---|---|---|---|---|---|---|")
    for n in names:
        if n not in runs:
            continue
        s = [v[0] for v in runs[n].values()]
        share = [100 * x["sampler_s"] / x["total_s"] for x in s
                 if x.get("total_s")]
        print(f"| {n} | {len(s)} | {ms([x['knn'] for x in s])} | "
              f"{ms([x['probe'] for x in s])} | "
              f"{ms([x.get('hard') for x in s], 3)} | "
              f"{ms([x.get('hardest') for x in s], 3)} | "
              f"{ms([x.get('fn') for x in s], 3)} | {ms(share)}% |")


table(["uniform", "knn", "rwr"], "InfoNCE (SimCLR):")
table(["uniform-dcl", "rwr-dcl", "uniform-hcl", "rwr-hcl"], "DCL and HCL:")
table(["rwr-M200", "rwr", "rwr-M4000", "rwr-K20", "rwr-a0.5", "rwr-a0.9",
       "rwr-t25", "rwr-w3"],
      "BatchSampler sweep (seed 0 for the variants; rwr: M 1000, K 100, "
      "alpha 0.2, t 100, 1 warm-up epoch):")


def curve(name, col):
    per_seed = [[float(r[col]) for r in rows] for _, rows in runs[name].values()]
    n = min(len(c) for c in per_seed)
    mean = [statistics.mean(c[i] for c in per_seed) for i in range(n)]
    lo = [min(c[i] for c in per_seed) for i in range(n)]
    hi = [max(c[i] for c in per_seed) for i in range(n)]
    return list(range(1, n + 1)), mean, lo, hi


os.makedirs(img_dir, exist_ok=True)
plots = [("knn_top1", "kNN top-1 (test)", "simclr_knn.png", 100),
         ("mean_sim", "batch hardness (mean in-batch cosine)",
          "simclr_hardness.png", 1),
         ("fn_rate", "false-negative rate (same-class pairs)",
          "simclr_fn.png", 1)]
for col, label, fname, scale in plots:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in ["uniform", "knn", "rwr", "uniform-dcl", "rwr-dcl",
                 "uniform-hcl", "rwr-hcl"]:
        if name not in runs:
            continue
        x, m, lo, hi = curve(name, col)
        style = "--" if "-" in name else "-"
        ax.plot(x, [v * scale for v in m], style, label=name)
        if len(runs[name]) > 1:
            ax.fill_between(x, [v * scale for v in lo], [v * scale for v in hi],
                            alpha=0.15)
    ax.set_xlabel("epoch")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(img_dir, fname), dpi=110)
    plt.close(fig)
print(f"\nplots written to {img_dir}")
