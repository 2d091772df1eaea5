"""The server as a whole: its command line, and zero errors under load while a version is pushed."""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import grpc
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving.raw_features import RawFeatures
from serving.server import ModelServer
from serving.server.versions import list_versions
from tests.conftest import REPO_ROOT as REPO

MODEL = "penguins"
CSV = os.path.join(REPO, "data", "penguins", "penguins.csv")
READY = re.compile(r"REST http://127\.0\.0\.1:(\d+), gRPC 127\.0\.0\.1:(\d+)")


@pytest.fixture
def base(pipeline_run, tmp_path):
    path = tmp_path / "serving_model" / MODEL
    shutil.copytree(pipeline_run.serving_dir, path)
    return path


def test_command_line_serves_logs_and_stops_on_sigterm(base, tmp_path):
    log_dir = tmp_path / "logs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving.server", f"--model_name={MODEL}", f"--model_base_path={base}",
         "--port=0", "--rest_api_port=0", f"--request_log_dir={log_dir}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = READY.search(line)
        assert match, line + proc.stderr.read()
        rest_port = int(match.group(1))
        row = RawFeatures.from_file(str(base / str(list_versions(str(base))[0]) / "assets.extra" / "schema.pbtxt")
                                    ).read_csv(CSV, limit=1)
        r = requests.post(f"http://127.0.0.1:{rest_port}/v1/models/{MODEL}:predict",
                          json={"instances": row}, timeout=30)
        assert r.status_code == 200, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    [logged] = [json.loads(line) for line in open(log_dir / "requests.jsonl")]
    assert logged["features"] == row and logged["predictions"]["classes"] == [r.json()["predictions"][0]["classes"]]


def test_default_request_log_dir_follows_output_layout(base, tmp_path):
    server = ModelServer(MODEL, str(base), grpc_port=0, rest_port=0)
    assert server.request_log is None  # the library needs it explicitly; the CLI derives it:
    from runs.layout import OutputLayout
    assert OutputLayout.of_model_base_path(str(base)).request_log_dir(MODEL) == str(tmp_path / "request_log" / MODEL)


def test_command_line_fails_clearly_without_a_model(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "serving.server", f"--model_name={MODEL}",
         f"--model_base_path={tmp_path / 'nothing'}", "--port=0", "--rest_api_port=0"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2  # bad input, as every command
    assert "is not a directory" in result.stderr and "make run" in result.stderr


def push_slowly(base, source_version, new_version):
    """Writes a new version the way a copy does: saved_model.pb first, the rest a little later."""
    src, dst = base / str(source_version), base / str(new_version)
    dst.mkdir()
    shutil.copy(src / "saved_model.pb", dst / "saved_model.pb")
    time.sleep(0.5)
    for entry in sorted(os.listdir(src)):
        if entry != "saved_model.pb":
            (shutil.copytree if (src / entry).is_dir() else shutil.copy)(src / entry, dst / entry)


def test_no_errors_under_load_while_a_new_version_is_pushed(base, tmp_path):
    [version] = list_versions(str(base))
    new_version = version + 1
    with ModelServer(MODEL, str(base), grpc_port=0, rest_port=0, poll_seconds=0.2,
                     request_log_dir=str(tmp_path / "logs")) as server:
        features = server.models.current.raw_features
        rows = features.read_csv(CSV)
        serialized = features.serialize(rows)
        channel = grpc.insecure_channel(server.grpc_target)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        session_local = threading.local()
        errors, versions_seen, done_after_switch = [], set(), []
        lock = threading.Lock()
        pusher = threading.Thread(target=push_slowly, args=(base, version, new_version))
        max_requests, clients = 4000, 16
        counter = iter(range(max_requests))

        def one(i):
            batch = serialized[i % 300:i % 300 + 1 + i % 4]
            if i % 2:
                request = predict_pb2.PredictRequest()
                request.model_spec.name = MODEL
                request.inputs["examples"].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.string))
                response = stub.Predict(request, timeout=30)
                assert len(response.outputs["classes"].string_val) == len(batch)
                return response.model_spec.version.value
            session = getattr(session_local, "s", None) or requests.Session()
            session_local.s = session
            body = {"instances": [{"b64": base64.b64encode(b).decode()} for b in batch]}
            r = session.post(f"{server.rest_url}/v1/models/{MODEL}:predict", json=body, timeout=30)
            assert r.status_code == 200, r.text
            assert len(r.json()["predictions"]) == len(batch)
            return None

        def client():
            for i in counter:  # shared, bounded iterator: at most max_requests in all
                if i == 200:
                    pusher.start()
                try:
                    served = one(i)
                except Exception as e:  # noqa: BLE001 - collected and asserted empty
                    with lock:
                        errors.append(f"{i}: {type(e).__name__}: {e}")
                    continue
                with lock:
                    if served:
                        versions_seen.add(served)
                    if new_version in versions_seen:
                        done_after_switch.append(i)
                        if len(done_after_switch) >= 300:
                            return

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        pusher.join(timeout=60)
        channel.close()
        assert errors == []
        assert versions_seen == {version, new_version}
        assert server.models.current.version == new_version
        metrics = server.metrics.exposition().decode()
        assert 'status="OK"' in metrics and "INTERNAL" not in metrics and "NOT_FOUND" not in metrics


def test_every_prediction_has_a_request_id_returned_and_logged(base, tmp_path):
    log_dir = tmp_path / "logs"
    with ModelServer(MODEL, str(base), grpc_port=0, rest_port=0, request_log_dir=str(log_dir)) as server:
        features = server.models.current.raw_features
        rows = features.read_csv(CSV)[:1]
        url = f"{server.rest_url}/v1/models/{MODEL}:predict"
        generated = requests.post(url, json={"instances": rows}, timeout=30).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
        own = requests.post(url, json={"instances": rows}, headers={"X-Request-Id": "order-42"}, timeout=30)
        assert own.headers["x-request-id"] == "order-42"  # the client's own id, when it is a sane token
        odd = requests.post(url, json={"instances": rows}, headers={"X-Request-Id": "no spaces!"}, timeout=30)
        assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["x-request-id"])
        failed = requests.post(url, data=b"{not json", timeout=30)
        assert failed.status_code == 400 and "x-request-id" in failed.headers
        assert "x-request-id" not in requests.get(f"{server.rest_url}/v1/models/{MODEL}", timeout=30).headers
        channel = grpc.insecure_channel(server.grpc_target)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs["examples"].CopyFrom(tf.make_tensor_proto(features.serialize(rows), dtype=tf.string))
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        _, call = stub.Predict.with_call(request, timeout=30)
        from_grpc = dict(call.initial_metadata())["x-request-id"]
        _, call = stub.Predict.with_call(request, metadata=(("x-request-id", "grpc-7"),), timeout=30)
        assert dict(call.initial_metadata())["x-request-id"] == "grpc-7"
        channel.close()
    logged = [json.loads(line)["request_id"] for line in open(log_dir / "requests.jsonl")]
    assert logged == [generated, "order-42", odd.headers["x-request-id"], from_grpc, "grpc-7"]
