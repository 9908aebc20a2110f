#!/usr/bin/python3
"""experiments/graphs_report.py — the graph table from
results/graphs/<DS>_{graphcl,mvgrl}_<sampler>_s<seed>.{csv,txt}
(experiments/graphs_run.sh).  Markdown on stdout:

1. the table in the paper's layout: rows GraphCL, w/ kNN, w/ BatchSampler,
   MVGRL, w/ kNN, w/ BatchSampler; columns the six data sets; SVM accuracy
   after the last epoch (20) as mean ± std over the finished seeds (std
   over seeds, np.std as GraphCL reports; the seed count in brackets), the
   published numbers in the rows below ours;
2. the samplers minus uniform, paired by seed (the same seed's uniform run
   is the baseline, so the seed's own luck cancels), with the number of
   seeds where the sampler is ahead;
3. GraphCL at epoch 10 (the reference's other evaluation);
4. the batches: hardness (mean in-batch cosine), hardest-negative cosine,
   false-negative rate (same-label pairs), means over the epochs after the
   warm-up (the .txt summaries), then over seeds;
5. time per run and the sampler's share of it (the .txt `time:` lines);
With --probe [DIR] (default results/graphs_probe) it prints instead the
MVGRL-gap probe's runs (docs/graphs.md): accuracy per evaluated epoch.

A run still in progress (only a .partial.csv) is left out; a cell without
finished runs prints "–".
Usage: /usr/bin/python3 experiments/graphs_report.py [results/graphs]
       /usr/bin/python3 experiments/graphs_report.py --probe [DIR]
"""
import glob
import math
import os
import re
import sys

DATASETS = ["MUTAG", "PTC", "PROTEINS", "NCI1", "IMDBBINARY", "IMDBMULTI"]
SHOWN = {"IMDBBINARY": "IMDB-B", "IMDBMULTI": "IMDB-M"}
SAMPLERS = ["uniform", "knn", "rwr"]
LABEL = {("graphcl", "uniform"): "GraphCL",
         ("graphcl", "knn"): "GraphCL w/ kNN sampler",
         ("graphcl", "rwr"): "GraphCL w/ BatchSampler",
         ("mvgrl", "uniform"): "MVGRL",
         ("mvgrl", "knn"): "MVGRL w/ kNN sampler",
         ("mvgrl", "rwr"): "MVGRL w/ BatchSampler"}
# GraphCL (You et al. 2020), GraphCL w/ BatchSampler (Yang et al. 2023),
# MVGRL (Hassani & Khasahmadi 2020: PROTEINS and NCI1 not reported)
PUBLISHED = {
    ("graphcl", "uniform"): {"MUTAG": "86.80 ± 1.34", "PROTEINS": "74.39 ± 0.45",
                             "NCI1": "77.87 ± 0.41", "IMDBBINARY": "71.14 ± 0.44",
                             "IMDBMULTI": "48.58 ± 0.67"},
    ("graphcl", "rwr"): {"MUTAG": "87.78", "PROTEINS": "75.04",
                         "IMDBBINARY": "71.90"},
    ("mvgrl", "uniform"): {"MUTAG": "89.7 ± 1.1", "PTC": "62.5 ± 1.7",
                           "IMDBBINARY": "74.2 ± 0.7", "IMDBMULTI": "51.2 ± 0.5"},
}


def read_run(csv_path):
    """{"svm": {epoch (1-based): accuracy %}, "last": epochs} from the CSV;
    batch statistics and times from the .txt beside it."""
    run = {"svm": {}, "last": 0}
    with open(csv_path) as f:
        head = f.readline().strip().split(",")
        for line in f:
            row = dict(zip(head, line.strip().split(",")))
            if not row.get("epoch"):
                continue
            run["last"] = int(row["epoch"]) + 1
            acc = float(row["svm_acc"])
            if acc >= 0:
                run["svm"][int(row["epoch"]) + 1] = 100 * acc
    txt = csv_path[:-4] + ".txt"
    text = open(txt).read() if os.path.exists(txt) else ""
    m = re.search(r"hardness ([\d.-]+)\s+hardest negative ([\d.-]+)\s+"
                  r"false negatives ([\d.-]+)", text)
    if m:
        run["hard"], run["hardest"], run["fn"] = map(float, m.groups())
    m = re.search(r"time: ([\d.]+) s total, ([\d.]+) s graph \+ sampling "
                  r"\(([\d.]+)%\), ([\d.]+) s evaluation", text)
    if m:
        run["total_s"], run["sampler_s"], _, run["eval_s"] = map(
            float, m.groups())
    return run


