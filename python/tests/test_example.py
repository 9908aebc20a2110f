"""examples/simclr_pytorch.py: every option documented with its default,
--quick and --data behave as --help says (no training here)."""
import importlib.util
import os

import pytest

pytest.importorskip("torch")
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "simclr_pytorch.py")


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("simclr_pytorch", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_option_has_help_with_its_default(example, capsys):
    with pytest.raises(SystemExit) as e:
        example.parse_args(["--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for opt in ("--data", "--quick", "--steps", "--n-train", "--batch-size",
                "--M", "--K", "--alpha", "--refresh-every", "--refresh-lag",
                "--threads", "--workers", "--seed", "--only"):
        assert opt in text
    assert text.count("(default:") >= 18
    assert "(default: /usr/share/datasets/fashion-mnist)" in text


def test_quick_sets_the_small_run_and_explicit_values_win(example):
    a = example.parse_args(["--quick"])
    for k, v in example.QUICK.items():
        assert getattr(a, k) == v
    a = example.parse_args(["--quick", "--steps", "7"])
    assert a.steps == 7 and a.n_train == example.QUICK["n_train"]
    assert example.parse_args([]).steps == 300


def test_a_wrong_data_path_is_a_one_line_error(example, tmp_path):
    with pytest.raises(SystemExit) as e:  # sys.exit(message): exit status 1
        example.load(str(tmp_path), "train")
    msg = str(e.value.code)
    assert "\n" not in msg
    assert "--data" in msg and "not found" in msg and str(tmp_path) in msg
