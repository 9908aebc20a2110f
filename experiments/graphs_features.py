#!/usr/bin/env python3
"""experiments/graphs_features.py — MVGRL with the reference's node features
(issue 9) against label-only features, by seed, at epoch 20, uniform
batches, h 64 (docs/graphs.md, "The reference's node features"):

  reference  results/graphs_probe/<DS>_mvgrl_uniform_refeat_h64_e20_s<k>.csv
             (experiments/graphs_probe.sh, probe refeat: --features auto)
  label-only results/graphs_labelonly/<DS>_mvgrl_uniform_s<k>.csv (the
             table's runs before issue 9)
  pair tag   results/graphs_probe/<DS>_mvgrl_uniform_tagdeg_h64_e20_s<k>.csv
             (probe features: the (label, degree) pair as one tag)

Prints a markdown table per data set (MUTAG, PTC): accuracy mean ± std
(population, as graphs_report.py) and the paired difference reference minus
each (mean ± sample std, seeds ahead, t).  Usage: /usr/bin/python3
experiments/graphs_features.py"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import graphs_report as gr  # noqa: E402

PROBE = "results/graphs_probe"
VARIANTS = [
    ("reference features (auto)", PROBE, "uniform_refeat_h64_e20"),
    ("label only (the former default)", "results/graphs_labelonly",
     "uniform"),
    ("(label, degree) pair as one tag (probe)", PROBE,
     "uniform_tagdeg_h64_e20"),
]
PATTERN = r"(.+)_(mvgrl)_(\w+?)_s(\d+)\.csv$"


def at20(root, ds, variant):
    return gr.accs(gr.load(root, PATTERN), (ds, "mvgrl", variant), 20)


def paired(ref, other):
    seeds = sorted(set(ref) & set(other))
    d = [ref[s] - other[s] for s in seeds]
    if len(d) < 2:
        return "–"
    mu = sum(d) / len(d)
    sd = math.sqrt(sum((x - mu) ** 2 for x in d) / (len(d) - 1))
    t = mu / (sd / math.sqrt(len(d))) if sd > 0 else float("inf")
    return "%+.2f ± %.2f (%d), %d/%d ahead, t %.1f" % (
        mu, sd, len(d), sum(x > 0 for x in d), len(d), t)


def main():
    for ds in ("MUTAG", "PTC"):
        runs = [at20(root, ds, v) for _, root, v in VARIANTS]
        print("| %s, uniform, epoch 20 | accuracy | reference minus it |" % ds)
        print("|---|---|---|")
        for (name, _, _), acc in zip(VARIANTS, runs):
            diff = "" if acc is runs[0] else paired(runs[0], acc)
            print("| %s | %s | %s |" % (name, gr.fmt(list(acc.values())),
                                        diff))
        print()


if __name__ == "__main__":
    main()
