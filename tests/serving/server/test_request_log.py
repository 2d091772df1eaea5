import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np
import pytest
from tensorflow.core.example import example_pb2

from serving.request_log_format import LOG_FILE, log_files
from serving.server.request_log import LoggedRequest, RequestLog
from serving.server.request_log_writer import record_line

from tests.conftest import REPO_ROOT


def _record(i: int = 0, **kw) -> LoggedRequest:
    base = dict(model="penguins", version=7, signature="serving_default", entrypoint="rest", latency_ms=1.5,
                outputs={"classes": np.array([b"Adelie"], dtype=object),
                         "probabilities": np.array([[0.9, 0.05, 0.05]], dtype=np.float32)},
                rows=[{"island": "Biscoe", "bill_length_mm": 40.0 + i}])
    base.update(kw)
    return LoggedRequest(**base)


def _lines(directory):
    return [json.loads(line) for path in log_files(str(directory)) for line in open(path)]


def test_every_request_logged_as_one_json_line(tmp_path):
    log = RequestLog(str(tmp_path))
    for i in range(3):
        log.submit(_record(i))
    log.flush()
    log.close()
    lines = _lines(tmp_path)
    assert [line["features"][0]["bill_length_mm"] for line in lines] == [40.0, 41.0, 42.0]
    first = lines[0]
    assert first["model"] == "penguins" and first["version"] == 7 and first["latency_ms"] == 1.5
    assert first["predictions"] == {"classes": ["Adelie"], "probabilities": [[0.9, 0.05, 0.05]]}
    assert first["timestamp"].endswith("+00:00")


def test_serialized_examples_are_parsed_by_the_writer(tmp_path):
    example = example_pb2.Example()
    example.features.feature["island"].bytes_list.value.append(b"Dream")
    log = RequestLog(str(tmp_path))
    log.submit(_record(rows=None, serialized_examples=[example.SerializeToString()]))
    log.flush()
    log.close()
    assert _lines(tmp_path)[0]["features"] == [{"island": "Dream"}]


def test_sampling(tmp_path):
    none = RequestLog(str(tmp_path / "none"), sample_rate=0.0)
    assert not any(none.wants() for _ in range(200))
    some = RequestLog(str(tmp_path / "some"), sample_rate=0.25, seed=1)
    share = sum(some.wants() for _ in range(4000)) / 4000
    assert 0.2 < share < 0.3
    none.close()
    some.close()
    with pytest.raises(ValueError, match="sample rate"):
        RequestLog(str(tmp_path / "bad"), sample_rate=1.5)


def test_rotation_by_size_keeps_backups_and_loses_nothing_recent(tmp_path):
    log = RequestLog(str(tmp_path), max_bytes=2000, backups=2)
    for i in range(60):
        log.submit(_record(i))
    log.flush()
    log.close()
    names = sorted(os.listdir(tmp_path))
    assert names == [LOG_FILE, LOG_FILE + ".1", LOG_FILE + ".2"]
    assert all(os.path.getsize(tmp_path / n) <= 2000 for n in names)
    values = [line["features"][0]["bill_length_mm"] for line in _lines(tmp_path)]
    assert values == sorted(values) and values[-1] == 99.0  # oldest first, newest kept


def test_a_stalled_writer_process_drops_and_counts_instead_of_blocking(tmp_path):
    """The writer process stopped (SIGSTOP): its pipe fills, the queue fills, records are dropped
    and counted; submit never waits. Resumed, everything not dropped reaches the file."""
    dropped = []
    log = RequestLog(str(tmp_path), queue_size=50, on_drop=lambda: dropped.append(1))
    os.kill(log._writer.pid, signal.SIGSTOP)
    submitted, slowest = 0, 0.0
    try:
        while not dropped and submitted < 200_000:
            started = time.perf_counter()
            log.submit(_record(submitted))
            slowest = max(slowest, time.perf_counter() - started)
            submitted += 1
            if submitted % 100 == 0:
                time.sleep(0.002)  # the send thread fills the pipe meanwhile
    finally:
        os.kill(log._writer.pid, signal.SIGCONT)
    assert dropped and log.dropped == len(dropped)
    assert slowest < 0.05
    log.flush()
    log.close()
    lines = _lines(tmp_path)
    assert len(lines) == submitted - log.dropped
    values = [line["features"][0]["bill_length_mm"] for line in lines]
    assert values == sorted(values)  # in order, with the dropped ones missing


def test_a_dead_writer_process_stops_the_log_not_the_server(tmp_path, caplog):
    caplog.set_level(logging.ERROR)  # a pipeline run earlier in the session quietens the root logger
    dropped = []
    log = RequestLog(str(tmp_path), on_drop=lambda: dropped.append(1))
    log.submit(_record(0))
    log.flush()
    log._writer.kill()
    log._writer.wait()
    deadline = time.monotonic() + 10
    while not log._broken and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(1, 4):
        log.submit(_record(i))  # no exception: the server keeps answering
    log.flush(timeout=5)
    log.close()
    assert len(dropped) == 3
    assert [line["features"][0]["bill_length_mm"] for line in _lines(tmp_path)] == [40.0]
    assert [r.message for r in caplog.records if r.levelname == "ERROR"] == [
        f"Request log stopped: the request log writer process exited with code -9; requests are still served "
        f"but no longer logged ({tmp_path / LOG_FILE})"]


def test_the_writer_process_ends_with_the_server(tmp_path):
    """A server killed with SIGKILL leaves no writer behind, and what it had sent is on disk."""
    script = (
        "import sys, time\n"
        "from serving.server.request_log import LoggedRequest, RequestLog\n"
        f"log = RequestLog({str(tmp_path)!r})\n"
        "log.submit(LoggedRequest('m', 1, 's', 'rest', 1.0, {}, rows=[{'x': 1}]))\n"
        "log.flush()\n"
        "print(log._writer.pid, flush=True)\n"
        "time.sleep(60)\n")
    server = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    writer_pid = int(server.stdout.readline())
    server.kill()
    server.wait()
    deadline = time.monotonic() + 10
    while _alive(writer_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(writer_pid)
    assert [line["features"] for line in _lines(tmp_path)] == [[{"x": 1}]]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_the_writer_process_imports_no_tensorflow():
    """It starts in a fraction of a second and stays small: the server may start several."""
    out = subprocess.run([sys.executable, "-c", "import sys, serving.server.request_log_writer; "
                          "print('tensorflow' in sys.modules)"], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("seconds", [1764000000.0, 1764000000.0005, 1764000000.9995, 1764000000.123456,
                                     1764000059.9999, 0.001])
def test_timestamps_as_isoformat_writes_them(seconds):
    expected = datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")
    assert record_line((seconds, "", "m", 1, "s", "rest", 1.0, {}, None, None)).startswith(
        b'{"timestamp":"' + expected.encode() + b'"')


def test_record_line_rounds_floats_and_decodes_bytes():
    line = json.loads(record_line((0.0, "id", "m", 1, "s", "grpc", 1.23456, {
        "classes": [b"Adelie", b"\xff"], "probabilities": [[0.8999999761581421, 1e-9]], "n": [3], "ok": [True]},
        None, None)))
    assert line["latency_ms"] == 1.235 and line["request_id"] == "id"
    assert line["predictions"] == {"classes": ["Adelie", "\ufffd"], "probabilities": [[0.9, 0.0]], "n": [3],
                                   "ok": [True]}
