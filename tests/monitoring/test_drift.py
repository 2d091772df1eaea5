"""The drift monitor: verdicts, reports and exit codes on a served version's schema, and end to end."""
import json
import os
import shutil
from datetime import datetime, timezone

import pytest

from monitoring import drift
from runs import exit_codes
from runs.layout import OutputLayout
from serving import synthetic_traffic
from serving.client import GrpcClient, RestClient
from serving.contract import ServingFeatures
from serving.server import ModelServer
from tests.conftest import REPO_ROOT as REPO

MODEL = "penguins"
CSV = os.path.join(REPO, "data", "penguins", "penguins.csv")
SCHEMA = os.path.join(REPO, "data", "penguins", "schema.pbtxt")
SHIFTS = {"bill_length_mm": 6.0, "body_mass_g": 700.0}
VERSION = 7


@pytest.fixture
def output_dir(tmp_path):
    """A served version as the monitor needs it (only its schema is read) and an empty request log."""
    extra = tmp_path / "out" / "serving_model" / MODEL / str(VERSION) / "assets.extra"
    extra.mkdir(parents=True)
    shutil.copy(SCHEMA, extra / "schema.pbtxt")
    return tmp_path / "out"


def log(output_dir, rows, extra_lines=()):
    folder = output_dir / "request_log" / MODEL
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "requests.jsonl", "ab") as f:
        for start in range(0, len(rows), 10):
            f.write(json.dumps({"timestamp": datetime.now(timezone.utc).isoformat(), "model": MODEL,
                                "version": VERSION, "request_id": f"r{start}",
                                "features": rows[start:start + 10]}).encode() + b"\n")
        for line in extra_lines:
            f.write(line + b"\n")


def check(output_dir, capsys, *flags):
    code = drift.main(["--output-dir", str(output_dir), "--baseline-data", CSV, *flags])
    captured = capsys.readouterr()
    reports = output_dir / "monitoring" / MODEL
    results = sorted(reports.glob("*.json")) if reports.exists() else []
    return code, (json.loads(results[-1].read_text()) if results else None), captured


def test_a_clean_window_is_clean_and_every_feature_is_reported(output_dir, rows, capsys):
    log(output_dir, synthetic_traffic.sample_rows(rows, 500, seed=11))
    code, result, out = check(output_dir, capsys)
    assert code == exit_codes.OK, out.out
    assert result["verdict"] == drift.CLEAN and result["ok"] and result["drifted_features"] == []
    features = set(ServingFeatures.from_file(SCHEMA).specs)
    assert {t["feature"] for t in result["tests"]} == features
    for test in result["tests"]:
        assert {"test", "statistic", "p_value", "adjusted_p_value", "effect_size", "verdict"} <= set(test)
    assert set(result["tfdv"]["drift"]) == features
    report = (output_dir / "monitoring" / MODEL).glob("*.md")
    text = next(report).read_text()
    assert "| bill_length_mm | kolmogorov_smirnov |" in text and "| island | chi_squared |" in text
    assert "verdict: **clean" in text


def test_a_one_sd_shift_names_that_feature_only(output_dir, rows, capsys):
    sd = float(__import__("numpy").std([r["bill_length_mm"] for r in rows if r["bill_length_mm"] is not None]))
    window = synthetic_traffic.sample_rows(rows, 500, seed=12)
    log(output_dir, synthetic_traffic.shift_rows(window, {"bill_length_mm": sd}))
    code, result, out = check(output_dir, capsys)
    assert code == exit_codes.FOUND
    assert result["verdict"] == drift.DRIFT and result["drifted_features"] == ["bill_length_mm"]
    assert "**drift**" in out.out and result["summary"].startswith("bill_length_mm (kolmogorov_smirnov")


