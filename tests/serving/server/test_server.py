"""The server as a whole: its command line, and zero errors under load while a version is pushed."""
import base64
import http.client
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


class Load:
    """Client threads sending 1-4 rows per request, REST and gRPC alternately, until stopped;
    every failure is collected, with the versions that answered."""

    def __init__(self, server, serialized, clients=16, max_requests=20000):
        self.server, self.serialized = server, serialized
        self.errors, self.versions_seen, self.done = [], set(), 0
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._counter = iter(range(max_requests))
        self._channel = grpc.insecure_channel(server.grpc_target)
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._threads = [threading.Thread(target=self._client) for _ in range(clients)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=120)
        self._channel.close()

    def _one(self, i, session):
        batch = self.serialized[i % 300:i % 300 + 1 + i % 4]
        if i % 2:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = MODEL
            request.inputs["examples"].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.string))
            response = self._stub.Predict(request, timeout=30)
            assert len(response.outputs["classes"].string_val) == len(batch)
            return response.model_spec.version.value
        body = {"instances": [{"b64": base64.b64encode(b).decode()} for b in batch]}
        r = session.post(f"{self.server.rest_url}/v1/models/{MODEL}:predict", json=body, timeout=30)
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions"]) == len(batch)
        return None

    def _client(self):
        session = requests.Session()
        for i in self._counter:  # shared, bounded iterator
            if self._stop.is_set():
                return
            try:
                served = self._one(i, session)
            except Exception as e:  # noqa: BLE001 - collected and asserted empty
                with self._lock:
                    self.errors.append(f"{i}: {type(e).__name__}: {e}")
                continue
            with self._lock:
                self.done += 1
                if served:
                    self.versions_seen.add(served)


