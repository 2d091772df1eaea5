"""The pipeline benchmark's report: formatting, tables, target checks, the JSON file and re-printing it.

Everything here works on RunResults alone: no subprocess, no metadata store.
"""
import argparse
import json
import subprocess
import sys

import pytest

from benchmarks import pipeline_report as report
from benchmarks import pipeline_speed as speed
from benchmarks import run_measurement as measurement
from runs import exit_codes
from tests.conftest import REPO_ROOT


def test_formatting_helpers():
    assert report.human_rows("1000000") == "1M" and report.human_rows("100000") == "100k"
    assert report.human_rows("1234") == "1234" and report.human_rows("bundled") == "bundled"
    assert report.fmt_seconds(None) == "-" and report.fmt_seconds(12.34) == "12.3"
    assert report.fmt_seconds(725.0) == "12m05.0s"
    assert [report.fmt_seconds_unit(x) for x in (None, 12.34, 725.0)] == ["-", "12.3 s", "12m05.0s"]  # one unit
    assert report.fmt_duration(39.44) == "39.4 s" and report.fmt_duration(1426.6) == "23 min 47 s"
    assert report.fmt_bytes(512 * 1024 ** 2) == "512 MB" and report.fmt_bytes(3 * 1024 ** 3) == "3.00 GB"


def _run(variant, role, step, dataset, wall, peak=10 ** 9, exit_code=0, components=()):
    run = report.RunResult(variant, role, step, dataset, ["x"], "/tmp/x.log", exit_code=exit_code,
                           wall_s=wall, peak_rss_bytes=peak, peak_processes=3, cpu_s=wall)
    run.components = [dict(c) for c in components]
    return run


def test_table_lines_up_components_across_runs():
    a = _run("ours auto (in_memory)", "primary", "cold", "bundled", 40.0, components=[
        {"node": "CsvExampleGen", "state": "ran", "seconds": 2.0, "start_ms": 1, "end_ms": 2001},
        {"node": "Trainer", "state": "ran", "seconds": 9.0, "start_ms": 3000, "end_ms": 12000}])
    b = _run("official multi_processing", "official", "cold", "bundled", 140.0, components=[
        {"node": "CsvExampleGen", "state": "ran", "seconds": 19.0, "start_ms": 1, "end_ms": 19001},
        {"node": "SchemaGen", "state": "ran", "seconds": 1.0, "start_ms": 20000, "end_ms": 21000}])
    failed = _run("ours multi_processing", "compare", "cold", "bundled", 5.0, exit_code=1)
    failed.error_tail = ["error: Transform failed: boom"]
    lines = report.format_table("bundled", [a, b, failed])
    text = "\n".join(lines)
    assert report.node_order([a, b]) == ["CsvExampleGen", "Trainer", "SchemaGen"]
    trainer = next(line for line in lines if line.strip().startswith("Trainer"))
    assert "9.0 ran" in trainer
    assert "exit 1" in text and "Transform failed: boom" in text


def test_summary_checks_targets_ratio_and_modes():
    runs = [
        _run("ours auto (in_memory)", "primary", "cold", "bundled", 40.0),
        _run("official multi_processing", "official", "cold", "bundled", 140.0),
        _run("ours auto (in_memory)", "primary", "re-run", "bundled", 20.0),
        _run("ours multi_processing", "compare", "cold", "bundled", 100.0),
        _run("ours auto (in_memory)", "primary", "cold", "1000000", 16 * 60.0, peak=3 * 1024 ** 3),
    ]
    lines, checks = report.summarize(runs)
    text = "\n".join(lines)
    assert checks["bundled_cold_s"]["passed"] and checks["bundled_rerun_s"]["passed"]
    assert checks["ours_over_official"]["value"] == pytest.approx(40 / 140)
    assert checks["ours_over_official"]["passed"]
    assert not checks["large_cold_s"]["passed"] and checks["large_peak_bytes"]["passed"]
    assert checks["all_passed"] is False
    assert "[FAIL] 1M rows cold end to end" in text
    assert "ours auto (in_memory) is 2.50x faster" in text


def test_summary_without_official_or_with_failures():
    runs = [_run("ours auto (in_memory)", "primary", "cold", "bundled", 80.0),
            _run("ours auto (in_memory)", "primary", "re-run", "bundled", 10.0, exit_code=4)]
    lines, checks = report.summarize(runs)
    text = "\n".join(lines)
    assert "not measured (--skip-official)" in text
    assert not checks["bundled_cold_s"]["passed"]
    assert not checks["bundled_rerun_s"]["passed"] and "exit 4" in text


