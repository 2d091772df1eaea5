"""The logged requests of one model in a time window, read from the request log.

The log is written by servers of other versions, rotated while being read, cut short by
a crash or a full disk, or edited by hand; so nothing in it is trusted. A line that cannot
be read (not UTF-8, truncated, malformed JSON, or JSON that is not a request record) is
counted by reason, the first few named by file and line, and reading goes on. Records are
read by the fields the monitor needs (timestamp, model, version, features); any other field
(a request id, say) is ignored.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

NOT_UTF8 = "not_utf8"
TRUNCATED = "truncated"
MALFORMED_JSON = "malformed_json"
NOT_A_RECORD = "not_a_record"
REASONS = (NOT_UTF8, TRUNCATED, MALFORMED_JSON, NOT_A_RECORD)
REASON_WORDS = {NOT_UTF8: "not UTF-8", TRUNCATED: "truncated", MALFORMED_JSON: "malformed JSON",
                NOT_A_RECORD: "not a request record"}
EXAMPLES_KEPT = 5


@dataclass
class UnreadableLines:
    counts: Counter = field(default_factory=Counter)
    first: List[str] = field(default_factory=list)  # "requests.jsonl:17: truncated"
    unreadable_rows: int = 0  # entries of a record's "features" that are not rows

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, path: str, line_number: int, reason: str) -> None:
        self.counts[reason] += 1
        if len(self.first) < EXAMPLES_KEPT:
            self.first.append(f"{os.path.basename(path)}:{line_number}: {REASON_WORDS[reason]}")

    def to_dict(self) -> Dict[str, Any]:
        return {"total": self.total, **{r: self.counts[r] for r in REASONS},
                "unreadable_rows": self.unreadable_rows, "first": list(self.first)}

    def summary(self) -> str:
        """'3 unreadable log lines skipped (1 not UTF-8, 2 truncated; first: requests.jsonl:4: ...)'."""
        if not self.total and not self.unreadable_rows:
            return "every log line was read"
        parts = [f"{self.counts[r]} {REASON_WORDS[r]}" for r in REASONS if self.counts[r]]
        text = f"{self.total} unreadable log line(s) skipped" + (f" ({', '.join(parts)})" if parts else "")
        if self.unreadable_rows:
            text += f"; {self.unreadable_rows} logged row(s) that are not feature objects"
        return text + (f"; first: {', '.join(self.first)}" if self.first else "")


@dataclass
class LoggedTraffic:
    rows: List[Dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    versions: Counter = field(default_factory=Counter)
    latest_version: Optional[int] = None
    unreadable: UnreadableLines = field(default_factory=UnreadableLines)


def _decode(raw: bytes) -> Tuple[Any, Optional[str]]:
    """One log line -> (its JSON value, None), or (None, the reason it cannot be read)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, NOT_UTF8
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        # A line cut short fails where its text ends; anything else fails inside it.
        return None, TRUNCATED if e.pos >= len(text.rstrip()) else MALFORMED_JSON
    except RecursionError:
        return None, MALFORMED_JSON


def _timestamp(record: Any) -> Optional[datetime]:
    if not isinstance(record, dict) or not isinstance(record.get("timestamp"), str):
        return None
    try:
        stamp = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _version(value: Any) -> Any:
    """Versions are integers; a log that wrote them as strings is read the same."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if value is None or (isinstance(value, int) and not isinstance(value, bool)) else str(value)


def read_traffic(log_dir: str, model_name: str, since: Optional[datetime], until: Optional[datetime]
                 ) -> LoggedTraffic:
    """Logged raw-feature rows of one model within [since, until), from every rotated file."""
    from serving.request_log_format import log_files

    traffic = LoggedTraffic()
    latest = None
    for path in log_files(log_dir):
        with open(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                record, reason = _decode(raw)
                if reason:
                    traffic.unreadable.add(path, number, reason)
                    continue
                stamp = _timestamp(record)
                if stamp is None:
                    traffic.unreadable.add(path, number, NOT_A_RECORD)
                    continue
                if record.get("model") != model_name or (since and stamp < since) or (until and stamp >= until):
                    continue
                version = _version(record.get("version"))
                traffic.requests += 1
                traffic.versions[version] += 1
                if latest is None or stamp >= latest:
                    latest, traffic.latest_version = stamp, version
                features = record.get("features")
                for row in features if isinstance(features, list) else []:
                    if isinstance(row, dict):
                        traffic.rows.append(row)
                    else:
                        traffic.unreadable.unreadable_rows += 1
    return traffic