def test_unreadable_lines_and_non_finite_values_are_counted_not_fatal(output_dir, rows, capsys):
    window = synthetic_traffic.sample_rows(rows, 400, seed=13)
    for row in window[:20]:
        row["bill_depth_mm"] = float("nan")
        row["island"] = float("inf")
    log(output_dir, window, [b"\xff\xfe\xfd", b'{"timestamp": "2024-05-01T12:00:00+00:00", "mod', b"{oops}"])
    code, result, out = check(output_dir, capsys)
    assert code in (exit_codes.OK, exit_codes.FOUND)
    unreadable = result["unreadable_log_lines"]
    assert (unreadable["total"], unreadable["not_utf8"], unreadable["truncated"], unreadable["malformed_json"]) == \
        (3, 1, 1, 1)
    assert "3 unreadable log line(s) skipped" in out.out
    assert result["values"]["bill_depth_mm"]["window"]["non_finite"] == 20
    assert result["values"]["island"]["window"]["non_finite"] == 20
    assert "| bill_depth_mm | 400 |" in out.out  # the table of values that could not be used


@pytest.mark.parametrize("count", [1, 40])
def test_too_few_rows_is_a_verdict_of_its_own(output_dir, rows, capsys, count):
    log(output_dir, synthetic_traffic.sample_rows(rows, count, seed=14))
    code, result, out = check(output_dir, capsys)
    assert code == exit_codes.BAD_INPUT
    assert result["verdict"] == drift.NOT_ENOUGH_ROWS and result["tests"] == []
    needed = result["rows_needed"]["rows"]
    assert needed > count
    assert out.err.strip() == (f"error: not enough rows to judge: {count} logged rows in this window, a "
                               f"one-standard-deviation shift of {result['rows_needed']['limiting_feature']} "
                               f"needs at least {needed} (false alarm rate 0.01, detection rate 0.95); send "
                               f"traffic or widen --since/--until")
    # The rates set the need: a laxer false alarm rate needs fewer rows.
    code, laxer, _ = check(output_dir, capsys, "--false-alarm-rate", "0.2", "--detection-rate", "0.5")
    assert laxer["rows_needed"]["rows"] < needed


def test_bad_flags_and_inputs_are_one_line(output_dir, tmp_path, rows, capsys):
    code, _, out = check(output_dir, capsys)
    assert code == exit_codes.BAD_INPUT and "only 0 logged rows" in out.err
    log(output_dir, rows[:50])
    assert drift.main(["--output-dir", str(output_dir), "--baseline_data", str(tmp_path / "nope.csv")]) == \
        exit_codes.BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read --baseline_data") and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        drift.main(["--output-dir", str(output_dir), "--false-alarm-rate", "1.5"])
    assert exit_info.value.code == exit_codes.BAD_INPUT
    with pytest.raises(SystemExit):
        drift.main(["--output-dir", str(output_dir), "--min-shift-sd", "-1"])


def serve_and_send(pipeline_run, log_dir, rows):
    """Half the batches over REST (raw features), half over gRPC (tf.Examples)."""
    with ModelServer(MODEL, pipeline_run.serving_dir, grpc_port=0, rest_port=0,
                     request_log_dir=str(log_dir)) as server:
        features = server.models.current.raw_features
        rest, grpc_client = RestClient(server.host, server.rest_port, MODEL), GrpcClient(server.grpc_target, MODEL)
        for n, start in enumerate(range(0, len(rows), 20)):
            batch = rows[start:start + 20]
            if n % 2:
                rest.predict_rows(batch)
            else:
                grpc_client.predict_examples(features.serialize(batch))
        rest.close()
        grpc_client.close()


@pytest.fixture(scope="module")
def rows():
    return ServingFeatures.from_file(os.path.join(REPO, "data", "penguins", "schema.pbtxt")).read_csv(CSV)


def run_monitor(pipeline_run, log_dir, report_dir, capsys):
    code = drift.main(["--output-dir", pipeline_run.output_dir, "--log-dir", str(log_dir),
                         "--report-dir", str(report_dir)])
    out = capsys.readouterr().out
    [json_path] = [p for p in os.listdir(report_dir) if p.endswith(".json")]
    return code, json.load(open(os.path.join(report_dir, json_path))), out


