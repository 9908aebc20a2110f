#!/usr/bin/python3
"""experiments/language_report.py: the language table from results/language/.

Rows in the paper's layout (SimCSE, w/ kNN sampler, w/ BatchSampler, then
DCL and HCL): STS12-16, SICK-R and their average, mean +- std over the
finished seeds (n says how many), with the batches' hardness (mean in-batch
cosine of the stored sentence embeddings), near-duplicate share (GloVe-
average cosine > 0.9), the sampler's share of the run time and the training
throughput; then the GloVe-average baseline and the paper's directions.
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


def main():
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
        runs.setdefault((m[1], m[2]), []).append((t, parse_csv(c)))
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
    u = os.path.join(RES, "untrained_s0.txt")
    if os.path.exists(u):  # the encoder at step 0 (eval sts --model)
        vals = {}
        for line in open(u):
            f = line.split()
            if f and f[0] in TASKS:
                vals[f[0]] = float(f[-1])
        if len(vals) == len(TASKS):
            print("%-26s %3s " % ("untrained encoder", "") +
                  " ".join("%12.2f" % vals[t] for t in TASKS))
    print("%-26s %3s " % ("GloVe average", "") +
          " ".join("%12.2f" % g for g in GLOVE))
    print("\npaper (SimCSE-BERT-base, avg): SimCSE 75.60 -> 76.69 with "
          "BatchSampler, 72.31 with the kNN sampler; DCL 73.15 -> 74.79; "
          "HCL 72.52 -> 75.16")
    if not runs:
        print("no finished runs in %s" % RES, file=sys.stderr)


if __name__ == "__main__":
    main()
