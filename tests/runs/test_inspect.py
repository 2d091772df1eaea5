"""runs.inspect: runs, artifacts, lineage and report from the command line, and its errors."""
import json
import os
import socket
import sqlite3
import subprocess
import sys

import pytest

from tests.mlmd_fake import CACHED, FAILED, RUNNING, FakeTfxStore, dead_pid
from tests.runs.span_records import ingest, train
from runs import inspect, metadata, records

from tests.conftest import REPO_ROOT
COMPONENTS = ("CsvExampleGen", "ImportSchemaGen", "StatisticsGen", "ExampleValidator", "Transform",
              "latest_blessed_model_resolver", "latest_hyperparameters_resolver", "Trainer", "Evaluator", "Pusher")


@pytest.fixture
def two_runs(tmp_path):
    """Run 1 completes and pushes; run 2 reuses ExampleGen from cache, then StatisticsGen fails."""
    fake = FakeTfxStore(str(tmp_path / "metadata.sqlite"))
    first = fake.run("run-1")
    examples = fake.execute(first, "CsvExampleGen", outputs={"examples": fake.artifact(
        "Examples", "/root/examples/1", split_names='["train", "eval"]', span=0)})["examples"]
    fake.execute(first, "StatisticsGen", inputs={"examples": examples},
                 outputs={"statistics": fake.artifact("ExampleStatistics", "/root/statistics/2")})
    model = fake.execute(first, "Trainer", inputs={"examples": examples},
                         outputs={"model": fake.artifact("Model", "/root/model/3")})["model"]
    fake.execute(first, "Pusher", inputs={"model": model}, outputs={"pushed_model": fake.artifact(
        "PushedModel", "/root/pushed/4", pushed=1, pushed_version="17")})
    second = fake.run("run-2")
    fake.execute(second, "CsvExampleGen", state=CACHED, outputs={"examples": examples})
    fake.execute(second, "StatisticsGen", state=FAILED, inputs={"examples": examples})
    return tmp_path


def _main(capsys, *argv):
    code = inspect.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_runs_newest_first_with_each_component_state(two_runs, capsys):
    code, out, err = _main(capsys, "runs", "--output-dir", str(two_runs), "--json")
    assert code == 0 and err == ""
    runs = json.loads(out)
    assert [r["run_id"] for r in runs] == ["run-2", "run-1"]
    assert all(r["pipeline"] == "fake-pipeline" for r in runs)
    states = {c["component"]: c["state"] for c in runs[0]["components"]}
    assert states == {"CsvExampleGen": "cached", "StatisticsGen": "failed", "Trainer": "skipped",
                      "Pusher": "skipped"}
    assert all(c["state"] == "complete" and c["seconds"] >= 0 for c in runs[1]["components"])


