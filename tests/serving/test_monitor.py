"""End to end: serve, send normal then shifted traffic, and let the monitor judge each."""
import json
import os
from datetime import datetime, timezone

import pytest

from runs import exit_codes
from serving import monitor, traffic
from serving.client import GrpcClient, RestClient
from serving.raw_features import RawFeatures
from serving.server import ModelServer
from tests.conftest import REPO_ROOT as REPO

MODEL = "penguins"
CSV = os.path.join(REPO, "data", "penguins", "penguins.csv")
SHIFTS = {"bill_length_mm": 6.0, "body_mass_g": 700.0}


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
    return RawFeatures.from_file(os.path.join(REPO, "data", "penguins", "schema.pbtxt")).read_csv(CSV)


def run_monitor(pipeline_run, log_dir, report_dir, capsys):
    code = monitor.main(["--output-dir", pipeline_run.output_dir, "--log_dir", str(log_dir),
                         "--report_dir", str(report_dir)])
    out = capsys.readouterr().out
    [json_path] = [p for p in os.listdir(report_dir) if p.endswith(".json")]
    return code, json.load(open(os.path.join(report_dir, json_path))), out


def test_normal_traffic_is_clean_and_shifted_traffic_drifts_on_the_shifted_features(
        pipeline_run, rows, tmp_path, capsys):
    normal_log, shifted_log = tmp_path / "normal", tmp_path / "shifted"
    serve_and_send(pipeline_run, normal_log, traffic.sample_rows(rows, 400, seed=1))
    serve_and_send(pipeline_run, shifted_log, traffic.shift_rows(traffic.sample_rows(rows, 400, seed=2), SHIFTS))

    code, result, report = run_monitor(pipeline_run, normal_log, tmp_path / "r1", capsys)
    assert code == exit_codes.OK, report
    assert result["ok"] and result["rows"] == 400 and result["requests"] == 20
    assert result["drifted_features"] == [] and result["anomalies"] == {}
    assert set(result["drift"]) == set(rows[0])  # every serving feature was compared
    assert "MLMD lineage" in result["baseline"]["source"] and "no drift" in report

    code, result, report = run_monitor(pipeline_run, shifted_log, tmp_path / "r2", capsys)
    assert code == exit_codes.FOUND, report
    assert result["drifted_features"] == sorted(SHIFTS)
    assert result["skewed_features"] == sorted(SHIFTS)
    assert result["anomalous_features"] == sorted(SHIFTS)
    for name in SHIFTS:
        m = result["drift"][name]
        assert m["measure"] == "jensen_shannon_divergence" and m["value"] > m["threshold"] == 0.15
        assert f"| {name} | **jensen_shannon_divergence" in report


def test_window_and_errors(pipeline_run, rows, tmp_path, capsys):
    log_dir = tmp_path / "log"
    serve_and_send(pipeline_run, log_dir, rows[:40])
    code = monitor.main(["--output-dir", pipeline_run.output_dir, "--log_dir", str(log_dir),
                         "--report_dir", str(tmp_path / "r"), "--until", "2000-01-01T00:00:00"])
    assert code == exit_codes.BAD_INPUT
    assert "only 0 logged rows" in capsys.readouterr().err
    code = monitor.main(["--output-dir", pipeline_run.output_dir, "--log_dir", str(log_dir),
                         "--report_dir", str(tmp_path / "r"), "--since", "1h", "--min_rows", "40"])
    assert code in (exit_codes.OK, exit_codes.FOUND)
    assert monitor.main(["--output-dir", str(tmp_path / "none")]) == exit_codes.BAD_INPUT


def test_parse_time():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert monitor.parse_time("90m", now) == datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)
    assert monitor.parse_time("2024-05-01T10:00:00", now) == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert monitor.parse_time(None, now) is None
    with pytest.raises(monitor.MonitorError, match="ISO 8601"):
        monitor.parse_time("yesterday", now)
