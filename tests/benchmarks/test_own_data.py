"""benchmarks/own_data.py: reads a run's summary and times the pre-flight scan."""
from benchmarks import own_data

SUMMARY = """Pipeline taxi-pipeline: dataset data/taxi, schema curated, Beam --direct_running_mode=in_memory
Task: binary classification of 'big_tipper', positive class '1'
Run 2026-11-28T09:11:51 finished in 154.5 s (9 ran)
Data: no anomalies against the schema
Evaluation: auc = 0.9123 overall on 3750 test examples (no baseline yet)
"""


def test_summary_gives_task_metric_and_value():
    result = own_data.parse_summary("taxi", SUMMARY, 160.0, 0)
    assert (result.task, result.metric, result.value, result.evaluated_examples) == (
        "binary classification", "auc", 0.9123, 3750)


def test_a_run_without_evaluation_has_no_value():
    result = own_data.parse_summary("taxi", "error: label column 'x' is not in ...", 1.0, 2)
    assert result.value is None and result.exit_code == 2


def test_preflight_timing_on_generated_rows(tmp_path):
    timings = own_data.preflight_seconds(200, str(tmp_path))
    assert [label for label, _ in timings] == ["species", "body_mass_g"]
    assert all(0 < seconds < 10 for _, seconds in timings)
