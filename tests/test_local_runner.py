"""The command line: every option explained, bad input answered in one clear line."""
import shutil
import subprocess
import sys
import time

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


def test_a_failing_component_is_one_line_without_traceback(pipeline_run, tmp_path):
    """Pusher cannot write where a file stands in for the serving folder (upstream comes from the cache)."""
    output = tmp_path / "output"
    shutil.copytree(pipeline_run.output_dir, output)
    serving = output / "serving_model" / "penguins"
    shutil.rmtree(serving)
    serving.write_text("not a folder")
    result = subprocess.run([sys.executable, "local_runner.py", "--output-dir", str(output)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Pusher                             FAILED" in result.stdout
    errors = result.stderr.strip().splitlines()
    assert errors[0].startswith("error: Pusher failed: ")
    assert "Traceback" not in result.stderr and len(errors) == 2  # the message and the --verbose hint
    assert serving.read_text() == "not a folder"


def test_ragged_csv_is_caught_before_any_component(capsys, tmp_path):
    dataset = tmp_path / "ragged"
    shutil.copytree(PENGUINS, dataset)
    with open(dataset / "penguins.csv", "a") as f:
        f.write("Adelie,Dream,40.1\n")  # 3 fields under an 8-column header
    assert local_runner.main(["--dataset", str(dataset), "--output-dir", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {dataset / 'penguins.csv'}:346 has 3 fields but the header has 8: fix that row (a missing value "
        "is an empty field between commas; quote values that contain commas)")
    assert not (tmp_path / "out").exists()


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


@pytest.mark.parametrize("evaluation, words", [
    ("{metric: f1_score}", "unknown metric 'f1_score'; accepted: accuracy, auc"),
    ("{metric: auc, max_value: 0.9}", "evaluation.max_value does not fit 'auc' (higher is better): use min_value"),
    ("{metric: auc}", "evaluation.metric 'auc' does not fit task 'regression'"),
])
def test_evaluation_mistakes_fail_at_start_up_in_one_line(tmp_path, evaluation, words):
    """A user's whole command, imports included: one line, exit 2, within 5 seconds, nothing written."""
    dataset = tmp_path / "ds"
    shutil.copytree(PENGUINS, dataset)
    task = "task: regression\n" if "regression" in words else ""
    (dataset / "dataset.yaml").write_text(f"label: {'body_mass_g' if task else 'species'}\n{task}"
                                          f"evaluation: {evaluation}\n")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "local_runner.py", "--dataset", str(dataset),
                             "--output-dir", str(tmp_path / "out")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 5
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and words in result.stderr
    assert not (tmp_path / "out").exists()