def test_normal_traffic_is_clean_and_shifted_traffic_drifts_on_the_shifted_features(
        pipeline_run, rows, tmp_path, capsys):
    normal_log, shifted_log = tmp_path / "normal", tmp_path / "shifted"
    serve_and_send(pipeline_run, normal_log, synthetic_traffic.sample_rows(rows, 400, seed=1))
    shifted = synthetic_traffic.shift_rows(synthetic_traffic.sample_rows(rows, 400, seed=2), SHIFTS)
    serve_and_send(pipeline_run, shifted_log, shifted)

    code, result, report = run_monitor(pipeline_run, normal_log, tmp_path / "r1", capsys)
    assert code == exit_codes.OK, report
    assert result["ok"] and result["verdict"] == drift.CLEAN and result["rows"] == 400 and result["requests"] == 20
    assert result["drifted_features"] == [] and result["anomalies"] == {}
    assert set(result["tfdv"]["drift"]) == set(rows[0])  # every serving feature was compared by TFDV too
    assert "MLMD lineage" in result["baseline"]["source"] and result["baseline"]["rows"] > 200
    assert result["baseline"]["data"].startswith(pipeline_run.pipeline_root)

    code, result, report = run_monitor(pipeline_run, shifted_log, tmp_path / "r2", capsys)
    assert code == exit_codes.FOUND, report
    assert result["verdict"] == drift.DRIFT and result["drifted_features"] == sorted(SHIFTS)
    assert result["tfdv"]["drift_threshold_exceeded"] == sorted(SHIFTS)
    for name in SHIFTS:
        [ks] = [t for t in result["tests"] if t["feature"] == name and t["test"] == "kolmogorov_smirnov"]
        assert ks["verdict"] == "drift" and ks["effect_size"] > 0.5
        assert f"| {name} | kolmogorov_smirnov |" in report


def test_window_and_errors(pipeline_run, rows, tmp_path, capsys):
    log_dir = tmp_path / "log"
    serve_and_send(pipeline_run, log_dir, rows[:40])
    code = drift.main(["--output-dir", pipeline_run.output_dir, "--log-dir", str(log_dir),
                         "--report-dir", str(tmp_path / "r"), "--until", "2000-01-01T00:00:00"])
    assert code == exit_codes.BAD_INPUT
    assert "only 0 logged rows" in capsys.readouterr().err
    code = drift.main(["--output-dir", pipeline_run.output_dir, "--log-dir", str(log_dir),
                         "--report-dir", str(tmp_path / "r"), "--since", "1h"])
    assert code == exit_codes.BAD_INPUT  # 40 rows are too few to catch a one-sd shift at the default rates
    assert "not enough rows to judge: 40 logged rows" in capsys.readouterr().err
    assert drift.main(["--output-dir", str(tmp_path / "none")]) == exit_codes.BAD_INPUT


def test_the_window_is_read_as_every_command_reads_a_moment():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert drift.window_moment("90m", now) == datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)
    assert drift.window_moment("600", now) == datetime(2024, 5, 1, 11, 50, tzinfo=timezone.utc)  # seconds
    assert drift.window_moment(None, now) is None
    with pytest.raises(drift.MonitorError, match="ISO 8601"):
        drift.window_moment("yesterday", now)


def test_the_result_file_is_where_the_layout_says_with_the_documented_keys(output_dir, rows, capsys):
    from monitoring.result_file import KEYS

    log(output_dir, synthetic_traffic.sample_rows(rows, 500, seed=11))
    code, result, _ = check(output_dir, capsys)
    latest = OutputLayout(str(output_dir)).monitoring_result(MODEL, "drift")
    assert json.loads(open(latest).read()) == result
    assert set(KEYS) <= set(result) and result["check"] == "drift"
    assert [os.path.basename(p)[:6] for p in result["report_files"]] == ["drift_", "drift_"]
    assert all(os.path.exists(p) for p in result["report_files"])


def test_the_old_snake_case_flags_still_work(output_dir, rows, capsys):
    log(output_dir, synthetic_traffic.sample_rows(rows, 500, seed=11))
    code = drift.main(["--output-dir", str(output_dir), "--baseline_data", CSV, "--false_alarm_rate", "0.01",
                       "--model_name", MODEL, "--min_rows", "31"])
    assert code == exit_codes.OK, capsys.readouterr()
    assert "--false_alarm_rate" not in drift.build_parser().format_help()