def load(root, pattern=r"(.+)_(graphcl|mvgrl)_(\w+)_s(\d+)\.csv$"):
    """{(ds, method, sampler): {seed: run}} of the finished runs"""
    runs = {}
    for path in sorted(glob.glob(os.path.join(root, "*.csv"))):
        m = re.match(pattern, os.path.basename(path))
        if not m or path.endswith(".partial.csv"):
            continue
        run = read_run(path)
        if run["last"]:
            runs.setdefault(m.group(1, 2, 3), {})[int(m.group(4))] = run
    return runs


def mean_std(xs):
    if not xs:
        return None
    mu = sum(xs) / len(xs)
    return mu, math.sqrt(sum((x - mu) ** 2 for x in xs) / len(xs))


def fmt(xs, signed=False):
    ms = mean_std(xs)
    if ms is None:
        return "–"
    return ("%+.2f ± %.2f (%d)" if signed else "%.2f ± %.2f (%d)") % (
        ms[0], ms[1], len(xs))


def final(run):
    """accuracy after the last epoch, or None"""
    return run["svm"].get(run["last"])


def accs(runs, key, epoch=None):
    """{seed: accuracy} at epoch (None: the last)"""
    out = {}
    for seed, r in runs.get(key, {}).items():
        a = final(r) if epoch is None else r["svm"].get(epoch)
        if a is not None:
            out[seed] = a
    return out


def header(first="method"):
    cols = [SHOWN.get(d, d) for d in DATASETS]
    print("| %s | %s |" % (first, " | ".join(cols)))
    print("|---|" + "---|" * len(cols))


def main_table(runs):
    print("**Table.** SVM accuracy (%) after the last epoch (20), mean ± std "
          "over seeds (seeds finished); published numbers in the rows marked "
          "so.  GraphCL: the released protocol; MVGRL: hidden 64, 20 epochs "
          "(scaled down from 512 and 40, docs/graphs.md).")
    print()
    header()
    for method in ("graphcl", "mvgrl"):
        for s in SAMPLERS:
            key = (method, s)
            cells = [fmt(list(accs(runs, (ds,) + key).values()))
                     for ds in DATASETS]
            print("| %s (ours) | %s |" % (LABEL[key], " | ".join(cells)))
            if key in PUBLISHED:
                print("| %s (published) | %s |" % (LABEL[key], " | ".join(
                    PUBLISHED[key].get(ds, "–") for ds in DATASETS)))
    print()


def paired_cells(runs, method, sampler, epoch=None):
    cells = []
    for ds in DATASETS:
        u = accs(runs, (ds, method, "uniform"), epoch)
        o = accs(runs, (ds, method, sampler), epoch)
        d = [o[k] - u[k] for k in sorted(set(u) & set(o))]
        if not d:
            cells.append("–")
            continue
        cell = "%s, %d/%d ahead" % (fmt(d, signed=True),
                                    sum(x > 0 for x in d), len(d))
        sd = mean_std(d)[1] * math.sqrt(len(d) / (len(d) - 1)) \
            if len(d) > 1 else 0
        if sd > 0:  # paired t statistic, n - 1 degrees of freedom
            cell += ", t %.1f" % (mean_std(d)[0] / (sd / math.sqrt(len(d))))
        cells.append(cell)
    return cells


def paired_table(runs):
    print("**Paired by seed.** Sampler minus the same seed's uniform run "
          "(points), mean ± std over seeds (seeds), on how many seeds "
          "the sampler is ahead, and the paired t statistic (sample std; "
          "|t| > 2.78 is p < 0.05 two-sided for 5 seeds, before any "
          "correction for the 24 comparisons).")
    print()
    header("difference")
    for method in ("graphcl", "mvgrl"):
        for s in ("knn", "rwr"):
            print("| %s − %s | %s |" % (
                LABEL[(method, s)], LABEL[(method, "uniform")],
                " | ".join(paired_cells(runs, method, s))))
    print()


def epoch10_table(runs):
    print("**GraphCL at epoch 10** (the reference evaluates every 10 "
          "epochs), mean ± std over seeds (seeds); paired rows as above.")
    print()
    header()
    for s in SAMPLERS:
        key = ("graphcl", s)
        cells = [fmt(list(accs(runs, (ds,) + key, 10).values()))
                 for ds in DATASETS]
        print("| %s (ours) | %s |" % (LABEL[key], " | ".join(cells)))
    for s in ("knn", "rwr"):
        print("| %s − uniform | %s |" % (LABEL[("graphcl", s)], " | ".join(
            paired_cells(runs, "graphcl", s, 10))))
    print()


