#!/usr/bin/python3
"""experiments/vision_report.py — the vision study's tables and plots
(docs/vision.md, "Study") from results/vision/<name>_s<seed>.{csv,out}
written by experiments/vision.sh.  Markdown on stdout:

1. per row (method x sampler x epoch mode x alpha schedule, the variants):
   finished seeds, kNN top-1 after the last epoch (mean ± std over seeds,
   np.std), linear probe top-1, the batches (hardness = mean in-batch
   cosine, hardest-negative cosine, false-negative rate = same-class
   pairs; means over the epochs after the warm-up, from the summary),
   the appearance spread (cv = std / mean of how many batches each
   training image was in, over the whole run) with the share of images
   never drawn, and the sampler's share of the run time;
2. each row minus its uniform baseline, paired by seed (the same seed's
   uniform run of the same method and temperature, see baseline()): mean
   difference of kNN top-1 and of the probe, the paired t statistic
   (mean / (sd / sqrt(n)), n >= 2 seeds) and the seeds where the row is
   ahead;
3. the same kNN difference over training (trend_table): paired by seed
   per epoch, averaged over the seeds and the epochs of each quarter of
   the run, for the rows with >= 2 paired seeds (does a gap open or close
   as training goes on?);
4. runs that did not finish (a .partial.out or a checkpoint, no .out).
With --pick: the pick rule of docs/vision.md applied to seed 0 (which
variants the confirm stage runs) instead of the tables.
A row with fewer finished seeds than the most complete row is marked *.
With plots (default): IMG/vision_knn.png (kNN top-1 per epoch, mean over
the finished seeds, one line per row), IMG/vision_batches.png (FN rate
and hardness per epoch) and IMG/vision_fn.png (each row's paired kNN
difference from its baseline against its FN rate).

Usage: /usr/bin/python3 experiments/vision_report.py [--results DIR ...]
           [--img DIR] [--no-plots] [--doc docs/vision.md] [--pick]
       (--doc: the tables go between the file's <!-- vision-table -->
       and <!-- /vision-table --> markers instead of to stdout)
       (defaults results/vision and docs/img, relative to the repository)
"""
import argparse
import contextlib
import glob
import io
import math
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ["simclr", "moco"]
FIRST = ["uniform", "knn", "rwr_fixed_constant"]  # the main rows, in order
PICK_MAX = 3  # the pick rule: at most this many variants per method

OUT_PATTERNS = {
    "knn": r"^kNN top-1 ([0-9.]+)%",
    "probe": r"linear probe top-1 ([0-9.]+)%",
    "hard": r"^batches: hardness (-?[0-9.]+)",
    "hardneg": r"hardest negative (-?[0-9.]+)",
    "fn": r"false negatives (-?[0-9.]+)",
    "cv": r"^appearances per instance: .*cv ([0-9.]+)",
    "never": r"never drawn ([0-9.]+)",
    "share": r"^time: .*graph \+ sampling \(([0-9.]+)%\)",
}


def parse_out(path):
    """The summary's numbers (absent ones are missing from the dict)."""
    text = open(path).read()
    got = {}
    for key, pat in OUT_PATTERNS.items():
        m = re.search(pat, text, re.M)
        if m:
            got[key] = float(m.group(1))
    return got


def parse_csv(path):
    """{column: [values per epoch]}; knn_top1 -1 (not evaluated) -> None."""
    with open(path) as f:
        head = f.readline().strip().split(",")
        cols = {h: [] for h in head}
        for line in f:
            cells = line.strip().split(",")
            if len(cells) != len(head):
                continue
            for h, c in zip(head, cells):
                v = float(c)
                cols[h].append(None if h == "knn_top1" and v < 0 else v)
    return cols


