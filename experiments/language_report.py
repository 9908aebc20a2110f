#!/usr/bin/python3
"""experiments/language_report.py: the language table from results/language/.

Rows in the paper's layout (SimCSE, w/ kNN sampler, w/ BatchSampler, then
DCL and HCL): STS12-16, SICK-R and their average, mean +- std over the
finished seeds (n says how many), with the batches' hardness (mean in-batch
cosine of the stored sentence embeddings), near-duplicate share (GloVe-
average cosine > 0.9), the sampler's share of the run time and the training
throughput; then the untrained encoder, the distillation teacher (the
SIF-weighted GloVe average), the GloVe-average baseline and the paper's
directions; then the differences to uniform batches paired by seed (mean
+- std, t, seeds ahead), which say whether a difference is inside the
seed spread.

  /usr/bin/python3 experiments/language_report.py [--results DIR]
                                                 [--img DIR]

--img writes language_dev.png (dev Spearman over the steps, mean over
seeds) and language_batches.png (hardness and near-duplicate share over
the steps) into DIR (docs/img for docs/language.md).
"""
import csv
import glob
import os
import re
import statistics as st
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RES = os.path.join(HERE, "..", "results", "language")
TASKS = ["STS12", "STS13", "STS14", "STS15", "STS16", "SICK-R", "average"]
GLOVE = [43.84, 33.00, 34.52, 47.62, 36.92, 51.54, 41.24]
PAPER = {  # BatchSampler paper, Table (SimCSE-BERT-base, avg STS)
    ("infonce", "uniform"): 75.60, ("infonce", "knn"): 72.31,
    ("infonce", "rwr"): 76.69, ("dcl", "uniform"): 73.15,
    ("dcl", "rwr"): 74.79, ("hcl", "uniform"): 72.52, ("hcl", "rwr"): 75.16}
NAMES = {"uniform": "", "knn": " w/ kNN sampler", "rwr": " w/ BatchSampler"}
LOSSES = {"infonce": "SimCSE", "dcl": "DCL", "hcl": "HCL"}


def parse_txt(path):
    out = {}
    total = sampler = sps = None
    for line in open(path):
        f = line.split()
        if f and f[0] in TASKS and len(f) >= 2:
            out[f[0]] = float(f[-1])
        m = re.search(r"time: ([\d.]+) s total, ([\d.]+) s steps \(([\d.]+) "
                      r"sentences/s\), ([\d.]+) s graph", line)
        if m:
            total, sps, sampler = float(m[1]), float(m[3]), float(m[4])
    if len(out) < len(TASKS):
        return None
    return out, total, sampler, sps


def parse_csv(path):
    rows = list(csv.DictReader(open(path)))
    n = len(rows)
    hard = sum(float(r["hardness"]) for r in rows) / n
    nd = sum(float(r["neardup"]) for r in rows) / n
    dev = float(rows[-1]["dev_spearman"])
    return hard, nd, dev


def fmt(xs):
    if not xs:
        return "-"
    if len(xs) == 1:
        return "%.2f" % xs[0]
    return "%.2f±%.2f" % (st.mean(xs), st.stdev(xs))


def read_scores(path):
    """the seven numbers of an `eval sts` table, or None"""
    if not os.path.exists(path):
        return None
    vals = {}
    for line in open(path):
        f = line.split()
        if f and f[0] in TASKS:
            vals[f[0]] = float(f[-1])
    return [vals[t] for t in TASKS] if len(vals) == len(TASKS) else None


def read_teacher(path):
    """the SIF GloVe average's seven numbers of sif_glove_test.py's output"""
    if not os.path.exists(path):
        return None
    for line in open(path):
        if line.startswith("SIF GloVe average"):
            f = line.split()
            return [float(x) for x in f[-8:-2]] + [float(f[-1])]
    return None


def paired(runs, loss, s, key):
    """per-seed differences s - uniform of key(run); None if no pair"""
    a = {r[2]: key(r) for r in runs.get((loss, s), [])}
    b = {r[2]: key(r) for r in runs.get((loss, "uniform"), [])}
    return [a[k] - b[k] for k in sorted(a) if k in b] or None


def print_paired(runs):
    print("\ndifferences to uniform batches, paired by seed "
          "(mean ± std over seeds, t = mean / (std / sqrt n), seeds ahead)")
    for loss in ["infonce", "dcl", "hcl"]:
        for s in ["knn", "rwr"]:
            for what, key in [("test avg", lambda r: r[0][0]["average"]),
                              ("dev", lambda r: r[1][2])]:
                d = paired(runs, loss, s, key)
                if not d:
                    continue
                n, m = len(d), st.mean(d)
                sd = st.stdev(d) if n > 1 else float("nan")
                t = m / (sd / n ** 0.5) if n > 1 and sd > 0 else float("nan")
                print("  %-26s %-8s n %d  %+.2f ± %.2f  t %5.2f  %d/%d ahead" %
                      (LOSSES[loss] + NAMES[s], what, n, m, sd, t,
                       sum(x > 0 for x in d), n))


