"""experiments/vision.sh, the study's driver, with a fake trainer: finished
runs are skipped, a run's files are named as the report expects, and a
stopped study starts nothing more (its runs resume later)."""
import os
import signal
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
SCRIPT = os.path.join(ROOT, "experiments", "vision.sh")

# a fake `batchsampler train ...`: records its arguments and environment,
# writes the log it is given and a summary; SLEEP makes it wait first
FAKE = r"""#!/bin/bash
echo "$* | OMP_NUM_THREADS=$OMP_NUM_THREADS GLIBC_TUNABLES=$GLIBC_TUNABLES" >>"$CALLS"
sleep "${SLEEP:-0}"
while [ $# -gt 0 ]; do
  case $1 in --log) log=$2; shift ;; esac
  shift
done
echo "epoch,knn_top1" >"$log"
echo "kNN top-1 80.00% (k 200)"
"""


def make_env(tmp_path, sleep=0):
    fake = tmp_path / "fake.sh"
    fake.write_text(FAKE)
    fake.chmod(0o755)
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), BS_BIN=str(fake), BS_BUILD="test",
               CALLS=str(tmp_path / "calls"), SLEEP=str(sleep))
    env.pop("GLIBC_TUNABLES", None)
    return out, env


def test_runs_and_skips(tmp_path):
    out, env = make_env(tmp_path)
    env.update(STAGES="confirm", CONFIRM="simclr_uniform_t0.5", THREADS="3")
    subprocess.run(["bash", SCRIPT, "1"], env=env, check=True,
                   capture_output=True)
    names = sorted(os.listdir(out))
    assert names == ["simclr_uniform_t0.5_s1.csv", "simclr_uniform_t0.5_s1.out",
                     "simclr_uniform_t0.5_s2.csv", "simclr_uniform_t0.5_s2.out"]
    summary = (out / "simclr_uniform_t0.5_s1.out").read_text()
    assert "kNN top-1 80.00%" in summary and "build: test" in summary
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 2
    assert "--tau 0.5 --seed 1" in calls[0] and "--resume" in calls[0]
    assert "OMP_NUM_THREADS=3" in calls[0]
    assert "GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in calls[0]
    # again: both runs are finished, nothing runs
    subprocess.run(["bash", SCRIPT, "1"], env=env, check=True,
                   capture_output=True)
    assert len((tmp_path / "calls").read_text().splitlines()) == 2


def test_bad_jobs(tmp_path):
    out, env = make_env(tmp_path)
    r = subprocess.run(["bash", SCRIPT, "0"], env=env, capture_output=True,
                       text=True)
    assert r.returncode == 2 and "JOBS '0'" in r.stderr
    assert not (tmp_path / "calls").exists()


def test_stopped_study_starts_nothing_more(tmp_path):
    out, env = make_env(tmp_path, sleep=30)
    env.update(STAGES="variants")
    p = subprocess.Popen(["bash", SCRIPT, "1"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    calls = tmp_path / "calls"
    for _ in range(600):  # the first run has started (60 s at most)
        if calls.exists():
            break
        time.sleep(0.1)
    # the documented stop: the script, then the running trainer
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=10)
    subprocess.run(["pkill", "-f", str(tmp_path / "fake.sh")])
    time.sleep(1.5)  # time enough for xargs to start another run, if it did
    try:
        os.killpg(p.pid, signal.SIGKILL)  # leftovers, if the test fails
    except ProcessLookupError:
        pass
    assert len(calls.read_text().splitlines()) == 1
    # the stopped run left no summary, so the next study reruns it
    assert not any(n.endswith(".out") and ".partial" not in n
                   for n in os.listdir(out))


def test_extend_runs_seeds_3_and_4(tmp_path):
    out, env = make_env(tmp_path)
    env.update(STAGES="extend", EXTEND="moco_uniform moco_rwr_exact_reference",
               DRY="1")
    r = subprocess.run(["bash", SCRIPT, "2"], env=env, check=True,
                       capture_output=True, text=True)
    runs = [ln.split(":")[0] for ln in r.stdout.splitlines()]
    # in the order named, so that runs of one row go side by side
    assert runs == ["moco_uniform seed 3", "moco_uniform seed 4",
                    "moco_rwr_exact_reference seed 3",
                    "moco_rwr_exact_reference seed 4"]
    assert "--epoch-mode exact --alpha-schedule reference --seed 4" in \
        r.stdout.splitlines()[3]
    env.update(EXTEND="moco_nonsense")
    r = subprocess.run(["bash", SCRIPT, "2"], env=env, capture_output=True,
                       text=True)
    assert r.returncode == 2 and "EXTEND: unknown run 'moco_nonsense'" in \
        r.stderr
