"""Request logging as JSON lines, written by a writer process beside the server.

The request path only appends a small record to a bounded queue (or drops it and counts
the drop when the writer falls behind): it never touches the disk, never encodes JSON,
never parses tf.Examples and never wakes a thread. A thread here wakes every 5 ms, pickles
what arrived into one frame and sends it to the writer process
(serving/server/request_log_writer.py), which turns each record into one line of
`requests.jsonl` (rotated by size to `requests.jsonl.1`, `.2`...). Turning tf.Examples into
rows of raw features there, not under the server's GIL, took a quarter of the server's
time away from answering requests under load.

If the writer process dies, the server keeps serving: the records it can no longer write
are dropped and counted, and the failure is logged once.
"""
from __future__ import annotations

import logging
import os
import pickle
import random
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, List, Mapping, Optional, Sequence

import numpy as np

from serving.request_log_format import LOG_FILE
from serving.server.request_log_writer import ACK, FRAME_HEADER

log = logging.getLogger(__name__)

WRITE_INTERVAL_SECONDS = 0.005


@dataclass
class LoggedRequest:
    """What the request path hands over; turned into a JSON line by the writer process."""

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

    def fields(self) -> tuple:
        """The record as the tuple request_log_writer.record_line takes, in types pickle writes fast."""
        return (self.timestamp, self.request_id, self.model, self.version, self.signature, self.entrypoint,
                self.latency_ms, {key: np.asarray(value).tolist() for key, value in self.outputs.items()},
                None if self.rows is None else list(self.rows),
                None if self.serialized_examples is None else list(self.serialized_examples))


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
        self.dropped = 0
        self._on_drop = on_drop or (lambda: None)
        self._random = random.Random(seed)
        self._queue_size = queue_size
        self._pending: Deque[LoggedRequest] = deque()  # appended by the request path, no lock, no wake-up
        self._progress = threading.Condition()
        self._sent = self._acked = 0  # frames
        self._broken = False
        self._stopping = threading.Event()
        self._writer = subprocess.Popen(
            [sys.executable, "-m", "serving.server.request_log_writer", self.directory, str(max_bytes), str(backups)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        self._acks = threading.Thread(target=self._read_acks, name="request-log-acks", daemon=True)
        self._acks.start()
        self._thread = threading.Thread(target=self._send_loop, name="request-log", daemon=True)
        self._thread.start()

    def wants(self) -> bool:
        """Sampling decision, taken before the request builds a record."""
        return self.sample_rate >= 1.0 or self._random.random() < self.sample_rate

    def submit(self, record: LoggedRequest) -> None:
        """Never blocks: a record beyond `queue_size` waiting ones is dropped and counted."""
        if len(self._pending) >= self._queue_size or self._broken:
            self._drop(1)
            return
        self._pending.append(record)

    def flush(self, timeout: float = 60.0) -> None:
        """Blocks until every submitted record is on disk (for shutdown and tests)."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while (self._pending or self._acked < self._sent) and not self._broken and time.monotonic() < deadline:
                self._progress.wait(0.05)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)
        try:
            self._writer.stdin.close()
        except OSError:
            pass
        try:
            self._writer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._writer.kill()
            self._writer.wait()
        self._acks.join(timeout=10)

    def _drop(self, count: int) -> None:
        for _ in range(count):
            self.dropped += 1
            self._on_drop()

    def _send_loop(self) -> None:
        """Wakes every WRITE_INTERVAL_SECONDS and sends what arrived as one frame: one wake-up per
        interval, not per request, because each wake-up of this thread takes the GIL from the
        request path. Writing to the pipe releases the GIL; a writer that falls behind fills the
        pipe, this thread waits on it, and the queue above fills and drops."""
        while True:
            stopping = self._stopping.wait(WRITE_INTERVAL_SECONDS)
            records: List[tuple] = []
            while self._pending:
                record = self._pending.popleft()
                try:
                    records.append(record.fields())
                except Exception:  # noqa: BLE001 - a bad record must not stop the logger
                    log.exception("Could not log a request record")
            if records and not self._broken:
                payload = pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
                try:
                    self._writer.stdin.write(FRAME_HEADER.pack(len(payload)) + payload)
                    self._writer.stdin.flush()
                    with self._progress:
                        self._sent += 1
                except (BrokenPipeError, OSError, ValueError):
                    self._fail("the request log writer process exited", len(records))
            elif records:
                self._drop(len(records))
            if stopping:
                return

    def _read_acks(self) -> None:
        while True:
            data = self._writer.stdout.read(ACK.size)
            if len(data) < ACK.size:
                break
            with self._progress:
                self._acked = ACK.unpack(data)[0]
                self._progress.notify_all()
        if not self._stopping.is_set():
            self._fail(f"the request log writer process exited with code {self._writer.wait()}", 0)

    def _fail(self, reason: str, lost: int) -> None:
        with self._progress:
            first = not self._broken
            self._broken = True
            self._progress.notify_all()
        if first:
            log.error("Request log stopped: %s; requests are still served but no longer logged (%s)",
                      reason, self.path)
        self._drop(lost)
