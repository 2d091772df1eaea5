"""serving/request_log_format.py: the log's files and record fields, as the writer writes them."""
import json

from serving.request_log_format import LOG_FILE, RECORD_FIELDS, log_files
from serving.server.request_log_writer import record_line


def test_the_writer_writes_exactly_the_documented_fields():
    line = record_line((1714564800.5, "r1", "penguins", 3, "serving_default", "rest:predict", 1.23456,
                        {"classes": [b"Adelie"]}, [{"island": "Dream"}], None))
    record = json.loads(line)
    assert tuple(record) == RECORD_FIELDS
    assert record["timestamp"] == "2024-05-01T12:00:00.500+00:00"


def test_log_files_are_the_rotated_backups_oldest_first_then_the_current_one(tmp_path):
    for name in (LOG_FILE, f"{LOG_FILE}.1", f"{LOG_FILE}.10", f"{LOG_FILE}.2", f"{LOG_FILE}.old"):
        (tmp_path / name).write_text("")
    assert [p.rsplit("/", 1)[1] for p in log_files(str(tmp_path))] == [
        f"{LOG_FILE}.10", f"{LOG_FILE}.2", f"{LOG_FILE}.1", LOG_FILE]
    assert log_files(str(tmp_path / "missing")) == []
