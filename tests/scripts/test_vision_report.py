"""experiments/vision_report.py: the pairing with baselines and the pick
rule of docs/vision.md ("The pick rule"), on made-up results folders."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import vision_report as vr  # noqa: E402


def write_run(res, name, seed, knn, probe=80.0):
    base = os.path.join(res, "%s_s%d" % (name, seed))
    with open(base + ".out", "w") as f:
        f.write("kNN top-1 %.2f%% (k 200)\nlinear probe top-1 %.2f%%\n"
                % (knn, probe))
    with open(base + ".csv", "w") as f:
        f.write("epoch,knn_top1\n0,%.4f\n" % (knn / 100))


def test_baseline():
    assert vr.baseline("simclr_uniform") is None
    assert vr.baseline("simclr_knn") == "simclr_uniform"
    assert vr.baseline("moco_rwr_exact_reference") == "moco_uniform"
    assert vr.baseline("simclr_rwr_fixed_constant_concat") == "simclr_uniform"
    assert vr.baseline("simclr_rwr_fixed_constant_t0.5") == \
        "simclr_uniform_t0.5"
    assert vr.baseline("simclr_uniform_t0.5") == "simclr_uniform"


def test_pick_rule(tmp_path):
    res = str(tmp_path)
    for m, u in (("simclr", 80.0), ("moco", 81.0)):
        write_run(res, m + "_uniform", 0, u)
        write_run(res, m + "_uniform", 1, u + 5)  # seeds 1-2 never count
    # the main rwr row is ahead but is not a variant
    write_run(res, "simclr_rwr_fixed_constant", 0, 90.0)
    for name, knn in (("simclr_rwr_carry_constant", 80.5),
                      ("simclr_rwr_carry_reference", 79.8),
                      ("simclr_rwr_exact_constant", 80.0),   # a tie: not ahead
                      ("simclr_rwr_exact_reference", 80.9),
                      ("simclr_rwr_fixed_reference", 79.0),
                      ("moco_rwr_carry_constant", 80.9),
                      ("moco_rwr_exact_constant", 81.4)):
        write_run(res, name, 0, knn)
    write_run(res, "simclr_rwr_carry_reference", 1, 99.0)  # seed 1: ignored
    # t0.5: ahead of simclr_uniform by 1.0 but behind its own baseline
    write_run(res, "simclr_uniform_t0.5", 0, 81.5)
    write_run(res, "simclr_rwr_fixed_constant_t0.5", 0, 81.0)
    runs, _ = vr.load(res)
    rows, picked, confirm = vr.pick(runs, ["moco_rwr_fixed_reference"])
    d = {n: x for n, b, x in rows}
    assert d["simclr_rwr_fixed_constant_t0.5"] == pytest.approx(-0.5)
    assert d["moco_rwr_fixed_reference"] is None  # expected, not finished
    assert "simclr_uniform_t0.5" not in d        # a baseline, not a variant
    assert "simclr_rwr_fixed_constant" not in d  # a main row
    # largest first; the tie and the losers are out
    assert picked == ["simclr_rwr_exact_reference", "simclr_rwr_carry_constant",
                      "moco_rwr_exact_constant"]
    assert confirm == picked


def test_pick_at_most_three_per_method(tmp_path):
    res = str(tmp_path)
    write_run(res, "moco_uniform", 0, 80.0)
    for i, mode in enumerate(["carry", "exact", "fixed"]):
        for j, sched in enumerate(["constant", "reference"]):
            write_run(res, "moco_rwr_%s_%s" % (mode, sched), 0,
                      80.1 + 0.2 * i + 0.1 * j)
    runs, _ = vr.load(res)
    _, picked, _ = vr.pick(runs, [])
    # fixed_constant (80.5) is the main row, not a variant
    assert picked == ["moco_rwr_fixed_reference", "moco_rwr_exact_reference",
                      "moco_rwr_exact_constant"]


def test_pick_confirms_a_nonmain_baseline(tmp_path):
    res = str(tmp_path)
    write_run(res, "simclr_uniform", 0, 80.0)
    write_run(res, "simclr_uniform_t0.5", 0, 79.0)
    write_run(res, "simclr_rwr_fixed_constant_t0.5", 0, 79.5)
    runs, _ = vr.load(res)
    _, picked, confirm = vr.pick(runs, [])
    assert picked == ["simclr_rwr_fixed_constant_t0.5"]
    # its seeds 1-2 are paired with uniform at 0.5, which must run too
    assert confirm == ["simclr_uniform_t0.5", "simclr_rwr_fixed_constant_t0.5"]


def test_paired_table_uses_the_baseline(tmp_path, capsys):
    res = str(tmp_path)
    for s, (u, u5, r5) in enumerate([(80, 82, 83), (81, 83, 83.5)]):
        write_run(res, "simclr_uniform", s, u)
        write_run(res, "simclr_uniform_t0.5", s, u5)
        write_run(res, "simclr_rwr_fixed_constant_t0.5", s, r5)
    runs, _ = vr.load(res)
    vr.paired_table(runs)
    line = [ln for ln in capsys.readouterr().out.splitlines()
            if ln.startswith("| simclr_rwr_fixed_constant_t0.5 ")][0]
    # +1.0 and +0.5 against uniform at 0.5 (not +3.0, +2.5 against 0.2)
    assert "| simclr_uniform_t0.5 | 2 | +0.75 |" in line


def test_cli_pick_lists_every_planned_variant(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "experiments",
                                                     "vision_report.py"),
                        "--results", str(tmp_path), "--pick"],
                       capture_output=True, text=True, check=True)
    assert "Not final: seed 0 of 12 of 12 variants" in r.stdout
    assert 'CONFIRM=""' in r.stdout


def write_curve(res, name, seed, knn):
    """A run whose per-epoch kNN top-1 (points) is the list knn."""
    base = os.path.join(res, "%s_s%d" % (name, seed))
    with open(base + ".out", "w") as f:
        f.write("kNN top-1 %.2f%% (k 200)\n" % knn[-1])
    with open(base + ".csv", "w") as f:
        f.write("epoch,knn_top1\n")
        for e, v in enumerate(knn):
            f.write("%d,%.4f\n" % (e, v / 100 if v is not None else -1))


def test_quarters():
    assert vr.quarters(20) == [(0, 4), (5, 9), (10, 14), (15, 19)]
    assert vr.quarters(6) == [(0, 0), (1, 2), (3, 3), (4, 5)]
    assert vr.quarters(2) == [(0, 0), (1, 1)]
    assert vr.quarters(0) == []


def test_trend_table_pairs_by_seed_and_epoch(tmp_path, capsys):
    res = str(tmp_path)
    # uniform differs by seed; the row is 1 point behind in the first half
    # and 2 ahead in the second, on both seeds; a not-evaluated epoch drops
    for s, u in enumerate([70.0, 75.0]):
        write_curve(res, "moco_uniform", s, [u] * 8)
        write_curve(res, "moco_rwr_exact_reference", s,
                    [u - 1] * 3 + [None] + [u + 2] * 4)
    write_curve(res, "moco_knn", 0, [50.0] * 8)  # one seed: no row
    runs, _ = vr.load(res)
    vr.trend_table(runs)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "| row | paired seeds | epochs 1-2 | epochs 3-4 | " \
                     "epochs 5-6 | epochs 7-8 |"
    assert "| moco_rwr_exact_reference | 2 | -1.00 | -1.00 | +2.00 | " \
           "+2.00 |" in out
    assert not any(ln.startswith("| moco_knn ") for ln in out)


def test_results_folders_merge_seeds(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for s in (0, 1, 2):
        write_run(str(a), "moco_uniform", s, 80.0)
        write_run(str(a), "moco_rwr_exact_reference", s, 80.5)
    for s in (3, 4):
        write_run(str(b), "moco_uniform", s, 80.0)
        write_run(str(b), "moco_rwr_exact_reference", s, 79.0)
    runs, _ = vr.load_all([str(a), str(b)])
    assert sorted(runs["moco_uniform"]) == [0, 1, 2, 3, 4]
    d = vr.paired(runs["moco_uniform"], runs["moco_rwr_exact_reference"],
                  "knn")
    assert d == pytest.approx([0.5, 0.5, 0.5, -1.0, -1.0])
    # the same run in both folders: which one counts is not clear
    write_run(str(b), "moco_uniform", 2, 81.0)
    with pytest.raises(SystemExit, match="moco_uniform seed 2"):
        vr.load_all([str(a), str(b)])
