"""The pipeline benchmark's own logic: parsing, aggregation, tables, targets, data derivation.

No timing here: speed is checked by running benchmarks/pipeline.py, which prints numbers.
"""
import argparse
import ast
import csv
import importlib.util
import os
import subprocess
import sys

import pytest

from benchmarks import official_penguin
from benchmarks import pipeline as bench


def test_parse_sizes_accepts_names_counts_and_suffixes():
    assert bench.parse_sizes("bundled,100000,1000000") == ["bundled", "100000", "1000000"]
    assert bench.parse_sizes(" penguins , 100k, 1M, 100000 ") == ["bundled", "100000", "1000000"]
    assert bench.parse_sizes("2.5k") == ["2500"]
    for bad in ("lots", "0", "-5"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.parse_sizes(bad)


def test_formatting_helpers():
    assert bench.human_rows("1000000") == "1M" and bench.human_rows("100000") == "100k"
    assert bench.human_rows("1234") == "1234" and bench.human_rows("bundled") == "bundled"
    assert bench.fmt_seconds(None) == "-" and bench.fmt_seconds(12.34) == "12.3"
    assert bench.fmt_seconds(725.0) == "12m05.0s"
    assert bench.fmt_duration(39.44) == "39.4 s" and bench.fmt_duration(1426.6) == "23 min 47 s"
    assert bench.fmt_bytes(512 * 1024 ** 2) == "512 MB" and bench.fmt_bytes(3 * 1024 ** 3) == "3.00 GB"


def test_schedule_is_round_robin_over_variants():
    assert bench.schedule([["a1", "a2"], ["b1", "b2"], ["c1"]]) == ["a1", "b1", "c1", "a2", "b2"]
    assert bench.schedule([]) == []


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
    rows = bench.component_rows(executions, ["CsvExampleGen", "Trainer", "Evaluator", "Pusher"])
    assert [(r["node"], r["state"], r["seconds"]) for r in rows] == [
        ("CsvExampleGen", "cached", 0.1), ("Trainer", "ran", 10.0), ("Evaluator", "failed", 3.5),
        ("Pusher", "skipped", None)]
    assert bench.pipeline_span(rows) == pytest.approx(14.5)
    assert bench.pipeline_span([]) is None
    assert any("Pusher" in line and "skipped" in line for line in bench.format_components(rows))


def _run(variant, role, step, dataset, wall, peak=10 ** 9, exit_code=0, components=()):
    run = bench.RunResult(variant, role, step, dataset, ["x"], "/tmp/x.log", exit_code=exit_code,
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
    lines = bench.format_table("bundled", [a, b, failed])
    text = "\n".join(lines)
    assert bench.node_order([a, b]) == ["CsvExampleGen", "Trainer", "SchemaGen"]
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
    lines, checks = bench.summarize(runs)
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
    lines, checks = bench.summarize(runs)
    text = "\n".join(lines)
    assert "not measured (--skip-official)" in text
    assert not checks["bundled_cold_s"]["passed"]
    assert not checks["bundled_rerun_s"]["passed"] and "exit 4" in text


def test_parse_imports_seconds_from_runner_logs():
    ours = ("Pipeline penguins-pipeline: dataset /x, schema curated, Beam --direct_running_mode=in_memory, "
            "cache on (imports took 17.5 s)\n  CsvExampleGen ran 2.8 s\n")
    official = "INFO:absl:...\nofficial penguin example (multi_processing): imports+setup 22.8 s, pipeline 259.7 s"
    assert bench.parse_imports_seconds(ours) == 17.5
    assert bench.parse_imports_seconds(official) == 22.8
    assert bench.parse_imports_seconds("Traceback: ImportError") is None


def test_schema_mode_per_dataset():
    args = argparse.Namespace(generated_schema_mode="inferred")
    assert bench.schema_mode_for("bundled", args) == "curated"
    assert bench.schema_mode_for("1000000", args) == "inferred"
    assert bench.schema_mode_for("1000000", argparse.Namespace(generated_schema_mode="curated")) == "curated"


def test_exit_codes_pushed_but_smoke_failed_still_counts_as_end_to_end():
    smoke = _run("ours auto (in_memory)", "primary", "cold", "1000000", 300.0, exit_code=5)
    assert smoke.completed and not smoke.ok and bench.status_of(smoke) == "exit 5 smoke failed"
    anomalies = _run("ours auto (in_memory)", "primary", "cold", "1000000", 30.0, exit_code=3)
    assert not anomalies.completed and bench.status_of(anomalies) == "exit 3 anomalies"
    _, checks = bench.summarize([smoke])
    assert checks["large_cold_s"]["passed"]
    _, checks = bench.summarize([anomalies])
    assert not checks["large_cold_s"]["passed"]


def test_json_round_trip_reprints(tmp_path, capsys):
    runs = [_run("ours auto (in_memory)", "primary", "cold", "bundled", 40.0),
            _run("official multi_processing", "official", "cold", "bundled", 140.0)]
    args = argparse.Namespace(sizes=["bundled"])
    path = str(tmp_path / "bench.json")
    datasets = {"bundled": {"rows": 344, "csv_bytes": 13000, "auto_mode": "in_memory"}}
    bench._write_json(path, args, {}, (1.0, 1.0, 1.0), datasets, runs, {}, 0.0)
    _, loaded = bench.runs_from_json(path)
    assert [(r.variant, r.role, r.wall_s) for r in loaded] == [(r.variant, r.role, r.wall_s) for r in runs]
    assert isinstance(loaded[0].load_before, tuple)
    assert bench.main(["--from-json", path]) == 0
    out = capsys.readouterr().out
    assert "official multi_processing" in out and "= 0.29" in out


def test_other_mode():
    assert bench.other_mode("in_memory") == "multi_processing"
    assert bench.other_mode("multi_processing") == "in_memory"


def test_measure_sums_rss_over_the_process_tree(tmp_path):
    # A parent that starts a child which allocates ~60 MB: the peak must include the child.
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'b = bytearray(60 * 1024 * 1024); import time; time.sleep(1.0)'])")
    run = bench.RunResult("t", "primary", "cold", "bundled", [sys.executable, "-c", code],
                          str(tmp_path / "log.txt"))
    bench.measure(run, interval=0.05)
    assert run.exit_code == 0 and run.ok
    assert run.peak_processes >= 2
    assert run.peak_rss_bytes > 60 * 1024 ** 2
    assert run.wall_s > 0 and run.cpu_s >= 0


