"""The serving benchmark's command line (the benchmark itself needs a pushed model and prints numbers)."""
import subprocess
import sys

from benchmarks import serving_speed
from runs import exit_codes
from tests.conftest import REPO_ROOT


def test_serving_benchmark_help_runs():
    out = subprocess.run([sys.executable, "-m", "benchmarks.serving_speed", "--help"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True)
    for flag in ("--output-dir", "--model-name", "--requests", "--concurrency"):
        assert flag in out.stdout


def test_an_output_dir_without_a_pushed_model_is_bad_input(tmp_path, capsys):
    assert serving_speed.main(["--output-dir", str(tmp_path)]) == exit_codes.BAD_INPUT
    assert "no models" in capsys.readouterr().err
