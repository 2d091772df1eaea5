"""The request log's format: the one module the server's writer and the monitors share.

`<output>/request_log/<model>/requests.jsonl` (runs/layout.py names the folder), rotated by
size to `requests.jsonl.1`, `.2`, ... (the highest number the oldest). One JSON object per
line, with the keys of RECORD_FIELDS:

  timestamp    ISO 8601 in UTC with milliseconds ("2024-05-01T12:00:00.123+00:00")
  request_id   the id the server answered with (serving.contract.REQUEST_ID_HEADER)
  model, version, signature, entrypoint   what answered ("rest" or "grpc" and the API)
  latency_ms   time spent answering
  features     the request's rows of raw features (null when they could not be read)
  predictions  output name -> the values returned, one per row

Written by serving/server/request_log_writer.py; read by monitoring/ (drift, live quality).
"""
from __future__ import annotations

import os
from typing import List

LOG_FILE = "requests.jsonl"
RECORD_FIELDS = ("timestamp", "request_id", "model", "version", "signature", "entrypoint", "latency_ms",
                 "features", "predictions")


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