def load(res):
    """{name: {seed: {"out": {...}, "csv": {...}}}} of the finished runs
    and the names of the unfinished ones."""
    runs, pending = {}, []
    for out in sorted(glob.glob(os.path.join(res, "*_s*.out"))):
        base = os.path.basename(out)[:-4]
        if base.endswith(".partial"):
            continue
        m = re.match(r"(.+)_s(\d+)$", base)
        if not m:
            continue
        csv = out[:-4] + ".csv"
        run = {"out": parse_out(out),
               "csv": parse_csv(csv) if os.path.exists(csv) else {}}
        if "knn" not in run["out"]:
            pending.append(base + " (no result in its .out)")
            continue
        runs.setdefault(m.group(1), {})[int(m.group(2))] = run
    for p in sorted(glob.glob(os.path.join(res, "*_s*.partial.out")) +
                    glob.glob(os.path.join(res, "*_s*.ckpt"))):
        base = re.sub(r"\.(partial\.out|ckpt)$", "", os.path.basename(p))
        m = re.match(r"(.+)_s(\d+)$", base)
        if m and int(m.group(2)) not in runs.get(m.group(1), {}) and \
                base not in pending:
            pending.append(base)
    return runs, pending


def load_all(folders):
    """load() of each folder, their seeds merged; a run (row and seed) in
    two folders is an error, since either could be the one reported."""
    runs, pending = {}, []
    for d in folders:
        r, p = load(d)
        for name, seeds in r.items():
            mine = runs.setdefault(name, {})
            twice = set(mine) & set(seeds)
            if twice:
                sys.exit("vision_report.py: %s seed %d is in more than one "
                         "results folder" % (name, min(twice)))
            mine.update(seeds)
        pending += p
    return runs, pending


def order(names):
    def key(n):
        method = n.split("_")[0]
        rest = n[len(method) + 1:]
        mi = METHODS.index(method) if method in METHODS else len(METHODS)
        ri = FIRST.index(rest) if rest in FIRST else len(FIRST)
        return (mi, ri, rest)
    return sorted(names, key=key)


def mean_std(xs):
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def cell(xs, fmt="%.2f"):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    m, s = mean_std(xs)
    return (fmt % m) if len(xs) == 1 else (fmt + " ± " + fmt) % (m, s)


def col(seeds, key):
    return [r["out"].get(key) for r in seeds.values()]


def summary_table(runs):
    most = max(len(s) for s in runs.values())
    print("| row | seeds | kNN top-1 % | linear probe % | hardness | "
          "hardest neg. | FN rate | appearance cv | never drawn | "
          "sampler share % |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in order(runs):
        s = runs[name]
        mark = "" if len(s) == most else "*"
        print("| %s | %d%s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, len(s), mark, cell(col(s, "knn")), cell(col(s, "probe")),
            cell(col(s, "hard"), "%.3f"), cell(col(s, "hardneg"), "%.3f"),
            cell(col(s, "fn"), "%.3f"), cell(col(s, "cv"), "%.3f"),
            cell(col(s, "never"), "%.4f"), cell(col(s, "share"))))
    if any(len(s) < most for s in runs.values()):
        print("\n\\* fewer finished seeds than the most complete row (%d)."
              % most)


def paired(a, b, key):
    """Differences b - a on the seeds both finished (with the key)."""
    return [b[k]["out"][key] - a[k]["out"][key] for k in sorted(set(a) & set(b))
            if key in a[k]["out"] and key in b[k]["out"]]


def diff_cell(d):
    if not d:
        return "–", "–", "–"
    m = sum(d) / len(d)
    t = "–"
    if len(d) >= 2:
        sd = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1))
        t = "%.2f" % (m / (sd / math.sqrt(len(d)))) if sd > 0 else "–"
    ahead = "%d/%d" % (sum(1 for x in d if x > 0), len(d))
    return "%+.2f" % m, t, ahead


def baseline(name):
    """The uniform row a row is compared with: the same method and the same
    temperature (a `_t<tau>` suffix), since only the sampler should differ.
    The epoch mode, the alpha schedule and the stored views mean nothing to
    a uniform sampler, so they drop.  method_uniform_t<tau> itself is
    compared with method_uniform (does the temperature help uniform?);
    method_uniform has no baseline (None)."""
    method = name.split("_")[0]
    m = re.search(r"_t([0-9.]+)$", name)
    if m and name != method + "_uniform" + m.group(0):
        return method + "_uniform" + m.group(0)
    return None if name == method + "_uniform" else method + "_uniform"


