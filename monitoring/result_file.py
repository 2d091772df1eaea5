"""The result file of a monitor: its schema, stated once, and the one function that writes it.

Every run of a monitor writes three files:
  <report dir>/<check>_<UTC time>.json   the result (the history of checks)
  <report dir>/<check>_<UTC time>.md     the same, as a readable report
  <output>/monitoring/<model>/latest_<check>.json   the same JSON again: the newest result,
      at the path runs/layout.py names (OutputLayout.monitoring_result), for the continuous
      loop (pipeline/continuous.py), which runs the monitors as commands and reads this file.
The report dir is <output>/monitoring/<model>/ unless --report-dir says otherwise; <check> is
"drift" (python -m monitoring.drift) or "live_quality" (python -m monitoring.live_quality).

Keys of every result:
  check          "drift" or "live_quality"
  model          the model name
  checked_at     when the check ran: ISO 8601 in UTC (a reader ignores a file older than its run)
  ok             true when nothing was found
  summary        one line: what was found, or why it is clean or could not be judged
  report_files   [the timestamped JSON, the markdown report]
Keys "drift" adds (besides the full statistics: tests, values, rows_needed, settings, tfdv...):
  verdict              "clean", "drift", "anomalies" or "not enough rows"
  drifted_features     features whose change is beyond chance and beyond the effect size
  anomalous_features   features with schema anomalies in the window
  tfdv.skew_threshold_exceeded, tfdv.drift_threshold_exceeded
                       features past the schema's TFDV comparators (reported, never an alert)
Keys "live_quality" adds:
  labels, joined       labels read, and joined with a logged prediction
  cells                per version (window "all") and per time window: labels, live,
                       blessed_metric, blessed_value, change, max_drop, alert
The exit code says the same as `ok`: 0 clean, 1 found, 2 could not judge (then "drift" may
still write its result, verdict "not enough rows"; a check that could not run writes none).
"""
from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any, Dict

KEYS = ("check", "model", "checked_at", "ok", "summary", "report_files")


def write_result(result: Dict[str, Any], report_dir: str, check: str, now: datetime, report: str,
                 latest_path: str) -> None:
    """Adds `check` and `report_files` to `result` and writes the three files the docstring lists."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    os.makedirs(report_dir, exist_ok=True)
    result["check"] = check
    result["report_files"] = [os.path.join(report_dir, f"{check}_{stamp}.json"),
                              os.path.join(report_dir, f"{check}_{stamp}.md")]
    missing = [key for key in KEYS if key not in result]
    if missing:
        raise ValueError(f"a {check} result lacks {missing}: monitoring/result_file.py states the keys")
    text = json.dumps(result, indent=2, allow_nan=False)
    with open(result["report_files"][0], "w") as f:
        f.write(text)
    with open(result["report_files"][1], "w") as f:
        f.write(report)
    os.makedirs(os.path.dirname(latest_path), exist_ok=True)
    partial = latest_path + ".partial"
    with open(partial, "w") as f:
        f.write(text)
    os.replace(partial, latest_path)  # a reader never sees half a file