def test_runs_table_is_readable(two_runs, capsys):
    code, out, _ = _main(capsys, "runs", "--sqlite", str(two_runs / "metadata.sqlite"), "--limit", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Run run-2 (fake-pipeline): started ")
    assert "run-1" not in out
    assert any(line.split()[:2] == ["StatisticsGen", "failed"] for line in lines)
    assert any(line.split() == ["Trainer", "skipped", "-"] for line in lines)


def test_artifacts_filtered_by_type_and_run(two_runs, capsys):
    code, out, _ = _main(capsys, "artifacts", "--output-dir", str(two_runs), "--type", "model", "--json")
    assert code == 0
    [model] = json.loads(out)
    assert (model["type"], model["uri"], model["component"], model["run_id"]) == \
        ("Model", "/root/model/3", "Trainer", "run-1")

    code, out, _ = _main(capsys, "artifacts", "--output-dir", str(two_runs), "--run", "latest", "--json")
    assert code == 0
    [examples] = json.loads(out)  # the cached ExampleGen re-linked run 1's examples to run 2
    assert examples["type"] == "Examples" and examples["run_id"] == "run-1"
    assert examples["properties"]["span"] == 0


def test_artifacts_table_groups_by_type_with_key_properties(two_runs, capsys):
    code, out, _ = _main(capsys, "artifacts", "--output-dir", str(two_runs))
    assert code == 0
    headings = [line for line in out.splitlines() if not line.startswith(" ")]
    assert headings == ["Examples (1)", "ExampleStatistics (1)", "Model (1)", "PushedModel (1)"]
    assert "splits=train,eval span=0" in out
    assert "pushed=1 pushed_version=17" in out


def test_lineage_of_an_artifact_and_of_a_version(two_runs, capsys):
    code, out, _ = _main(capsys, "lineage", "--output-dir", str(two_runs), "--version", "17", "--json")
    assert code == 0
    steps = json.loads(out)["steps"]
    assert [s["role"] for s in steps] == ["pushed_model", "model", "statistics", "examples"]
    code, out, _ = _main(capsys, "lineage", "--output-dir", str(two_runs), "--artifact", "1")
    assert code == 0
    roles = [line.split("  ")[0] for line in out.splitlines() if not line.startswith(" ")]
    assert roles == ["statistics", "examples"] and "/root/examples/1" in out


@pytest.mark.parametrize("argv, message", [
    (("runs", "--output-dir", "{missing}"), "no metadata store at {missing}/metadata.sqlite"),
    (("artifacts", "--output-dir", "{store}", "--type", "Nope"), "no artifacts of type 'Nope'"),
    (("artifacts", "--output-dir", "{store}", "--run", "run-9"), "no pipeline run 'run-9'"),
    (("lineage", "--output-dir", "{store}", "--artifact", "999"), "no artifact with id 999"),
    (("lineage", "--output-dir", "{store}", "--version", "3"), "no model was pushed as serving version 3 "
                                                               "(pushed versions: 17)"),
    (("report", "--output-dir", "{store}", "--run", "run-9"), "no pipeline run 'run-9'"),
])
def test_bad_input_gives_one_line(two_runs, tmp_path, capsys, argv, message):
    paths = {"missing": str(tmp_path / "missing"), "store": str(two_runs)}
    code, out, err = _main(capsys, *(a.format(**paths) for a in argv))
    assert code == 2 and out == ""
    assert err.startswith("error: " + message.format(**paths)) and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "missing")  # a wrong path never creates a store


def test_empty_store_says_so(tmp_path, capsys):
    FakeTfxStore(str(tmp_path / "metadata.sqlite"))
    for command in ("runs", "artifacts", "lineage", "report"):
        code, _, err = _main(capsys, command, "--output-dir", str(tmp_path))
        assert code == 2 and err.count("\n") == 1, err
        assert "no pipeline runs" in err or "no artifacts" in err or "no model has been pushed" in err


def test_wrong_flags_give_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        inspect.main(["runs", "--bogus"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err == "error: unrecognized arguments: --bogus (see python -m runs.inspect --help)\n"


def _foreign_database(path):
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text)")


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.write_text("not a database, just text long enough to have a header"), "(file is not a database)"),
    (lambda p: p.write_bytes(b""), "(the file is empty)"),
    (_foreign_database, "(an SQLite database without ML Metadata's tables)"),
])
def test_not_a_store_gives_one_line_and_stays_untouched(tmp_path, capsys, make, reason):
    path = tmp_path / "metadata.sqlite"
    make(path)
    before = path.read_bytes()
    code, _, err = _main(capsys, "runs", "--output-dir", str(tmp_path))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {path} is not an ML Metadata store {reason}")
    assert path.read_bytes() == before