def test_exit_codes_pushed_but_smoke_failed_still_counts_as_end_to_end():
    smoke = _run("ours auto (in_memory)", "primary", "cold", "1000000", 300.0, exit_code=5)
    assert smoke.completed and not smoke.ok and report.status_of(smoke) == "exit 5 smoke failed"
    anomalies = _run("ours auto (in_memory)", "primary", "cold", "1000000", 30.0, exit_code=3)
    assert not anomalies.completed and report.status_of(anomalies) == "exit 3 anomalies"
    _, checks = report.summarize([smoke])
    assert checks["large_cold_s"]["passed"]
    _, checks = report.summarize([anomalies])
    assert not checks["large_cold_s"]["passed"]


def test_status_words_follow_the_shared_exit_codes():
    words = {code: report.status_of(_run("ours", "primary", "cold", "bundled", 1.0, exit_code=code))
             for code in (exit_codes.OK, exit_codes.FAILED, exit_codes.BAD_INPUT, exit_codes.NOT_BLESSED, 99)}
    assert words == {0: "ok", 1: "exit 1 failed", 2: "exit 2 bad config", 4: "exit 4 not blessed", 99: "exit 99"}
    assert report.status_of(None) == "not run"


def test_json_round_trip_reprints(tmp_path, capsys):
    runs = [_run("ours auto (in_memory)", "primary", "cold", "bundled", 40.0),
            _run("official multi_processing", "official", "cold", "bundled", 140.0)]
    args = argparse.Namespace(sizes=["bundled"])
    path = str(tmp_path / "bench.json")
    datasets = {"bundled": {"rows": 344, "csv_bytes": 13000, "auto_mode": "in_memory"}}
    report.write_json(path, args, {}, (1.0, 1.0, 1.0), datasets, runs, {}, 0.0)
    _, loaded = report.runs_from_json(path)
    assert [(r.variant, r.role, r.wall_s) for r in loaded] == [(r.variant, r.role, r.wall_s) for r in runs]
    assert isinstance(loaded[0].load_before, tuple)
    assert speed.main(["--from-json", path]) == 0
    out = capsys.readouterr().out
    assert "official multi_processing" in out and "= 0.29" in out


def test_first_of_several_reruns_is_the_no_change_rerun():
    runs = [_run("ours", "primary", step, "bundled", wall)
            for step, wall in (("cold", 40.0), ("re-run 1", 23.8), ("re-run 2", 19.7))]
    lines, checks = report.summarize(runs)
    assert checks["bundled_rerun_s"]["value"] == 23.8
    assert any("no-change re-run < 25 s: 23.8 s" in line for line in lines)


def test_dataset_titles_name_the_schema_mode_only_when_given():
    facts = {"rows": 344, "csv_bytes": 13000, "auto_mode": "in_memory"}
    assert report.dataset_title("bundled", facts) == "bundled: 344 rows, 0 MB CSV, auto mode -> in_memory"
    assert report.dataset_title("100000", facts, "curated").endswith("in_memory, schema curated")


def test_a_measured_runs_json_reprints_without_the_measuring_code(tmp_path):
    """The JSON the measuring side writes is all the report needs: no psutil, no subprocess, no MLMD."""
    run = report.RunResult("ours auto (in_memory)", "primary", "cold", "bundled",
                           [sys.executable, "-c", "print('(imports took 1.5 s)')"], str(tmp_path / "ours.log"))
    measurement.measure(run, interval=0.05)
    run.components = measurement.component_rows([{"node": "Trainer", "state": "ran", "seconds": 0.2,
                                                  "start_ms": 1000, "end_ms": 1200}], ["Trainer", "Pusher"])
    run.pipeline_s = measurement.pipeline_span(run.components)
    path = str(tmp_path / "benchmark.json")
    _, checks = report.summarize([run])
    report.write_json(path, argparse.Namespace(sizes=["bundled"]), {"cpus": 2}, (0.5, 0.5, 0.5),
                      {"bundled": {"rows": 344, "csv_bytes": 13000, "auto_mode": "in_memory"}}, [run], checks, 0.0)
    assert json.load(open(path))["complete"] is True

    code = ("import sys; from benchmarks import pipeline_report as r; code = r.reprint(sys.argv[1]); "
            "print(sorted(m for m in ('benchmarks.pipeline_speed', 'benchmarks.run_measurement', 'psutil', "
            "'ml_metadata') if m in sys.modules)); "
            "sys.exit(code)")
    out = subprocess.run([sys.executable, "-c", code, path], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.rstrip().endswith("[]"), "re-printing imported the measuring side"
    assert "== bundled: 344 rows" in out and "ours auto (in_memory)" in out
    trainer = next(line for line in out.splitlines() if line.strip().startswith("Trainer"))
    assert "0.2 ran" in trainer
    assert any(line.strip().startswith("Pusher") and line.rstrip().endswith("skipped") for line in out.splitlines())
    assert "imports, as printed (s)" in out and "1.5" in out
    assert "[PASS] bundled cold run <= 70 s" in out and "not measured (--skip-official)" in out
