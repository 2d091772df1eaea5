"""The pipeline benchmark's measuring side: sizes, scheduling, process-tree sampling, MLMD reading.

No timing here: speed is checked by running `python -m benchmarks.pipeline_speed`, which prints numbers.
"""
import argparse
import os
import subprocess
import sys

import pytest

from benchmarks import official_penguin
from benchmarks import pipeline_report as report
from benchmarks import pipeline_speed as speed
from runs.layout import OutputLayout
from tests.conftest import REPO_ROOT
from tests.mlmd_fake import CACHED, COMPLETE, FakeTfxStore


def test_parse_sizes_accepts_names_counts_and_suffixes():
    assert speed.parse_sizes("bundled,100000,1000000") == ["bundled", "100000", "1000000"]
    assert speed.parse_sizes(" penguins , 100k, 1M, 100000 ") == ["bundled", "100000", "1000000"]
    assert speed.parse_sizes("2.5k") == ["2500"]
    for bad in ("lots", "0", "-5"):
        with pytest.raises(argparse.ArgumentTypeError):
            speed.parse_sizes(bad)


def test_schedule_is_round_robin_over_variants():
    assert speed.schedule([["a1", "a2"], ["b1", "b2"], ["c1"]]) == ["a1", "b1", "c1", "a2", "b2"]
    assert speed.schedule([]) == []


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
    rows = speed.component_rows(executions, ["CsvExampleGen", "Trainer", "Evaluator", "Pusher"])
    assert [(r["node"], r["state"], r["seconds"]) for r in rows] == [
        ("CsvExampleGen", "cached", 0.1), ("Trainer", "ran", 10.0), ("Evaluator", "failed", 3.5),
        ("Pusher", "skipped", None)]
    assert speed.pipeline_span(rows) == pytest.approx(14.5)
    assert speed.pipeline_span([]) is None
    assert any("Pusher" in line and "skipped" in line for line in report.format_components(rows))


def test_parse_imports_seconds_from_runner_logs():
    ours = ("Pipeline penguins-pipeline: dataset /x, schema curated, Beam --direct_running_mode=in_memory, "
            "cache on (imports took 17.5 s)\n  CsvExampleGen ran 2.8 s\n")
    official = "INFO:absl:...\nofficial penguin example (multi_processing): imports+setup 22.8 s, pipeline 259.7 s"
    assert speed.parse_imports_seconds(ours) == 17.5
    assert speed.parse_imports_seconds(official) == 22.8
    assert speed.parse_imports_seconds("Traceback: ImportError") is None


def test_schema_mode_per_dataset():
    args = argparse.Namespace(generated_schema_mode="inferred")
    assert speed.schema_mode_for("bundled", args) == "curated"
    assert speed.schema_mode_for("1000000", args) == "inferred"
    assert speed.schema_mode_for("1000000", argparse.Namespace(generated_schema_mode="curated")) == "curated"


def test_other_mode():
    assert speed.other_mode("in_memory") == "multi_processing"
    assert speed.other_mode("multi_processing") == "in_memory"


def test_modes_compared_include_the_portable_runner_once():
    assert speed.compare_modes("in_memory") == ["multi_processing", "portable"]
    assert speed.compare_modes("portable") == ["in_memory"]


def test_measure_sums_rss_over_the_process_tree(tmp_path):
    # A parent that starts a child which allocates ~60 MB: the peak must include the child.
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'b = bytearray(60 * 1024 * 1024); import time; time.sleep(1.0)'])")
    run = report.RunResult("t", "primary", "cold", "bundled", [sys.executable, "-c", code],
                           str(tmp_path / "log.txt"))
    speed.measure(run, interval=0.05)
    assert run.exit_code == 0 and run.ok
    assert run.peak_processes >= 2
    assert run.peak_rss_bytes > 60 * 1024 ** 2
    assert run.wall_s > 0 and run.cpu_s >= 0


def test_measure_reports_failures_and_timeouts(tmp_path):
    run = report.RunResult("t", "primary", "cold", "bundled",
                           [sys.executable, "-c", "import sys; print('bad things'); sys.exit(3)"],
                           str(tmp_path / "fail.log"))
    speed.measure(run, interval=0.05)
    assert run.exit_code == 3 and not run.ok and run.error_tail == ["bad things"]
    slow = report.RunResult("t", "primary", "cold", "bundled",
                            [sys.executable, "-c", "import time; time.sleep(30)"], str(tmp_path / "slow.log"))
    speed.measure(slow, interval=0.05, timeout=0.3)
    assert slow.timed_out and not slow.ok and slow.wall_s < 20


