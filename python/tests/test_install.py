"""pip install ./python, offline, as docs/python.md says (a venv with the
system's site packages and --no-build-isolation), from a copy of the
sources; then import from another directory.

It compiles the library (minutes on 2 cores), so it runs only with
BS_TEST_PIP=1:
    BS_TEST_PIP=1 PYTHONPATH=build/python /usr/bin/python3 -m pytest -q python/tests/test_install.py
"""
import os
import shutil
import subprocess
import sys

import pytest

import batchsampler as bs

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

pytestmark = pytest.mark.skipif(
    os.environ.get("BS_TEST_PIP") != "1",
    reason="compiles the library with pip (minutes): set BS_TEST_PIP=1")


def _tracked(sub):
    out = subprocess.run(["git", "-C", ROOT, "ls-files", sub], check=True,
                         capture_output=True, text=True).stdout.split()
    return out


def test_pip_install_offline_then_import_elsewhere(tmp_path):
    src = tmp_path / "src"
    for sub in ("include", "src", "python"):
        for f in _tracked(sub):
            dst = src / f
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.join(ROOT, f), dst)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages",
                    str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation",
                        "--no-index", "./python"], cwd=str(src), env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import os, batchsampler as b; d = os.path.dirname(b.__file__); "
            "print(b.__version__, os.path.exists(os.path.join(d, 'py.typed')), "
            "os.path.exists(os.path.join(d, '__init__.pyi')), d)")
    r = subprocess.run([py, "-c", code], cwd=str(elsewhere), env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    version, typed, stub, where = r.stdout.split()
    assert version == bs.__version__
    assert typed == stub == "True"
    assert where.startswith(str(venv))
