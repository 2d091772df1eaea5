"""Live quality from delayed labels: `python -m monitoring.live_quality --output-dir DIR --labels FILE`.

True labels arrive after the predictions (a penguin's species confirmed in the lab, a
loan repaid or not). The server returns a request id with every prediction and writes
it in the request log; this command joins the labels (CSV with a header, or JSON lines:
`request_id`, `label`, and `row` when a request held several rows) with the logged
predictions, and reports the live accuracy per served version and per time window
(`--window`) beside the evaluation metric that blessed that version (found through ML
Metadata). A live value below the blessed one by more than the evaluation's own
`max_regression` bar exits 1 (0 when fine, 2 when it could not check), so the
continuous loop treats it as an alert. Classification models only: the live metric is
the share of predicted `classes` that match the label; it is compared with a blessing
metric that measures the same (any `*accuracy` metric).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Optional, Tuple

from monitoring.result_file import write_result
from runs import durations, exit_codes
from runs.cli import add_flag, add_model_name
from runs.layout import LayoutError, OutputLayout
from runs.store import MetadataConfig, StoreError, add_store_arguments, output_dir_from_args, store_from_args

CHECK = "live_quality"  # the name of its result file: OutputLayout.monitoring_result(model, CHECK)
CLASSES = "classes"
REQUIRED = ("request_id", "label")


class FeedbackError(ValueError):
    """The check cannot run (unreadable labels, nothing joined, no store); the message says what to do."""


@dataclass(frozen=True)
class Label:
    request_id: str
    label: str
    row: Optional[int] = None


@dataclass
class Cell:
    """Joined labels of one version (and one time window, or all of them)."""

    version: str
    window: str
    labels: int = 0
    correct: int = 0
    blessed_metric: Optional[str] = None
    blessed_value: Optional[float] = None
    max_drop: Optional[float] = None
    alert: bool = False

    @property
    def live(self) -> Optional[float]:
        return self.correct / self.labels if self.labels else None

    @property
    def change(self) -> Optional[float]:
        return None if self.live is None or self.blessed_value is None else self.live - self.blessed_value


@dataclass
class Joined:
    """Per labeled row: (version, request time, predicted class, true label)."""

    rows: List[Tuple[str, datetime, str, str]] = field(default_factory=list)
    labels: int = 0
    unmatched: int = 0
    ambiguous: int = 0


def read_labels(path: str) -> List[Label]:
    """CSV with a header row, or JSON lines (one object per line); keys request_id, label, optional row."""
    if not os.path.isfile(path):
        raise FeedbackError(f"labels file not found: {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        if text.lstrip().startswith("{"):
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            records = list(csv.DictReader(text.splitlines()))
    except ValueError as e:
        raise FeedbackError(f"{path}: not CSV or JSON lines: {e}") from None
    if not records:
        raise FeedbackError(f"{path} holds no labels")
    missing = [k for k in REQUIRED if k not in records[0]]
    if missing:
        raise FeedbackError(f"{path}: needs the keys {', '.join(REQUIRED)} (and optionally row); "
                            f"missing {', '.join(missing)}; found {', '.join(map(str, records[0]))}")
    labels = []
    for number, record in enumerate(records, start=1):
        row = record.get("row")
        try:
            labels.append(Label(str(record["request_id"]), str(record["label"]),
                                int(row) if row not in (None, "") else None))
        except (KeyError, TypeError, ValueError):
            raise FeedbackError(f"{path}: record {number} is not request_id, label[, row]: {record}") from None
    return labels


def read_predictions(log_dir: str, model_name: str, since: Optional[datetime], until: Optional[datetime]
                     ) -> Dict[str, dict]:
    """Logged requests by request id: {'version', 'time', 'classes'} (requests without an id are skipped)."""
    from serving.request_log_format import log_files

    found = {}
    for path in log_files(log_dir):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                    stamp = datetime.fromisoformat(record["timestamp"])
                except (ValueError, KeyError, TypeError):
                    continue
                rid = record.get("request_id")
                if not rid or record.get("model") != model_name or (since and stamp < since) \
                        or (until and stamp >= until):
                    continue
                classes = (record.get("predictions") or {}).get(CLASSES)
                found[rid] = {"version": str(record.get("version")), "time": stamp, "classes": classes or []}
    return found


def join(labels: List[Label], predictions: Dict[str, dict]) -> Joined:
    joined = Joined(labels=len(labels))
    for label in labels:
        logged = predictions.get(label.request_id)
        if logged is None:
            joined.unmatched += 1
            continue
        classes = logged["classes"]
        if label.row is None and len(classes) != 1:
            joined.ambiguous += 1
            continue
        index = label.row or 0
        if not 0 <= index < len(classes):
            joined.unmatched += 1
            continue
        joined.rows.append((logged["version"], logged["time"], str(classes[index]), label.label))
    return joined


def window_of(moment: datetime, seconds: float) -> str:
    start = datetime.fromtimestamp(moment.timestamp() // seconds * seconds, timezone.utc)
    end = datetime.fromtimestamp(start.timestamp() + seconds, timezone.utc)
    return f"{start.isoformat(timespec='minutes')} .. {end.isoformat(timespec='minutes')}"


def cells(joined: Joined, window_seconds: float) -> List[Cell]:
    """One cell per version over every window ('all'), then one per version and window."""
    table: Dict[Tuple[str, str], Cell] = {}
    for version, moment, predicted, truth in sorted(joined.rows, key=lambda r: (r[0], r[1])):
        for window in ("all", window_of(moment, window_seconds)):
            cell = table.setdefault((version, window), Cell(version, window))
            cell.labels += 1
            cell.correct += int(predicted == truth)
    return sorted(table.values(), key=lambda c: (c.version, c.window != "all", c.window))


def blessed_bar(store, base_path: str, version: str):
    """(metric, value, max drop) the version was blessed with, from ML Metadata; Nones when unknown."""
    from runs import lineage, results

    try:
        pushed = lineage.push_of_version_dir(store, os.path.join(base_path, version))
    except lineage.LineageError:
        return None, None, None
    evaluation = lineage.evaluation_of_push(store, pushed)
    if evaluation is None:
        return None, None, None
    bar = next((b for b in results.blessing_bars(evaluation.uri) if b.metric.endswith("accuracy")), None)
    if bar is None:
        return None, None, None
    value = results.read_evaluation(evaluation.uri, blessed=True).metrics.get("Overall", {}).get(bar.metric)
    return bar.metric, value, bar.max_drop


def check(output_dir: str, labels_path: str, model_name: Optional[str] = None, *, since: Optional[str] = None,
          until: Optional[str] = None, window: str = "1h", min_labels: int = 30,
          max_drop: Optional[float] = None, metadata_config: Optional[MetadataConfig] = None,
          now: Optional[datetime] = None) -> Dict[str, object]:
    """Everything `python -m monitoring.live_quality` does; returns the result and writes its files."""
    from runs.store import open_store

    now = now or datetime.now(timezone.utc)
    layout = OutputLayout(output_dir)
    try:
        base_path, model_name = layout.served_model(model_name)
    except LayoutError as e:
        raise FeedbackError(str(e)) from None
    try:
        window_seconds = durations.seconds(window)
        start, end = durations.moment(since, now), durations.moment(until, now)
    except ValueError as e:
        raise FeedbackError(str(e)) from None
    predictions = read_predictions(layout.request_log_dir(model_name), model_name, start, end)
    joined = join(read_labels(labels_path), predictions)
    if not joined.rows:
        raise FeedbackError(f"none of the {joined.labels} labels matches a logged prediction of '{model_name}' "
                            f"in {layout.request_log_dir(model_name)} (wrong ids, another window, or not logged)")
    store = open_store(metadata_config or MetadataConfig.for_output(output_dir), readonly=True)
    result_cells = cells(joined, window_seconds)
    bars = {c.version: blessed_bar(store, base_path, c.version) for c in result_cells}
    for cell in result_cells:
        cell.blessed_metric, cell.blessed_value, cell.max_drop = bars[cell.version]
        if max_drop is not None:
            cell.max_drop = max_drop
        cell.alert = (cell.labels >= min_labels and cell.change is not None and cell.max_drop is not None
                      and -cell.change > cell.max_drop)
    result = {"model": model_name, "labels": joined.labels, "joined": len(joined.rows),
              "unmatched": joined.unmatched, "ambiguous": joined.ambiguous, "min_labels": min_labels,
              "window_seconds": window_seconds, "checked_at": now.isoformat(),
              "cells": [dict(asdict(c), live=c.live, change=c.change) for c in result_cells],
              "ok": not any(c.alert for c in result_cells)}
    result["summary"] = verdict(result)
    write_result(result, layout.monitoring_dir(model_name), CHECK, now, render(result),
                 layout.monitoring_result(model_name, CHECK))
    return result


def _number(value: Optional[float], signed: bool = False) -> str:
    return "-" if value is None else (f"{value:+.4f}" if signed else f"{value:.4f}")


def verdict(result: Dict[str, object]) -> str:
    """One line: that live quality holds, or which versions and windows fell below their blessed value."""
    alerts = [c for c in result["cells"] if c["alert"]]
    return "live quality holds" if not alerts else \
        "ALERT: " + "; ".join(f"version {c['version']} ({c['window']}) {c['live']:.4f} vs blessed "
                              f"{c['blessed_value']:.4f}, allowed drop {c['max_drop']:g}" for c in alerts)


def render(result: Dict[str, object]) -> str:
    lines = [f"# Live quality of '{result['model']}'", "",
             f"- labels: {result['labels']}, joined with the request log: {result['joined']} "
             f"(no logged request: {result['unmatched']}, several rows but no row index: {result['ambiguous']})",
             f"- verdict: **{verdict(result)}**", "",
             "| version | window | labels | live accuracy | blessed on | blessed value | change | allowed drop |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in result["cells"]:
        lines.append(f"| {c['version']} | {c['window']} | {c['labels']} | {_number(c['live'])} | "
                     f"{c['blessed_metric'] or '-'} | {_number(c['blessed_value'])} | {_number(c['change'], True)} | "
                     f"{'-' if c['max_drop'] is None else format(c['max_drop'], 'g')}"
                     f"{' **ALERT**' if c['alert'] else ''} |")
    if result["joined"] and all(c["labels"] < result["min_labels"] for c in result["cells"]):
        lines += ["", f"Fewer than {result['min_labels']} labels per cell: no alert is raised on so few."]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m monitoring.live_quality", description=__doc__.split("\n\n")[0])
    add_store_arguments(p, "pipeline output dir (serving_model/, request_log/, metadata.sqlite); default ./outputs")
    p.add_argument("--labels", required=True, metavar="FILE", help="CSV or JSON lines: request_id, label[, row]")
    add_model_name(p)
    p.add_argument("--since", default=None,
                   help="only requests from then: ISO 8601 or a duration back (30m, 2h; a bare number is seconds)")
    p.add_argument("--until", default=None, help="only requests before then, same forms")
    p.add_argument("--window", default="1h", help="time window per row of the report (default 1h)")
    add_flag(p, "--min-labels", type=int, default=30, help="no alert on fewer labels than this (default 30)")
    add_flag(p, "--max-drop", type=float, default=None,
             help="largest allowed drop below the blessed value (default: the evaluation's max_regression)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # TFMA's deprecation notes while reading metrics
    try:
        result = check(output_dir_from_args(args), args.labels, args.model_name, since=args.since, until=args.until,
                       window=args.window, min_labels=args.min_labels, max_drop=args.max_drop,
                       metadata_config=store_from_args(args))
    except (FeedbackError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    print(render(result))
    print("Written: " + ", ".join(result["report_files"]))
    return exit_codes.OK if result["ok"] else exit_codes.FOUND


if __name__ == "__main__":
    sys.exit(main())