def test_benchmark_help_runs():
    out = subprocess.run([sys.executable, "-m", "benchmarks.pipeline_speed", "--help"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True)
    assert "--compare-modes-at" in out.stdout and "--skip-official" in out.stdout
    assert "--from-json" in out.stdout and "python -m benchmarks.pipeline_speed" in out.stdout


def _fake_run(fake: FakeTfxStore, run_id: str, trainer_state=COMPLETE):
    run = fake.run(run_id)
    fake.execute(run, "CsvExampleGen", CACHED)
    fake.execute(run, "Trainer", trainer_state)
    fake.node("Pusher")  # registered, but not executed in this run: skipped


def test_component_times_are_read_from_the_newest_run_in_the_store(tmp_path):
    sqlite_path = OutputLayout(str(tmp_path)).metadata_sqlite
    fake = FakeTfxStore(sqlite_path, "penguins-pipeline")
    _fake_run(fake, "run-1")
    assert speed.count_runs(sqlite_path, "penguins-pipeline") == 1
    _fake_run(fake, "run-2")
    latest = speed.read_latest_run(sqlite_path, "penguins-pipeline")
    assert latest["run_id"] == "run-2"
    assert [(c["node"], c["state"]) for c in latest["components"]] == [
        ("CsvExampleGen", "cached"), ("Trainer", "ran"), ("Pusher", "skipped")]
    assert latest["pipeline_s"] is not None and latest["pipeline_s"] >= 0

    run = report.RunResult("ours", "primary", "re-run", "bundled", ["x"], "/tmp/x.log")
    speed.fill_from_mlmd(run, sqlite_path, "penguins-pipeline", runs_before=1)
    assert not run.mlmd_error and [c["node"] for c in run.components] == ["CsvExampleGen", "Trainer", "Pusher"]
    assert run.cell("Pusher") == "skipped" and run.pipeline_s == latest["pipeline_s"]

    stale = report.RunResult("ours", "primary", "re-run", "bundled", ["x"], "/tmp/x.log")
    speed.fill_from_mlmd(stale, sqlite_path, "penguins-pipeline", runs_before=2)
    assert stale.mlmd_error == "this run recorded no pipeline run in MLMD" and stale.components == []


def test_a_run_that_left_no_store_says_so_and_creates_none(tmp_path):
    sqlite_path = OutputLayout(str(tmp_path)).metadata_sqlite
    assert speed.count_runs(sqlite_path, "penguins-pipeline") == 0
    run = report.RunResult("ours", "primary", "cold", "bundled", ["x"], "/tmp/x.log")
    speed.fill_from_mlmd(run, sqlite_path, "penguins-pipeline", runs_before=0)
    assert "no metadata store at" in run.mlmd_error and run.components == []
    assert not os.path.exists(sqlite_path)  # read-only: no empty store left behind


def test_steps_follow_the_output_layout_and_run_the_official_example_as_a_module(tmp_path):
    args = argparse.Namespace(train_steps=None, generated_schema_mode="curated", reruns=2)
    ours = speed.our_steps("100000", "/data", {"pipeline_name": "p"}, "in_memory", "ours in_memory", "primary",
                           str(tmp_path), args, 1)
    out = str(tmp_path / "ours-100k-in_memory")
    assert [s.run.step for s in ours] == ["cold", "re-run"]
    assert [s.fresh_dir for s in ours] == [out, None]
    assert {s.sqlite_path for s in ours} == {OutputLayout(out).metadata_sqlite}
    assert ours[1].run.log == str(tmp_path / "logs" / "ours-100k-in_memory-re-run.log")
    assert ours[0].run.command[-2:] == ["--schema-mode", "curated"]
    official = speed.official_steps(str(tmp_path), "multi_processing", args)
    assert [s.run.step for s in official] == ["cold", "re-run 1", "re-run 2"]
    assert official[0].run.command[1:3] == ["-m", "benchmarks.official_penguin"]
    assert official[0].sqlite_path == OutputLayout(str(tmp_path / "official-multi_processing")).metadata_sqlite
    assert official[2].run.log == str(tmp_path / "logs" / "official-multi_processing-re-run2.log")
    assert speed.OFFICIAL_PIPELINE == official_penguin.PIPELINE_NAME
