import json
import os
import threading

import numpy as np
import pytest
from tensorflow.core.example import example_pb2

from serving.server.request_log import LOG_FILE, LoggedRequest, RequestLog, log_files


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


def test_full_queue_drops_instead_of_blocking(tmp_path, monkeypatch):
    release = threading.Event()
    original = LoggedRequest.to_json
    monkeypatch.setattr(LoggedRequest, "to_json", lambda self: (release.wait(10), original(self))[1])
    dropped = []
    log = RequestLog(str(tmp_path), queue_size=2, on_drop=lambda: dropped.append(1))
    for i in range(10):
        log.submit(_record(i))  # returns at once although the writer is stuck
    assert log.dropped == len(dropped) >= 7
    release.set()
    log.flush()
    log.close()
    assert 1 <= len(_lines(tmp_path)) <= 3