def test_interrupted_run_is_not_called_skipped(tmp_path, capsys):
    """A run whose process died while Transform ran: Transform interrupted, what follows not run."""
    fake = FakeTfxStore(str(tmp_path / "metadata.sqlite"))
    finished = fake.run("run-1")
    for node in COMPONENTS:
        fake.execute(finished, node)
    metadata.mark_run(fake.store, "run-1", **{metadata.RUN_OUTCOME: metadata.FINISHED})
    killed = fake.run("run-2")
    fake.execute(killed, "CsvExampleGen")
    fake.execute(killed, "Transform", state=RUNNING)
    metadata.mark_run(fake.store, "run-2", **{metadata.RUNNER_HOST: socket.gethostname(),
                                              metadata.RUNNER_PID: dead_pid()})
    code, out, _ = _main(capsys, "runs", "--output-dir", str(tmp_path))
    assert code == 0
    newest = out.split("\n\n")[0].splitlines()
    assert newest[0].endswith(", interrupted")
    states = dict(line.split()[:2] for line in newest[2:])
    assert states["CsvExampleGen"] == "complete" and states["Transform"] == "interrupted"
    assert "skipped" not in out.split("\n\n")[0]
    assert out.split("\n\n")[0].count("not run") == len(COMPONENTS) - 2


@pytest.mark.parametrize("module", ["runs.inspect", "pipeline.inspect"])  # the second: the name people know
def test_module_entry_point_prints_only_the_answer(two_runs, module):
    done = subprocess.run([sys.executable, "-m", module, "runs", "--output-dir", str(two_runs)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout.startswith("Run run-2 ")


@pytest.mark.e2e
def test_real_run(pipeline_run, capsys):
    """The session's real pipeline run: every component ran, and lineage reaches the CSV."""
    code, out, _ = _main(capsys, "runs", "--output-dir", pipeline_run.output_dir, "--json")
    assert code == 0
    [run] = json.loads(out)
    assert run["pipeline"] == pipeline_run.pipeline_name
    assert [c["component"] for c in run["components"]] == list(COMPONENTS)
    assert {c["state"] for c in run["components"]} == {"complete"}

    code, out, _ = _main(capsys, "lineage", "--output-dir", pipeline_run.output_dir)
    assert code == 0
    version = os.listdir(pipeline_run.serving_dir)[0]
    assert f"pushed_version: {version}" in out
    assert os.path.join(pipeline_run.dataset.folder, "*.csv") in out


def test_history_is_one_row_per_run_as_a_table_or_json(two_runs, capsys):
    code, out, _ = _main(capsys, "history", "--output-dir", str(two_runs))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["run", "started", "trigger", "spans", "outcome"]
    assert lines[1].split()[0] == "run-2" and " failed " in lines[1]
    assert lines[2].split()[0] == "run-1" and lines[2].split()[-1] == "17" and " manual " in lines[2]
    code, out, _ = _main(capsys, "history", "--output-dir", str(two_runs), "--json", "--limit", "1")
    [row] = json.loads(out)
    assert (row["run_id"], row["outcome"], row["trigger"]) == ("run-2", "failed", "manual")


def test_history_page_on_demand(two_runs, capsys):
    code, out, _ = _main(capsys, "history", "--html", "--output-dir", str(two_runs))
    assert code == 0 and out.strip() == str(two_runs / "reports" / "history.html")
    assert "run-1" in (two_runs / "reports" / "history.html").read_text()


def test_a_failed_smoke_test_shows_in_history_and_runs(tmp_path, capsys):
    fake = FakeTfxStore(str(tmp_path / "metadata.sqlite"))
    run = fake.run("run-1")
    train(fake, run, [ingest(fake, run, 1)], pushed_version=100)
    records.record_smoke_test(fake.store, "/serving/penguins/100", False, "server loads a version: no")
    code, out, _ = _main(capsys, "history", "--output-dir", str(tmp_path))
    assert code == 0 and "smoke test failed" in out.splitlines()[1]
    assert out.splitlines()[-1] == "run-1: smoke test failed: server loads a version: no"
    code, out, _ = _main(capsys, "runs", "--output-dir", str(tmp_path))
    assert out.splitlines()[0].endswith(", smoke test failed: server loads a version: no")
