"""The package as installed: type stubs for every public name, py.typed,
pyproject metadata, and the import-time version check."""
import ast
import os
import subprocess
import sys

import pytest

import batchsampler as bs

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_SRC = os.path.join(HERE, "..", "batchsampler")


def _stub_names():
    """{name: set of member names} of the stub's module-level names."""
    with open(os.path.join(PKG_SRC, "__init__.pyi")) as f:
        tree = ast.parse(f.read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {n.name for n in node.body
                              if isinstance(n, ast.FunctionDef)} | {
                n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
        elif isinstance(node, ast.FunctionDef):
            out[node.name] = set()
        elif isinstance(node, ast.AnnAssign):
            out[node.target.id] = set()
    return out


def test_stubs_cover_every_public_name():
    stubs = _stub_names()
    for name in bs.__all__:
        assert name in stubs, "no stub for batchsampler.%s" % name
        obj = getattr(bs, name)
        if isinstance(obj, type):
            public = {m for m in vars(obj) if not m.startswith("_")}
            assert public <= stubs[name], (name, public - stubs[name])


def test_stub_signatures_match():
    import inspect

    with open(os.path.join(PKG_SRC, "__init__.pyi")) as f:
        tree = ast.parse(f.read())

    def params(fn):
        a = fn.args
        return [p.arg for p in a.posonlyargs + a.args if p.arg not in ("self", "cls")], \
            [p.arg for p in a.kwonlyargs]

    for node in tree.body:
        targets = []
        if isinstance(node, ast.FunctionDef):
            targets.append((getattr(bs, node.name), node))
        elif isinstance(node, ast.ClassDef):
            cls = getattr(bs, node.name)
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and not any(
                        isinstance(d, ast.Name) and d.id == "property"
                        for d in fn.decorator_list):
                    targets.append((getattr(cls, fn.name), fn))
        for obj, fn in targets:
            sig = inspect.signature(obj)
            pos = [p.name for p in sig.parameters.values()
                   if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                   and p.name not in ("self", "cls")]
            kwo = [p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]
            assert params(fn) == (pos, kwo), fn.name


def test_py_typed_and_stubs_are_package_data():
    assert os.path.exists(os.path.join(PKG_SRC, "py.typed"))
    installed = os.path.dirname(bs.__file__)
    assert os.path.exists(os.path.join(installed, "py.typed"))
    assert os.path.exists(os.path.join(installed, "__init__.pyi"))
    with open(os.path.join(HERE, "..", "pyproject.toml")) as f:
        text = f.read()
    assert 'requires-python = ">=3.9"' in text
    assert '"py.typed"' in text and '"*.pyi"' in text


def test_a_mismatched_extension_is_refused_at_import(tmp_path):
    """A copy of the package whose _version.py differs from the extension
    fails to import, naming both versions."""
    import shutil

    dst = tmp_path / "batchsampler"
    shutil.copytree(os.path.dirname(bs.__file__), dst,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (dst / "_version.py").write_text('__version__ = "9.9.9"\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path), PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, "-c", "import batchsampler"],
                       cwd=str(tmp_path), env=env, capture_output=True, text=True)
    assert r.returncode != 0
    assert "ImportError" in r.stderr
    assert "9.9.9" in r.stderr and bs.__version__ in r.stderr