def wait_for(condition, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_no_errors_under_load_while_a_new_version_is_pushed(base, tmp_path):
    [version] = list_versions(str(base))
    new_version = version + 1
    with ModelServer(MODEL, str(base), grpc_port=0, rest_port=0, poll_seconds=0.2,
                     request_log_dir=str(tmp_path / "logs")) as server:
        serialized = server.models.current.raw_features.serialize(
            server.models.current.raw_features.read_csv(CSV))
        with Load(server, serialized) as load:
            wait_for(lambda: load.done >= 200)
            push_slowly(base, version, new_version)
            wait_for(lambda: new_version in load.versions_seen)
            after = load.done
            wait_for(lambda: load.done >= after + 300)
        assert load.errors == []
        assert load.versions_seen == {version, new_version}
        assert server.models.current.version == new_version
        metrics = server.metrics.exposition().decode()
        assert 'status="OK"' in metrics and "INTERNAL" not in metrics and "NOT_FOUND" not in metrics


def _entries(version_dir):
    """Every file and folder of a pushed version, relative to it."""
    out = []
    for root, dirs, files in os.walk(version_dir):
        out += [os.path.relpath(os.path.join(root, n), version_dir) for n in dirs + files]
    return sorted(out)


def test_a_version_missing_any_file_never_serves_a_wrong_answer_under_load(base, tmp_path):
    """Each file (and folder) of a pushed version removed in turn, while clients keep sending:
    a version missing a required file is skipped with the file named, one missing anything
    else either fails to load or answers exactly as the complete version; no request fails."""
    from serving import contract

    [version] = list_versions(str(base))
    entries = _entries(base / str(version))
    with ModelServer(MODEL, str(base), grpc_port=0, rest_port=0, poll_seconds=0.1) as server:
        features = server.models.current.raw_features
        rows = features.read_csv(CSV)
        serialized = features.serialize(rows)
        reference = requests.post(f"{server.rest_url}/v1/models/{MODEL}:predict",
                                  json={"instances": rows[:50]}, timeout=30).json()
        skipped, served = {}, []
        with Load(server, serialized, clients=8) as load:
            for n, entry in enumerate(entries, start=1):
                new = base / str(version + n)
                staging = tmp_path / "staging" / str(version + n)
                shutil.copytree(base / str(version), staging)
                target = staging / entry
                shutil.rmtree(target) if target.is_dir() else target.unlink()
                os.rename(staging, new)  # appears at once, as an atomic push would put it
                wait_for(lambda: any(s.version == version + n and s.state in ("END", "AVAILABLE")
                                     for s in server.models.states(MODEL)))
                [state] = server.models.states(MODEL, version + n)
                if state.state == "END":
                    skipped[entry] = state.error_message
                    continue
                served.append(entry)
                answer = requests.post(f"{server.rest_url}/v1/models/{MODEL}/versions/{version + n}:predict",
                                       json={"instances": rows[:50]}, timeout=30).json()
                assert answer == reference, entry
        assert load.errors == [] and load.done > 0
        for required in contract.REQUIRED_FILES:
            assert required in skipped and "incomplete version, missing " + required in skipped[required]
        assert "variables" in skipped and "assets.extra" in skipped
        assert set(skipped) | set(served) == set(entries)


def _raw_predict(conn, body):
    """One keep-alive REST call; returns (time the request was fully sent, status or error name)."""
    conn.request("POST", f"/v1/models/{MODEL}:predict", body=body, headers={"Content-Type": "application/json"})
    sent = time.monotonic()
    response = conn.getresponse()
    payload = response.read()
    if response.status == 200:
        assert len(json.loads(payload)["predictions"]) == 1
    return sent, response.status


def test_sigterm_under_64_clients_cuts_no_request_and_accepts_none_after(base, tmp_path):
    log_dir = tmp_path / "logs"
    stderr_path = tmp_path / "stderr.txt"
    with open(stderr_path, "w") as stderr_file:  # a file, not a pipe: a full pipe would block the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "serving.server", f"--model_name={MODEL}", f"--model_base_path={base}",
             "--port=0", "--rest_api_port=0", f"--request_log_dir={log_dir}", "--grace_period_seconds=10",
             "--enable_batching"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=stderr_file, text=True)
    match = READY.search(proc.stdout.readline())
    assert match, stderr_path.read_text()
    port = int(match.group(1))
    schema = base / str(list_versions(str(base))[0]) / "assets.extra" / "schema.pbtxt"
    rows = RawFeatures.from_file(str(schema)).read_csv(CSV, limit=64)
    outcomes, lock, signalled = [], threading.Lock(), threading.Event()

    def client(i):
        body = json.dumps({"instances": [rows[i]]}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(2000):  # bounded; ends when the server is gone
            started = time.monotonic()
            try:
                sent, status = _raw_predict(conn, body)
            except ConnectionRefusedError:
                with lock:
                    outcomes.append((started, None, "refused"))
                return
            except (http.client.HTTPException, OSError) as e:
                with lock:
                    outcomes.append((started, None, type(e).__name__))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            with lock:
                outcomes.append((started, sent, status))
            if signalled.is_set() and time.monotonic() > signalled.at + 15:
                return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    wait_for(lambda: len(outcomes) >= 500, timeout=120)
    signalled.at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    signalled.set()
    for t in threads:
        t.join(timeout=120)
    assert proc.wait(timeout=60) == 0
    stderr = stderr_path.read_text()
    signal_at = signalled.at
    before = [o for o in outcomes if o[1] is not None and o[1] < signal_at]
    assert before and all(status == 200 for _, _, status in before)  # nothing in flight was cut
    late_ok = [o for o in outcomes if o[2] == 200 and o[0] > signal_at + 2.0]
    assert late_ok == []  # no request accepted after the signal (2 s for it to be noticed under load)
    assert {o[2] for o in outcomes} <= {200, 503, "refused", "RemoteDisconnected", "ConnectionResetError",
                                        "BrokenPipeError"}
    assert "Traceback" not in stderr and "Stopped: every request in flight was answered" in stderr
    logged = sum(1 for _ in open(log_dir / "requests.jsonl"))
    assert logged == sum(1 for o in outcomes if o[2] == 200)  # the request log was flushed before exit


def test_stalled_and_trickling_clients_are_timed_out_without_starving_others(base):
    import socket

    with ModelServer(MODEL, str(base), grpc_port=0, rest_port=0, rest_timeout_seconds=0.5) as server:
        silent = socket.create_connection(("127.0.0.1", server.rest_port))
        trickling = socket.create_connection(("127.0.0.1", server.rest_port))
        trickling.sendall(b"POST /v1/models/penguins:predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        rows = server.models.current.raw_features.read_csv(CSV, limit=1)
        started = time.monotonic()
        for _ in range(20):  # others are answered at once meanwhile
            r = requests.post(f"{server.rest_url}/v1/models/{MODEL}:predict", json={"instances": rows}, timeout=5)
            assert r.status_code == 200
        assert time.monotonic() - started < 5
        for sock in (silent, trickling):
            sock.settimeout(10)
            assert sock.recv(1024) == b""  # closed by the server after the timeout
            sock.close()


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