def avg(rs, key):
    xs = [r[key] for r in rs if key in r]
    return sum(xs) / len(xs) if xs else None


def num(x, f="%.3f"):
    return "–" if x is None else f % x


def batches_table(runs):
    print("**Batches**: hardness (mean in-batch cosine of the stored "
          "embeddings), hardest-negative cosine, false-negative rate "
          "(same-label pairs); means over epochs 2-20 (after the uniform "
          "warm-up), then over seeds.")
    print()
    print("| data set | sampler | GraphCL hardness | hardest neg. | FN rate "
          "| MVGRL hardness | hardest neg. | FN rate |")
    print("|---|---|---|---|---|---|---|---|")
    for ds in DATASETS:
        for s in SAMPLERS:
            cells = []
            for method in ("graphcl", "mvgrl"):
                rs = list(runs.get((ds, method, s), {}).values())
                cells += [num(avg(rs, k)) for k in ("hard", "hardest", "fn")]
            if any(c != "–" for c in cells):
                print("| %s | %s | %s |" % (SHOWN.get(ds, ds), s,
                                            " | ".join(cells)))
    print()


def time_cell(rs):
    tot, smp, ev = avg(rs, "total_s"), avg(rs, "sampler_s"), avg(rs, "eval_s")
    if tot is None:
        return "–"
    if smp is None or ev is None or tot <= 0:
        return "%.0f" % tot
    return "%.0f (%.2f%%, SVM %.0f%%)" % (tot, 100 * smp / tot, 100 * ev / tot)


def time_table(runs):
    print("**Time per run**: wall seconds (mean over seeds) and in brackets "
          "the share spent building the proximity graph and sampling "
          "(uniform: drawing the permutation) and the SVM evaluations' "
          "share; 1 thread per run on a shared "
          "2-core VM, so the wall times carry the machine's load.")
    print()
    cols = ["%s %s" % ({"graphcl": "GraphCL", "mvgrl": "MVGRL"}[m], s)
            for m in ("graphcl", "mvgrl") for s in SAMPLERS]
    print("| data set | %s |" % " | ".join(cols))
    print("|---|" + "---|" * len(cols))
    for ds in DATASETS:
        cells = [time_cell(list(runs.get((ds, m, s), {}).values()))
                 for m in ("graphcl", "mvgrl") for s in SAMPLERS]
        print("| %s | %s |" % (SHOWN.get(ds, ds), " | ".join(cells)))
    print()


def probe_table(root):
    """results/graphs_probe/<DS>_mvgrl_<variant>_h<H>_e<E>_s<seed>.csv:
    one row per variant, one column per evaluated epoch"""
    runs = load(root, r"(.+)_(mvgrl)_(\w+?_h\d+_e\d+)_s(\d+)\.csv$")
    if not runs:
        return
    epochs = sorted({e for seeds in runs.values() for r in seeds.values()
                     for e in r["svm"]})
    print("**MVGRL-gap probe** (%s): SVM accuracy (%%) at each evaluated "
          "epoch, mean ± std over seeds (seeds); the variant names the "
          "sampler, layers L, batch B, hidden h and epochs e (L4 B64 "
          "where not named)." % root)
    print()
    print("| variant | %s |" % " | ".join("epoch %d" % e for e in epochs))
    print("|---|" + "---|" * len(epochs))
    for (ds, _, variant), seeds in sorted(runs.items()):
        print("| %s %s | %s |" % (ds, variant, " | ".join(
            fmt([r["svm"][e] for r in seeds.values() if e in r["svm"]])
            for e in epochs)))
    print()


def main():
    args = sys.argv[1:]
    if args[:1] == ["--probe"]:
        probe = args[1] if len(args) > 1 else "results/graphs_probe"
        if not os.path.isdir(probe):
            sys.exit("graphs_report: %s: no such folder" % probe)
        probe_table(probe)
        return
    root = args[0] if args else "results/graphs"
    runs = load(root)
    if not runs:
        sys.exit("graphs_report: no finished runs (*.csv) in %s" % root)
    main_table(runs)
    paired_table(runs)
    epoch10_table(runs)
    batches_table(runs)
    time_table(runs)


if __name__ == "__main__":
    main()
