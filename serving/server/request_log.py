"""Request logging as JSON lines, written by a background thread.

The request path only appends a small record to a bounded queue (or drops it and counts
the drop when the writer falls behind): it never touches the disk, never encodes JSON,
never parses tf.Examples and never wakes the writer. The writer thread wakes every 5 ms,
appends one line per sampled request to `requests.jsonl` and rotates by size to
`requests.jsonl.1`, `.2`...
"""
from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence

import numpy as np

from serving.raw_features import parse_examples

log = logging.getLogger(__name__)

LOG_FILE = "requests.jsonl"
WRITE_INTERVAL_SECONDS = 0.005


@dataclass
class LoggedRequest:
    """What the request path hands over; turned into JSON by the writer thread."""

    model: str
    version: int
    signature: str
    entrypoint: str
    latency_ms: float
    outputs: Mapping[str, np.ndarray]
    rows: Optional[Sequence[Mapping[str, Any]]] = None  # raw features, when the client sent them
    serialized_examples: Optional[Sequence[bytes]] = None  # parsed into rows by the writer
    timestamp: float = field(default_factory=time.time)
    request_id: str = ""

    def to_json(self) -> Dict[str, Any]:
        rows = list(self.rows) if self.rows is not None else (
            parse_examples(self.serialized_examples) if self.serialized_examples is not None else None)
        return {
            "timestamp": datetime.fromtimestamp(self.timestamp, timezone.utc).isoformat(timespec="milliseconds"),
            "request_id": self.request_id,
            "model": self.model,
            "version": self.version,
            "signature": self.signature,
            "entrypoint": self.entrypoint,
            "latency_ms": round(self.latency_ms, 3),
            "features": rows,
            "predictions": {key: _jsonable(value) for key, value in self.outputs.items()},
        }


def _jsonable(value: np.ndarray):
    if value.dtype == object or value.dtype.kind == "S":
        return [_jsonable(v) if isinstance(v, np.ndarray) else v.decode("utf-8", "replace")
                for v in value]
    if value.dtype.kind == "f":
        return _rounded(value.tolist())
    return value.tolist()


def _rounded(values):
    """Six decimals, not float32 noise; plain Python (np.round costs more than this on a few values)."""
    if isinstance(values, list):
        return [_rounded(v) for v in values]
    return round(values, 6)


class RequestLog:
    """Non-blocking, sampled, size-rotated JSON-lines request log."""

    def __init__(self, directory: str, *, sample_rate: float = 1.0, max_bytes: int = 64 * 1024 * 1024,
                 backups: int = 5, queue_size: int = 10_000,
                 on_drop: Optional[Callable[[], None]] = None, seed: Optional[int] = None):
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"request log sample rate must be within [0, 1], got {sample_rate}")
        if max_bytes <= 0 or backups < 0:
            raise ValueError("request log max_bytes must be > 0 and backups >= 0")
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.path = os.path.join(self.directory, LOG_FILE)
        self.sample_rate = sample_rate
        self.max_bytes = max_bytes
        self.backups = backups
        self.dropped = 0
        self._on_drop = on_drop or (lambda: None)
        self._random = random.Random(seed)
        self._queue_size = queue_size
        self._pending: Deque[LoggedRequest] = deque()  # appended by the request path, no lock, no wake-up
        self._writing = False
        self._progress = threading.Condition()
        self._stopping = threading.Event()
        self._file = open(self.path, "a", encoding="utf-8")
        self._size = self._file.tell()  # kept here: a text file's tell() is slow, per line it was most of the cost
        self._thread = threading.Thread(target=self._write_loop, name="request-log", daemon=True)
        self._thread.start()

    def wants(self) -> bool:
        """Sampling decision, taken before the request builds a record."""
        return self.sample_rate >= 1.0 or self._random.random() < self.sample_rate

    def submit(self, record: LoggedRequest) -> None:
        """Never blocks: a record beyond `queue_size` waiting ones is dropped and counted."""
        if len(self._pending) >= self._queue_size:
            self.dropped += 1
            self._on_drop()
            return
        self._pending.append(record)

    def flush(self) -> None:
        """Blocks until every submitted record is on disk (for shutdown and tests)."""
        with self._progress:
            while (self._pending or self._writing) and self._thread.is_alive():
                self._progress.wait(0.1)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)
        self._file.close()

    def _write_loop(self) -> None:
        """Wakes every WRITE_INTERVAL_SECONDS and writes what arrived: one wake-up per interval, not per
        request, because each wake-up of this thread takes the GIL from the request path."""
        while True:
            stopping = self._stopping.wait(WRITE_INTERVAL_SECONDS)
            with self._progress:
                self._writing = True
            written = 0
            while self._pending:
                record = self._pending.popleft()
                try:
                    line = json.dumps(record.to_json(), separators=(",", ":")) + "\n"  # ASCII: len() is bytes
                    if self._size + len(line) > self.max_bytes and self._size > 0:
                        self._rotate()
                    self._file.write(line)
                    self._size += len(line)
                except Exception:  # noqa: BLE001 - a bad record must not stop the logger
                    log.exception("Could not write a request log record")
                written += 1
            if written:
                self._file.flush()
            with self._progress:
                self._writing = False
                self._progress.notify_all()
            if stopping:
                return

    def _rotate(self) -> None:
        self._file.close()
        if self.backups == 0:
            os.remove(self.path)
        else:
            for i in range(self.backups - 1, 0, -1):
                older = f"{self.path}.{i}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{i + 1}")
            os.replace(self.path, f"{self.path}.1")
        self._file = open(self.path, "a", encoding="utf-8")
        self._size = 0


def log_files(directory: str) -> List[str]:
    """The current log and its rotated backups, oldest first."""
    if not os.path.isdir(directory):
        return []
    backups = sorted((n for n in os.listdir(directory) if n.startswith(LOG_FILE + ".")
                      and n[len(LOG_FILE) + 1:].isdigit()),
                     key=lambda n: int(n[len(LOG_FILE) + 1:]), reverse=True)
    files = [os.path.join(directory, n) for n in backups]
    current = os.path.join(directory, LOG_FILE)
    if os.path.exists(current):
        files.append(current)
    return files
