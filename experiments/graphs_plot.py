#!/usr/bin/python3
"""experiments/graphs_plot.py — the graph runs' figures, from the per-epoch
logs results/graphs/<DS>_{graphcl,mvgrl}_<sampler>_s<seed>.csv
(experiments/graphs_run.sh; a run still in progress, only a .partial.csv,
is left out):

  docs/img/graphs_batches_graphcl.png, docs/img/graphs_batches_mvgrl.png
      per data set (columns) the batches' hardness (mean in-batch cosine of
      the stored embeddings), hardest-negative cosine and false-negative
      rate (share of same-label pairs) per epoch, one line per sampler:
      mean over seeds, shaded ± std over seeds.  Epoch 1 is the uniform
      warm-up for every sampler.
  docs/img/graphs_accuracy.png
      SVM accuracy per data set and sampler: GraphCL at epochs 10 and 20,
      MVGRL at its last epoch (20); one dot per seed, mean ± std over seeds
      as a bar, the published number as a dashed line.
  docs/img/graphs_tradeoff.png
      per kNN / rwr run, its hardness and false-negative rate (means over
      the epochs after the warm-up) minus those of the same seed's uniform
      run: the trade-off a sampler makes.

Usage: /usr/bin/python3 experiments/graphs_plot.py [results/graphs [docs/img]]
Needs matplotlib (Debian's python3-matplotlib); Agg backend, no display.
Each figure is written to a temporary name and renamed (atomic).
"""
import csv
import glob
import math
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DATASETS = ["MUTAG", "PTC", "PROTEINS", "NCI1", "IMDBBINARY", "IMDBMULTI"]
SHOWN = {"IMDBBINARY": "IMDB-B", "IMDBMULTI": "IMDB-M"}
SAMPLERS = [("uniform", "uniform", "tab:gray"), ("knn", "kNN", "tab:orange"),
            ("rwr", "BatchSampler (rwr)", "tab:blue")]
METHODS = ["graphcl", "mvgrl"]
STATS = [("mean_sim", "hardness\n(mean in-batch cos)"),
         ("hard_sim", "hardest negative\n(cos)"),
         ("fn_rate", "false-negative rate\n(same-label pairs)")]
# published: GraphCL (You et al. 2020) for uniform GraphCL, BatchSampler
# (Yang et al. 2023) for GraphCL w/ BatchSampler, MVGRL (Hassani &
# Khasahmadi 2020) for uniform MVGRL (the same numbers as graphs_report.py)
PUBLISHED = {
    ("graphcl", "uniform"): {"MUTAG": 86.80, "PROTEINS": 74.39, "NCI1": 77.87,
                             "IMDBBINARY": 71.14, "IMDBMULTI": 48.58},
    ("graphcl", "rwr"): {"MUTAG": 87.78, "PROTEINS": 75.04,
                         "IMDBBINARY": 71.90},
    ("mvgrl", "uniform"): {"MUTAG": 89.7, "PTC": 62.5, "IMDBBINARY": 74.2,
                           "IMDBMULTI": 51.2},
}


def load(root):
    """{(ds, method, sampler): {seed: {column: [per-epoch floats]}}}"""
    runs = {}
    for path in sorted(glob.glob(os.path.join(root, "*_s*.csv"))):
        m = re.match(r"(.+)_(graphcl|mvgrl)_(\w+)_s(\d+)\.csv$",
                     os.path.basename(path))
        if not m or path.endswith(".partial.csv"):
            continue
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            continue
        cols = {k: [float(r[k]) for r in rows] for k in rows[0]}
        runs.setdefault(m.group(1, 2, 3), {})[int(m.group(4))] = cols
    return runs


def mean_std(xs):
    mu = sum(xs) / len(xs)
    return mu, math.sqrt(sum((x - mu) ** 2 for x in xs) / len(xs))


def save(fig, path):
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    print("graphs_plot: wrote", path)


def batches_figure(runs, method, path):
    dss = [d for d in DATASETS
           if any((d, method, s) in runs for s, _, _ in SAMPLERS)]
    if not dss:
        return
    fig, axes = plt.subplots(len(STATS), len(dss), squeeze=False,
                             figsize=(2.9 * len(dss), 2.4 * len(STATS)))
    for c, ds in enumerate(dss):
        for r, (col, ylabel) in enumerate(STATS):
            ax = axes[r][c]
            for s, label, color in SAMPLERS:
                seeds = runs.get((ds, method, s), {})
                if not seeds:
                    continue
                n = min(len(v[col]) for v in seeds.values())
                ms = [mean_std([v[col][e] for v in seeds.values()])
                      for e in range(n)]
                x = list(range(1, n + 1))
                mu = [a for a, _ in ms]
                ax.plot(x, mu, color=color, lw=1.4,
                        label="%s (%d)" % (label, len(seeds)))
                ax.fill_between(x, [a - b for a, b in ms],
                                [a + b for a, b in ms], color=color,
                                alpha=0.2, lw=0)
            if r == 0:
                ax.set_title(SHOWN.get(ds, ds))
            if c == 0:
                ax.set_ylabel(ylabel, fontsize=9)
            if r == len(STATS) - 1:
                ax.set_xlabel("epoch")
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="best", title="sampler (seeds)",
                      title_fontsize=7)
    fig.suptitle("%s: batch statistics per epoch (mean ± std over seeds; "
                 "epoch 1 is the uniform warm-up)"
                 % {"graphcl": "GraphCL", "mvgrl": "MVGRL"}[method])
    fig.tight_layout()
    save(fig, path)


