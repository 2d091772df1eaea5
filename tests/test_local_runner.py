"""The command line: every option explained, bad input answered in one clear line."""
import shutil
import subprocess
import sys

import pytest

import local_runner
from tests.conftest import PENGUINS, REPO_ROOT


def test_help_explains_every_option():
    result = subprocess.run([sys.executable, "local_runner.py", "--help"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for option in ("--dataset", "--output-dir", "--train-steps", "--schema-mode", "--beam-mode",
                   "--beam-workers", "--beam-arg", "--no-cache", "--config", "--verbose", "--no-smoke-test"):
        assert option in result.stdout
    assert "Exit codes" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--dataset", "/no/such/folder"], "error: dataset folder not found: /no/such/folder"),
    (["--config", "/no/such/run.yaml"], "error: config file not found: /no/such/run.yaml"),
    (["--train-steps", "-3"], "error: train steps must be a positive integer"),
])
def test_bad_input_is_one_clear_line(args, message, capsys, tmp_path):
    assert local_runner.main(args + ["--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == message
    assert not (tmp_path / "out").exists()  # nothing created for a run that cannot start


def test_label_missing_from_csv(capsys, tmp_path):
    dataset = tmp_path / "ds"
    shutil.copytree(PENGUINS, dataset)
    csv = dataset / "penguins.csv"
    csv.write_text(csv.read_text().replace("species,", "kind,", 1))
    assert local_runner.main(["--dataset", str(dataset), "--output-dir", str(tmp_path / "out")]) == 2
    assert "label column 'species' is not in" in capsys.readouterr().err


def test_unknown_flag_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        local_runner.main(["--beam-mode", "warp"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'warp'" in capsys.readouterr().err


@pytest.mark.e2e
def test_a_failing_component_is_one_line_without_traceback(tmp_path):
    dataset = tmp_path / "ragged"
    shutil.copytree(PENGUINS, dataset)
    with open(dataset / "penguins.csv", "a") as f:
        f.write("Adelie,Dream,40.1\n")  # 3 fields under an 8-column header
    result = subprocess.run([sys.executable, "local_runner.py", "--dataset", str(dataset),
                             "--output-dir", str(tmp_path / "out")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1
    assert "CsvExampleGen                      FAILED" in result.stdout
    errors = result.stderr.strip().splitlines()
    assert errors[0].startswith("error: CsvExampleGen failed: ValueError: Columns do not match specified csv headers")
    assert "Adelie" in errors[0]
    assert "Traceback" not in result.stderr and len(errors) == 2  # the message and the --verbose hint


def test_unusable_metadata_store_is_one_line_and_left_untouched(tmp_path, capsys):
    (tmp_path / "metadata.sqlite").write_text("not a database")
    assert local_runner.main(["--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path}/metadata.sqlite is not an ML Metadata store (file is not a database)"
    assert (tmp_path / "metadata.sqlite").read_text() == "not a database"


def test_output_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("precious")
    assert local_runner.main(["--output-dir", str(tmp_path / "taken")]) == 2
    assert "File exists" in capsys.readouterr().err
    assert (tmp_path / "taken").read_text() == "precious"


def test_portable_workers_that_cannot_import_fail_before_any_job_in_one_line(capsys, tmp_path, monkeypatch):
    from pipeline import portable

    monkeypatch.setattr(portable, "WORKER_PACKAGES", portable.WORKER_PACKAGES + ("no_such_project_module",))
    code = local_runner.main(["--beam-mode", "portable", "--output-dir", str(tmp_path / "out"), "--no-smoke-test"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: Beam's SDK workers cannot run this pipeline: ") and "\n" not in err
    assert err.endswith("fails with: No module named 'no_such_project_module'")
