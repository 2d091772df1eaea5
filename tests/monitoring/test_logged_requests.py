"""Reading the request log: every unreadable line counted by reason, nothing stops the reading."""
import json
from datetime import datetime, timezone

from monitoring.logged_requests import MALFORMED_JSON, NOT_A_RECORD, NOT_UTF8, TRUNCATED, read_traffic
from serving.request_log_format import LOG_FILE


def record(i, model="penguins", version=5, stamp="2024-05-01T12:00:00+00:00", **extra):
    return json.dumps({"timestamp": stamp, "model": model, "version": version,
                       "features": [{"island": "Dream", "bill_length_mm": float(i)}], **extra}).encode()


def write(path, lines):
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_unreadable_lines_are_counted_by_reason_and_reading_goes_on(tmp_path):
    write(tmp_path / LOG_FILE, [
        record(1),
        b'{"timestamp": "2024-05-01T12:00:01+00:00", "model": "pengu',  # cut short (a crash mid-write)
        b"\xff\xfe\x00 not utf-8",
        b'{"timestamp": 12, }',  # malformed in the middle
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the JSON parser recurses
        b'"a string"',
        b'{"timestamp": "yesterday", "model": "penguins"}',
        b'{"model": "penguins", "features": []}',
        record(2, request_id="abc-123"),  # a field this reader does not know
        b"",
        record(3),
    ])
    traffic = read_traffic(str(tmp_path), "penguins", None, None)
    assert [r["bill_length_mm"] for r in traffic.rows] == [1.0, 2.0, 3.0]
    counts = traffic.unreadable.counts
    assert (counts[TRUNCATED], counts[NOT_UTF8], counts[MALFORMED_JSON], counts[NOT_A_RECORD]) == (1, 1, 2, 3)
    assert traffic.unreadable.total == 7
    assert traffic.unreadable.first[0] == f"{LOG_FILE}:2: truncated"
    summary = traffic.unreadable.summary()
    assert summary.startswith("7 unreadable log line(s) skipped (1 not UTF-8, 1 truncated, 2 malformed JSON, "
                              "3 not a request record)")
    assert traffic.unreadable.to_dict()["total"] == 7


def test_rotated_files_window_models_and_versions(tmp_path):
    write(tmp_path / f"{LOG_FILE}.1", [record(1, stamp="2024-05-01T11:00:00+00:00", version="4")])
    write(tmp_path / LOG_FILE, [
        record(2, stamp="2024-05-01T12:00:00"),  # no zone: UTC
        record(3, model="other"),
        record(4, stamp="2024-05-01T13:00:00Z", version=5),
    ])
    since = datetime(2024, 5, 1, 11, 30, tzinfo=timezone.utc)
    traffic = read_traffic(str(tmp_path), "penguins", since, None)
    assert [r["bill_length_mm"] for r in traffic.rows] == [2.0, 4.0]
    assert traffic.latest_version == 5 and traffic.requests == 2
    everything = read_traffic(str(tmp_path), "penguins", None, None)
    assert dict(everything.versions) == {4: 1, 5: 2}
    assert everything.unreadable.summary() == "every log line was read"


def test_rows_that_are_not_feature_objects_are_counted(tmp_path):
    line = json.dumps({"timestamp": "2024-05-01T12:00:00+00:00", "model": "penguins", "version": 1,
                       "features": [{"island": "Dream"}, None, 3, {}]}).encode()
    write(tmp_path / LOG_FILE, [line, json.dumps({"timestamp": "2024-05-01T12:00:00+00:00", "model": "penguins",
                                                  "version": 1, "features": "oops"}).encode()])
    traffic = read_traffic(str(tmp_path), "penguins", None, None)
    assert traffic.rows == [{"island": "Dream"}, {}]  # an empty row is a row whose features are all missing
    assert traffic.unreadable.unreadable_rows == 2 and traffic.requests == 2
    assert "2 logged row(s) that are not feature objects" in traffic.unreadable.summary()


def test_no_log_at_all(tmp_path):
    traffic = read_traffic(str(tmp_path / "missing"), "penguins", None, None)
    assert traffic.rows == [] and traffic.latest_version is None
