"""The request log's writer process: records in on stdin, JSON lines out to `requests.jsonl`.

Turning a logged tf.Example into a row of raw features and encoding the line took about
50 us per request under the server's one GIL, a quarter of its time under load; here it
runs beside the server, on another core, and imports neither TensorFlow nor the server.

Protocol (serving/server/request_log.py speaks the other side): each frame on stdin is a
4-byte little-endian length and a pickled list of record tuples (`record_line` names their
fields); after a frame is written and flushed to the file, its number (8 bytes,
little-endian) goes to stdout. End of input: write out, close the file, exit 0. The file is rotated by size to
`requests.jsonl.1`, `.2`, ... keeping `backups` of them.
"""
from __future__ import annotations

import logging
import os
import pickle
import struct
import sys
from datetime import datetime, timezone
from typing import Any, BinaryIO, List, Sequence

import orjson

from serving.example_rows import parse_examples
from serving.request_log_format import LOG_FILE

FRAME_HEADER = struct.Struct("<I")
ACK = struct.Struct("<Q")

log = logging.getLogger("serving.server.request_log_writer")


def record_line(record: Sequence[Any]) -> bytes:
    """One record tuple -> its JSON line (with the newline)."""
    (timestamp, request_id, model, version, signature, entrypoint, latency_ms, outputs, rows,
     serialized) = record
    if rows is None and serialized is not None:
        rows = parse_examples(serialized)
    return orjson.dumps({
        "timestamp": _timestamp(timestamp),
        "request_id": request_id,
        "model": model,
        "version": version,
        "signature": signature,
        "entrypoint": entrypoint,
        "latency_ms": round(latency_ms, 3),
        "features": rows,
        "predictions": {key: _jsonable(value) for key, value in outputs.items()},
    }) + b"\n"


_second = [None, ""]  # the last whole second and its text: most records share it


def _timestamp(seconds: float) -> str:
    """ISO 8601 in UTC with milliseconds, as datetime.isoformat(timespec="milliseconds") writes it."""
    whole = int(seconds)
    if _second[0] != whole:
        _second[0], _second[1] = whole, datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{min(int((seconds - whole) * 1000), 999):03d}+00:00"


def _jsonable(value: Any) -> Any:
    """An output as nested lists (numpy's tolist()): text for bytes, six decimals for floats
    (not float32 noise), everything else as it is."""
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float):
        return round(value, 6)
    return value


class RotatingFile:
    def __init__(self, directory: str, max_bytes: int, backups: int):
        self.path = os.path.join(directory, LOG_FILE)
        self.max_bytes, self.backups = max_bytes, backups
        self._file: BinaryIO = open(self.path, "ab")
        self._size = self._file.tell()

    def write(self, line: bytes) -> None:
        if self._size + len(line) > self.max_bytes and self._size > 0:
            self._rotate()
        self._file.write(line)
        self._size += len(line)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

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
        self._file = open(self.path, "ab")
        self._size = 0


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def serve(stream_in: BinaryIO, stream_out: BinaryIO, out: RotatingFile) -> int:
    """Writes frames until the end of input; returns how many frames it wrote."""
    frames = 0
    while True:
        header = _read_exactly(stream_in, FRAME_HEADER.size)
        if not header:
            return frames
        records: List[Sequence[Any]] = pickle.loads(_read_exactly(stream_in, FRAME_HEADER.unpack(header)[0]))
        for record in records:
            try:
                out.write(record_line(record))
            except Exception:  # noqa: BLE001 - a bad record must not stop the logger
                log.exception("Could not write a request log record")
        out.flush()
        frames += 1
        stream_out.write(ACK.pack(frames))
        stream_out.flush()


def main(argv: Sequence[str]) -> int:
    directory, max_bytes, backups = argv[0], int(argv[1]), int(argv[2])
    out = RotatingFile(directory, max_bytes, backups)
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer, out)
    except BrokenPipeError:  # the server is gone: what was read is on disk
        pass
    finally:
        out.close()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(main(sys.argv[1:]))