def curves(csvs):
    """{step: mean over runs} of dev, hardness and near-dup"""
    acc = {}
    for c in csvs:
        for r in csv.DictReader(open(c)):
            a = acc.setdefault(int(r["step"]), [[], [], []])
            a[0].append(float(r["dev_spearman"]))
            a[1].append(float(r["hardness"]))
            a[2].append(float(r["neardup"]))
    steps = sorted(acc)
    return steps, [[st.mean(acc[k][i]) for k in steps] for i in range(3)]


def plot(runs, img):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(img, exist_ok=True)
    style = {"uniform": "-", "knn": ":", "rwr": "--"}
    color = {"infonce": "C0", "dcl": "C1", "hcl": "C2"}
    f1, ax = plt.subplots(figsize=(6.4, 4))
    f2, (bx, cx) = plt.subplots(1, 2, figsize=(10, 3.8))
    for (loss, s), rs in sorted(runs.items()):
        steps, (dev, hard, nd) = curves([r[3] for r in rs])
        lab = "%s%s (n %d)" % (LOSSES[loss], NAMES[s], len(rs))
        kw = dict(ls=style[s], color=color[loss], label=lab)
        ax.plot(steps, dev, marker="o", ms=3, **kw)
        bx.plot(steps, hard, **kw)
        cx.plot(steps, nd, **kw)
    ax.set_xlabel("step")
    ax.set_ylabel("dev Spearman x 100 (sts12-train)")
    ax.set_title("STS dev score over training (mean over seeds)")
    ax.legend(fontsize=7)
    bx.set_xlabel("step")
    bx.set_ylabel("mean in-batch cosine (hardness)")
    cx.set_xlabel("step")
    cx.set_ylabel("share of pairs with GloVe cosine > 0.9")
    bx.legend(fontsize=6)
    f1.tight_layout()
    f2.tight_layout()
    f1.savefig(os.path.join(img, "language_dev.png"), dpi=110)
    f2.savefig(os.path.join(img, "language_batches.png"), dpi=110)
    print("wrote %s/language_dev.png, language_batches.png" % img)


def main():
    global RES
    args = sys.argv[1:]
    img = None
    while args:
        if args[0] == "--results" and len(args) > 1:
            RES, args = args[1], args[2:]
        elif args[0] == "--img" and len(args) > 1:
            img, args = args[1], args[2:]
        else:
            sys.exit("usage: language_report.py [--results DIR] [--img DIR]")
    runs = {}
    for txt in sorted(glob.glob(os.path.join(RES, "*_s[0-9]*.txt"))):
        base = os.path.basename(txt)[:-4]
        if base.endswith(".partial"):
            continue
        m = re.match(r"(infonce|dcl|hcl)_(uniform|knn|rwr)_s(\d+)$", base)
        if not m:
            continue
        t = parse_txt(txt)
        c = os.path.join(RES, base + ".csv")
        if not t or not os.path.exists(c):
            continue
        runs.setdefault((m[1], m[2]), []).append(
            (t, parse_csv(c), int(m[3]), c))
    hdr = "%-26s %3s " % ("", "n") + " ".join("%12s" % t for t in TASKS)
    print(hdr + " %8s %8s %8s %7s %7s %6s" % ("dev", "hard.", "near-dup",
                                            "sampl%", "sent/s", "paper"))
    for loss in ["infonce", "dcl", "hcl"]:
        for s in ["uniform", "knn", "rwr"]:
            rs = runs.get((loss, s))
            if not rs:
                continue
            cols = [fmt([r[0][0][t] for r in rs]) for t in TASKS]
            dev = fmt([r[1][2] for r in rs])
            hard = st.mean(r[1][0] for r in rs)
            nd = st.mean(r[1][1] for r in rs)
            share = st.mean(100 * r[0][2] / r[0][1] for r in rs)
            sps = st.mean(r[0][3] for r in rs)
            p = PAPER.get((loss, s))
            print("%-26s %3d " % (LOSSES[loss] + NAMES[s], len(rs)) +
                  " ".join("%12s" % c for c in cols) +
                  " %8s %8.4f %8.4f %7.2f %7.1f %6s" %
                  (dev, hard, nd, share, sps, "%.2f" % p if p else "-"))
    extra = [("untrained encoder (SIF)",
              read_scores(os.path.join(RES, "untrained_s0.txt"))),
             ("untrained, plain mean",
              read_scores(os.path.join(RES, "untrained_plainmean_s0.txt"))),
             ("teacher: SIF GloVe avg.",
              read_teacher(os.path.join(RES, "sif_glove.txt"))),
             ("GloVe average", GLOVE)]
    for name, vals in extra:
        if vals:
            print("%-26s %3s " % (name, "") +
                  " ".join("%12.2f" % v for v in vals))
    print("\npaper (SimCSE-BERT-base, avg): SimCSE 75.60 -> 76.69 with "
          "BatchSampler, 72.31 with the kNN sampler; DCL 73.15 -> 74.79; "
          "HCL 72.52 -> 75.16")
    print_paired(runs)
    if img and runs:
        plot(runs, img)
    if not runs:
        print("no finished runs in %s" % RES, file=sys.stderr)


if __name__ == "__main__":
    main()