def test_measure_reports_failures_and_timeouts(tmp_path):
    run = bench.RunResult("t", "primary", "cold", "bundled",
                          [sys.executable, "-c", "import sys; print('bad things'); sys.exit(3)"],
                          str(tmp_path / "fail.log"))
    bench.measure(run, interval=0.05)
    assert run.exit_code == 3 and not run.ok and run.error_tail == ["bad things"]
    slow = bench.RunResult("t", "primary", "cold", "bundled", [sys.executable, "-c", "import time; time.sleep(30)"],
                           str(tmp_path / "slow.log"))
    bench.measure(slow, interval=0.05, timeout=0.3)
    assert slow.timed_out and not slow.ok and slow.wall_s < 20


def test_official_data_is_derived_like_the_tfx_repo(tmp_path):
    source = tmp_path / "penguins.csv"
    header = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex",
              "year"]
    rows = [["Adelie", "Torgersen", "30", "10", "170", "3000", "male", "2007"],
            ["Gentoo", "Biscoe", "50", "20", "230", "6000", "female", "2008"],
            ["Chinstrap", "Dream", "40", "15", "200", "4500", "female", "2009"],
            ["Adelie", "Torgersen", "", "", "", "", "", "2007"],          # missing measurements: dropped
            ["Adelie", "Torgersen", "35", "12", "180", "3500", "", "2007"]]  # missing sex: dropped
    with open(source, "w", newline="") as f:
        csv.writer(f).writerows([header] + rows)
    path = official_penguin.write_processed_csv(str(source), str(tmp_path / "data"))
    assert path.endswith("labelled/penguins_processed.csv")
    with open(path) as f:
        out = list(csv.DictReader(f))
    assert list(out[0]) == ["species", "culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
    assert [r["species"] for r in out] == ["0", "2", "1"]
    assert [float(r["culmen_length_mm"]) for r in out] == [0.0, 1.0, 0.5]
    assert [float(r["body_mass_g"]) for r in out] == [0.0, 1.0, 0.5]


def test_official_feature_keys_match_the_installed_example():
    # Read the installed example's source rather than import it (that imports TensorFlow).
    spec = importlib.util.find_spec("tfx")
    if spec is None:
        pytest.skip("tfx is not installed")
    path = os.path.join(os.path.dirname(spec.origin), "examples", "penguin", "penguin_utils_base.py")
    with open(path) as f:
        tree = ast.parse(f.read())
    values = {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
              for t in node.targets if isinstance(t, ast.Name) and t.id in ("FEATURE_KEYS", "_LABEL_KEY")}
    assert [name for name, _ in official_penguin.FEATURE_SOURCES] == values["FEATURE_KEYS"]
    assert official_penguin.LABEL == values["_LABEL_KEY"]


def test_benchmark_help_runs():
    out = subprocess.run([sys.executable, bench.__file__, "--help"], capture_output=True, text=True, check=True)
    assert "--compare-modes-at" in out.stdout and "--skip-official" in out.stdout


def test_first_of_several_reruns_is_the_no_change_rerun():
    runs = [_run("ours", "primary", step, "bundled", wall)
            for step, wall in (("cold", 40.0), ("re-run 1", 23.8), ("re-run 2", 19.7))]
    lines, checks = bench.summarize(runs)
    assert checks["bundled_rerun_s"]["value"] == 23.8
    assert any("no-change re-run < 25 s: 23.8 s" in line for line in lines)
