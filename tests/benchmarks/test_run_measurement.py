"""Measuring one benchmark run: process-tree sampling, the import time a runner logged, MLMD reading.

No timing here: speed is checked by running `python -m benchmarks.pipeline_speed`, which prints numbers.
"""
import os
import sys

import pytest

from benchmarks import pipeline_report as report
from benchmarks import run_measurement as measurement
from runs.layout import OutputLayout
from tests.mlmd_fake import CACHED, COMPLETE, FakeTfxStore


class _Execution:
    def __init__(self, node_id, state, start_ms, end_ms):
        self.node_id, self.state, self.start_ms, self.end_ms = node_id, state, start_ms, end_ms

    @property
    def seconds(self):
        return (self.end_ms - self.start_ms) / 1000.0


def test_component_rows_states_skipped_nodes_and_span():
    executions = [_Execution("CsvExampleGen", "cached", 1000, 1100),
                  _Execution("Trainer", "complete", 2000, 12000),
                  _Execution("Evaluator", "failed", 12000, 15500)]
    rows = measurement.component_rows(executions, ["CsvExampleGen", "Trainer", "Evaluator", "Pusher"])
    assert [(r["node"], r["state"], r["seconds"]) for r in rows] == [
        ("CsvExampleGen", "cached", 0.1), ("Trainer", "ran", 10.0), ("Evaluator", "failed", 3.5),
        ("Pusher", "skipped", None)]
    assert measurement.pipeline_span(rows) == pytest.approx(14.5)
    assert measurement.pipeline_span([]) is None
    assert any("Pusher" in line and "skipped" in line for line in report.format_components(rows))


def test_parse_imports_seconds_from_runner_logs():
    ours = ("Pipeline penguins-pipeline: dataset /x, schema curated, Beam --direct_running_mode=in_memory, "
            "cache on (imports took 17.5 s)\n  CsvExampleGen ran 2.8 s\n")
    official = "INFO:absl:...\nofficial penguin example (multi_processing): imports+setup 22.8 s, pipeline 259.7 s"
    assert measurement.parse_imports_seconds(ours) == 17.5
    assert measurement.parse_imports_seconds(official) == 22.8
    assert measurement.parse_imports_seconds("Traceback: ImportError") is None


def test_measure_sums_rss_over_the_process_tree(tmp_path):
    # A parent that starts a child which allocates ~60 MB: the peak must include the child.
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'b = bytearray(60 * 1024 * 1024); import time; time.sleep(1.0)'])")
    run = report.RunResult("t", "primary", "cold", "bundled", [sys.executable, "-c", code],
                           str(tmp_path / "log.txt"))
    measurement.measure(run, interval=0.05)
    assert run.exit_code == 0 and run.ok
    assert run.peak_processes >= 2
    assert run.peak_rss_bytes > 60 * 1024 ** 2
    assert run.wall_s > 0 and run.cpu_s >= 0


def test_measure_reports_failures_and_timeouts(tmp_path):
    run = report.RunResult("t", "primary", "cold", "bundled",
                           [sys.executable, "-c", "import sys; print('bad things'); sys.exit(3)"],
                           str(tmp_path / "fail.log"))
    measurement.measure(run, interval=0.05)
    assert run.exit_code == 3 and not run.ok and run.error_tail == ["bad things"]
    slow = report.RunResult("t", "primary", "cold", "bundled",
                            [sys.executable, "-c", "import time; time.sleep(30)"], str(tmp_path / "slow.log"))
    measurement.measure(slow, interval=0.05, timeout=0.3)
    assert slow.timed_out and not slow.ok and slow.wall_s < 20


def _fake_run(fake: FakeTfxStore, run_id: str, trainer_state=COMPLETE):
    run = fake.run(run_id)
    fake.execute(run, "CsvExampleGen", CACHED)
    fake.execute(run, "Trainer", trainer_state)
    fake.node("Pusher")  # registered, but not executed in this run: skipped


def test_component_times_are_read_from_the_newest_run_in_the_store(tmp_path):
    sqlite_path = OutputLayout(str(tmp_path)).metadata_sqlite
    fake = FakeTfxStore(sqlite_path, "penguins-pipeline")
    _fake_run(fake, "run-1")
    assert measurement.count_runs(sqlite_path, "penguins-pipeline") == 1
    _fake_run(fake, "run-2")
    latest = measurement.read_latest_run(sqlite_path, "penguins-pipeline")
    assert latest["run_id"] == "run-2"
    assert [(c["node"], c["state"]) for c in latest["components"]] == [
        ("CsvExampleGen", "cached"), ("Trainer", "ran"), ("Pusher", "skipped")]
    assert latest["pipeline_s"] is not None and latest["pipeline_s"] >= 0

    run = report.RunResult("ours", "primary", "re-run", "bundled", ["x"], "/tmp/x.log")
    measurement.fill_from_mlmd(run, sqlite_path, "penguins-pipeline", runs_before=1)
    assert not run.mlmd_error and [c["node"] for c in run.components] == ["CsvExampleGen", "Trainer", "Pusher"]
    assert run.cell("Pusher") == "skipped" and run.pipeline_s == latest["pipeline_s"]

    stale = report.RunResult("ours", "primary", "re-run", "bundled", ["x"], "/tmp/x.log")
    measurement.fill_from_mlmd(stale, sqlite_path, "penguins-pipeline", runs_before=2)
    assert stale.mlmd_error == "this run recorded no pipeline run in MLMD" and stale.components == []


def test_a_run_that_left_no_store_says_so_and_creates_none(tmp_path):
    sqlite_path = OutputLayout(str(tmp_path)).metadata_sqlite
    assert measurement.count_runs(sqlite_path, "penguins-pipeline") == 0
    run = report.RunResult("ours", "primary", "cold", "bundled", ["x"], "/tmp/x.log")
    measurement.fill_from_mlmd(run, sqlite_path, "penguins-pipeline", runs_before=0)
    assert "no metadata store at" in run.mlmd_error and run.components == []
    assert not os.path.exists(sqlite_path)  # read-only: no empty store left behind