def paired_table(runs):
    print("| row | baseline | paired seeds | Δ kNN top-1 (pts) | t | ahead | "
          "Δ probe (pts) | t | ahead |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in order(runs):
        base = baseline(name)
        if base is None or base not in runs:
            continue
        dk = paired(runs[base], runs[name], "knn")
        dp = paired(runs[base], runs[name], "probe")
        print("| %s | %s | %d | %s | %s | %s | %s | %s | %s |" % (
            (name, base, len(dk)) + diff_cell(dk) + diff_cell(dp)))


def paired_epochs(a, b):
    """Per seed both runs finished with a per-epoch kNN column: the
    differences b - a in points, epoch by epoch (None where either was not
    evaluated), over the epochs both have."""
    out = []
    for k in sorted(set(a) & set(b)):
        x, y = a[k]["csv"].get("knn_top1"), b[k]["csv"].get("knn_top1")
        if not x or not y:
            continue
        out.append([None if x[e] is None or y[e] is None else
                    100 * (y[e] - x[e]) for e in range(min(len(x), len(y)))])
    return out


def quarters(n):
    """(first, last) epochs, 0-based, of the quarters of n epochs (fewer
    parts when n < 4; none when n is 0)."""
    parts = min(4, n)
    if parts == 0:
        return []
    bounds = [i * n // parts for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(parts)]


def trend_table(runs, heading=None):
    """Each row's paired kNN difference per quarter of the run (mean over
    seeds and the quarter's evaluated epochs), rows with >= 2 seeds;
    nothing (not even the heading) when no row has them."""
    rows = []
    for name in order(runs):
        base = baseline(name)
        if base is None or base not in runs:
            continue
        d = paired_epochs(runs[base], runs[name])
        if len(d) >= 2:
            rows.append((name, d))
    if not rows:
        return
    if heading:
        print(heading)
    n = min(len(s) for _, d in rows for s in d)
    qs = quarters(n)
    print("| row | paired seeds | " + " | ".join(
        "epochs %d-%d" % (a + 1, b + 1) for a, b in qs) + " |")
    print("|---|---|" + "---|" * len(qs))
    for name, d in rows:
        cells = []
        for a, b in qs:
            v = [s[e] for s in d for e in range(a, b + 1) if s[e] is not None]
            cells.append("%+.2f" % (sum(v) / len(v)) if v else "–")
        print("| %s | %d | %s |" % (name, len(d), " | ".join(cells)))


def is_variant(name):
    """A row the pick rule can pick: not a main row, not a baseline."""
    method = name.split("_")[0]
    rest = name[len(method) + 1:]
    return rest not in FIRST and not rest.startswith("uniform")


def pick(runs, expected):
    """docs/vision.md's pick rule on seed 0's kNN top-1: the variants ahead
    of their baseline, at most PICK_MAX per method, largest first (ties by
    name).  Returns (rows, picked, confirm): rows are (name, baseline,
    delta or None) for every variant seen or expected; confirm adds the
    picked variants' baselines that are not main rows, since a confirmed
    variant is paired with its baseline on the same seeds."""
    names = sorted(set(n for n in runs if is_variant(n)) |
                   set(n for n in expected if is_variant(n)), key=str)
    rows = []
    for n in order(names):
        b = baseline(n)
        d = None
        if 0 in runs.get(n, {}) and 0 in runs.get(b, {}):
            d = runs[n][0]["out"]["knn"] - runs[b][0]["out"]["knn"]
        rows.append((n, b, d))
    picked = []
    for method in METHODS + sorted(set(n.split("_")[0] for n in names) -
                                   set(METHODS)):
        ahead = [(-d, n) for n, b, d in rows
                 if n.split("_")[0] == method and d is not None and d > 0]
        picked += [n for _, n in sorted(ahead)[:PICK_MAX]]
    confirm = []
    for n in picked:
        b = baseline(n)
        if b[len(b.split("_")[0]) + 1:] not in FIRST and b not in confirm:
            confirm.append(b)
        confirm.append(n)
    return rows, picked, confirm


def pick_report(runs, expected):
    rows, picked, confirm = pick(runs, expected)
    print("### The pick rule on seed 0 (kNN top-1, variant minus baseline)\n")
    print("| variant | baseline | Δ kNN top-1 seed 0 (pts) | picked |")
    print("|---|---|---|---|")
    for n, b, d in rows:
        print("| %s | %s | %s | %s |" % (
            n, b, "not finished" if d is None else "%+.2f" % d,
            "yes" if n in picked else ""))
    missing = [n for n, b, d in rows if d is None]
    if missing:
        print("\nNot final: seed 0 of %d of %d variants (or their baselines) "
              "not finished." % (len(missing), len(rows)))
    print('\nCONFIRM="%s"' % " ".join(confirm))


def per_epoch(seeds, key):
    """Mean over seeds per epoch of a CSV column (epochs all seeds have)."""
    series = [r["csv"].get(key) for r in seeds.values() if r["csv"].get(key)]
    if not series:
        return [], []
    n = min(len(s) for s in series)
    xs, ys = [], []
    for e in range(n):
        vals = [s[e] for s in series if s[e] is not None]
        if vals:
            xs.append(e + 1)
            ys.append(sum(vals) / len(vals))
    return xs, ys


def plots(runs, img):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    os.makedirs(img, exist_ok=True)
    names = order(runs)
    style = {m: ls for m, ls in zip(METHODS, ["-", "--"])}

    def draw(ax, key, scale, title, ylabel=None, legend=True):
        """One line per row: the column key per epoch, mean over seeds."""
        ax.set_prop_cycle(color=plt.cm.tab20.colors)
        for name in names:
            xs, ys = per_epoch(runs[name], key)
            if xs:
                ax.plot(xs, [scale * y for y in ys],
                        style.get(name.split("_")[0], ":"), marker=".",
                        label="%s (%d)" % (name, len(runs[name])))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        if ylabel:
            ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if legend:
            ax.legend(fontsize=6, ncol=2)

    written = []
    for fname, size, panels in [
            ("vision_knn.png", (9, 5.5),
             [("knn_top1", 100, "Fashion-MNIST kNN top-1 per epoch (seeds in "
               "brackets)", "kNN top-1 (%), mean over seeds")]),
            ("vision_batches.png", (11, 4.5),
             [("fn_rate", 1, "false-negative rate (same-class pairs)", None,
               False),
              ("mean_sim", 1, "hardness (mean in-batch cosine)", None)])]:
        fig, axes = plt.subplots(1, len(panels), figsize=size, squeeze=False)
        for ax, panel in zip(axes[0], panels):
            draw(ax, *panel)
        fig.tight_layout()
        path = os.path.join(img, fname)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    written.append(fn_plot(runs, img, plt))
    return written


def fn_plot(runs, img, plt):
    """IMG/vision_fn.png: each row's kNN top-1 minus its baseline's (mean
    of the seed-paired differences, bar +- their std) against the false
    negatives in its batches; the baselines sit at 0."""
    fig, ax = plt.subplots(figsize=(8, 5))
    mark = {m: k for m, k in zip(METHODS, ["o", "s"])}
    base_x = []
    for name in order(runs):
        fn = [x for x in col(runs[name], "fn") if x is not None]
        b = baseline(name)
        if not fn or (b is not None and b not in runs):
            continue
        d = [0.0] if b is None else paired(runs[b], runs[name], "knn")
        if not d:
            continue
        m, sd = mean_std(d)
        x = sum(fn) / len(fn)
        ax.errorbar(x, m, yerr=sd if len(d) > 1 else None, capsize=3,
                    marker=mark.get(name.split("_")[0], "^"),
                    color="C%d" % METHODS.index(name.split("_")[0])
                    if name.split("_")[0] in METHODS else "k")
        if b is None:  # the baselines: one label for all of them
            base_x.append(x)
            continue
        ax.annotate("%s (%d)" % (name, len(d)), (x, m), fontsize=6,
                    xytext=(4, 2), textcoords="offset points")
    if base_x:
        ax.annotate("uniform (the baselines)", (min(base_x), 0), fontsize=6,
                    xytext=(4, 4), textcoords="offset points")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("false-negative rate of the batches (same-class pairs, "
                  "mean after the warm-up)")
    ax.set_ylabel("kNN top-1 minus its uniform baseline (pts, paired seeds)")
    ax.set_title("Accuracy against false negatives (circles SimCLR, squares "
                 "MoCo v3; seeds in brackets)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = os.path.join(img, "vision_fn.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", action="append", help="a results folder "
                    "(default results/vision); give it again to add the "
                    "seeds of another (results/vision_extend)")
    ap.add_argument("--img", default=os.path.join(ROOT, "docs", "img"))
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--doc", help="write the tables into this Markdown file "
                    "between its <!-- vision-table --> markers instead of "
                    "printing them")
    ap.add_argument("--pick", action="store_true", help="apply the pick rule "
                    "to seed 0 and print the CONFIRM list")
    a = ap.parse_args()
    a.results = a.results or [os.path.join(ROOT, "results", "vision")]
    for d in a.results:
        if not os.path.isdir(d):
            sys.exit("vision_report.py: no folder %s (run experiments/"
                     "vision.sh first)" % d)
    if a.pick:
        runs, _ = load_all(a.results)
        pick_report(runs, planned_variants())
        return
    if a.doc:
        markers(a.doc)  # before any plot is written
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            report(a)
        into_doc(a.doc, buf.getvalue(), a)
    else:
        report(a)


def planned_variants():
    """The variant rows vision.sh runs, from its dry run (the one list)."""
    import subprocess
    env = dict(os.environ, DRY="1", STAGES="variants", BS_BIN="/bin/true")
    r = subprocess.run(["bash", os.path.join(ROOT, "experiments",
                                             "vision.sh")],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("vision_report.py: experiments/vision.sh DRY=1 failed: %s"
                 % r.stderr.strip())
    return [line.split(" seed ")[0] for line in r.stdout.splitlines()
            if " seed " in line]


BEGIN, END = "<!-- vision-table -->", "<!-- /vision-table -->"


def markers(path):
    """The file's text and where its markers are; exits when it has none."""
    doc = open(path).read()
    i, j = doc.find(BEGIN), doc.find(END)
    if i < 0 or j < i:
        sys.exit("vision_report.py: %s has no %s ... %s markers" %
                 (path, BEGIN, END))
    return doc, i, j


def into_doc(path, text, a):
    """Replace what lies between the markers of path (temp file + rename,
    so a failure leaves the file as it was)."""
    doc, i, j = markers(path)
    text = re.sub(r"^### ", "#### ", text, flags=re.M)
    if not a.no_plots:
        rel = os.path.relpath(a.img, os.path.dirname(os.path.abspath(path)))
        text += ("\n![kNN top-1 per epoch](%s/vision_knn.png)\n"
                 "![batches per epoch](%s/vision_batches.png)\n"
                 "![accuracy against false negatives](%s/vision_fn.png)\n"
                 % (rel, rel, rel))
    doc = doc[:i + len(BEGIN)] + "\n" + text.strip() + "\n" + doc[j:]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(doc)
    os.replace(tmp, path)


def report(a):
    runs, pending = load_all(a.results)
    print("### Results (%s)\n" % ", ".join(os.path.relpath(d, ROOT)
                                           for d in a.results))
    if not runs:
        print("No finished runs yet.")
    else:
        summary_table(runs)
        print("\n### Each row minus its uniform baseline, paired by seed\n")
        paired_table(runs)
        trend_table(runs, "\n### Δ kNN top-1 over training, paired by seed "
                    "(mean over the seeds and the epochs of each quarter; "
                    "epoch 1 is the uniform warm-up)\n")
    if pending:
        print("\n### Not finished (failed or in progress)\n")
        for p in pending:
            print("- " + p)
    if runs and not a.no_plots:
        for p in plots(runs, a.img):
            print("\nwrote %s" % p, file=sys.stderr)


if __name__ == "__main__":
    main()