def final_accs(seeds, epoch):
    """{seed: accuracy in %} of the runs with an SVM row at epoch (1-based)"""
    out = {}
    for seed, v in seeds.items():
        if len(v["svm_acc"]) >= epoch and v["svm_acc"][epoch - 1] >= 0:
            out[seed] = 100 * v["svm_acc"][epoch - 1]
    return out


def accuracy_figure(runs, path):
    panels = [("graphcl", 10), ("graphcl", 20), ("mvgrl", 20)]
    fig, axes = plt.subplots(1, len(DATASETS), figsize=(2.9 * len(DATASETS),
                                                       3.4))
    for c, ds in enumerate(DATASETS):
        ax = axes[c]
        for p, (method, epoch) in enumerate(panels):
            for k, (s, label, color) in enumerate(SAMPLERS):
                x = p + (k - 1) * 0.25
                accs = final_accs(runs.get((ds, method, s), {}), epoch)
                if accs:
                    vals = list(accs.values())
                    mu, sd = mean_std(vals)
                    ax.errorbar([x], [mu], yerr=[sd], fmt="s", color=color,
                                ms=5, capsize=3,
                                label=label if c == 0 and p == 0 else None)
                    ax.scatter([x + 0.07] * len(vals), vals, s=6,
                               color=color, alpha=0.5)
                pub = PUBLISHED.get((method, s), {}).get(ds)
                if pub is not None and epoch == 20:
                    ax.plot([x - 0.1, x + 0.1], [pub, pub], "--",
                            color=color, lw=1.5)
        ax.set_xticks(range(len(panels)))
        ax.set_xticklabels(["GraphCL\nep. 10", "GraphCL\nep. 20",
                            "MVGRL\nep. 20"], fontsize=8)
        ax.set_title(SHOWN.get(ds, ds))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, axis="y")
        if c == 0:
            ax.set_ylabel("SVM accuracy (%), 10-fold")
    axes[0].plot([], [], "k--", lw=1.5, label="published")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("SVM accuracy: mean ± std over seeds (squares), one dot "
                 "per seed, published numbers dashed")
    fig.tight_layout()
    save(fig, path)


def post_warmup(v, col):
    xs = v[col][1:]
    return sum(xs) / len(xs) if xs else None


def tradeoff_figure(runs, path):
    """per run of kNN / rwr: (hardness, FN rate) minus the same seed's
    uniform run, so that the data sets' class balance cancels"""
    fig, axes = plt.subplots(1, len(METHODS), figsize=(11, 4.2),
                             squeeze=False)
    markers = dict(zip(DATASETS, "o^sDvP"))
    for c, method in enumerate(METHODS):
        ax = axes[0][c]
        ax.axhline(0, color="k", lw=0.6)
        ax.axvline(0, color="k", lw=0.6)
        for ds in DATASETS:
            base = runs.get((ds, method, "uniform"), {})
            for s, label, color in SAMPLERS[1:]:
                pts = []
                for seed, v in runs.get((ds, method, s), {}).items():
                    u = base.get(seed)
                    if u is None or len(v["mean_sim"]) < 2 or \
                            len(u["mean_sim"]) < 2:
                        continue
                    pts.append((post_warmup(v, "mean_sim") -
                                post_warmup(u, "mean_sim"),
                                post_warmup(v, "fn_rate") -
                                post_warmup(u, "fn_rate")))
                if pts:
                    ax.scatter([p[0] for p in pts], [p[1] for p in pts],
                               color=color, marker=markers[ds], s=24,
                               alpha=0.8)
        ax.set_title({"graphcl": "GraphCL", "mvgrl": "MVGRL"}[method])
        ax.set_xlabel("hardness − uniform's (mean in-batch cosine)")
        ax.set_ylabel("false-negative rate − uniform's")
        ax.grid(alpha=0.3)
    h = [plt.Line2D([], [], color=col, marker="o", ls="", label=lab)
         for _, lab, col in SAMPLERS[1:]]
    h += [plt.Line2D([], [], color="k", marker=markers[d], ls="",
                     label=SHOWN.get(d, d)) for d in DATASETS]
    axes[0][-1].legend(handles=h, fontsize=7, loc="center left",
                       bbox_to_anchor=(1.01, 0.5))
    fig.suptitle("Harder batches, more false negatives: one point per run, "
                 "minus the same seed's uniform run (epochs 2-20)")
    fig.tight_layout()
    save(fig, path)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "results/graphs"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/img"
    runs = load(root)
    if not runs:
        sys.exit("graphs_plot: no finished runs (*.csv) in %s" % root)
    os.makedirs(out, exist_ok=True)
    for method in METHODS:
        batches_figure(runs, method,
                       os.path.join(out, "graphs_batches_%s.png" % method))
    accuracy_figure(runs, os.path.join(out, "graphs_accuracy.png"))
    tradeoff_figure(runs, os.path.join(out, "graphs_tradeoff.png"))


if __name__ == "__main__":
    main()
