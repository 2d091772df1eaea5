"""Drift and skew of live traffic against the served model's training data.

`python -m serving.monitor --output-dir OUT` reads the request log of a time window,
turns the logged raw features into TFDV statistics, finds the training statistics
of the model version that served them (MLMD lineage, see runs/lineage.py; SQLite or
MySQL, the same store flags as `inspect`) and
validates with TFDV against the schema shipped with that version, in its SERVING
environment: drift (`drift_comparator`, serving vs training), skew
(`skew_comparator`, training vs serving) and plain schema anomalies of the traffic.
It writes a JSON result and a readable report, and exits 1 when anything is found
(0 when clean, 2 when it could not check).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional

from runs import exit_codes
from runs.layout import LayoutError, OutputLayout
from runs.store import MetadataConfig, StoreError, add_store_arguments, output_dir_from_args, store_from_args

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class MonitorError(RuntimeError):
    """The check could not run (no traffic, no baseline...); the message says what to do."""


@dataclass
class LoggedTraffic:
    rows: List[Dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    versions: Counter = field(default_factory=Counter)
    latest_version: Optional[int] = None
    skipped_lines: int = 0


def parse_time(text: Optional[str], now: datetime) -> Optional[datetime]:
    """ISO 8601 (UTC if no zone) or a duration back from now: '30m', '2h', '1d'."""
    if text is None:
        return None
    match = _DURATION.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MonitorError(f"cannot read time {text!r}: use ISO 8601 (2024-05-01T12:00:00) or 30m/2h/1d") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def read_traffic(log_dir: str, model_name: str, since: Optional[datetime], until: Optional[datetime]
                 ) -> LoggedTraffic:
    """Logged raw-feature rows of one model within [since, until)."""
    from serving.server.request_log import log_files

    traffic = LoggedTraffic()
    latest = None
    for path in log_files(log_dir):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                    stamp = datetime.fromisoformat(record["timestamp"])
                except (ValueError, KeyError, TypeError):
                    traffic.skipped_lines += 1
                    continue
                if record.get("model") != model_name or (since and stamp < since) or (until and stamp >= until):
                    continue
                traffic.requests += 1
                traffic.versions[record.get("version")] += 1
                if latest is None or stamp >= latest:
                    latest, traffic.latest_version = stamp, record.get("version")
                traffic.rows.extend(r for r in (record.get("features") or []) if r)
    return traffic


def serving_statistics(rows: List[Dict[str, Any]], raw_features):
    """TFDV statistics of logged rows, with each column typed as the schema says."""
    import pandas as pd
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    frame = pd.DataFrame([{name: row.get(name) for name in raw_features.specs} for row in rows])
    for name, spec in raw_features.specs.items():
        column = frame[name].map(lambda v: v[0] if isinstance(v, list) and v else (None if v == [] else v))
        if spec.type == schema_pb2.INT:
            frame[name] = pd.array(column, dtype="Int64")
        elif spec.type == schema_pb2.FLOAT:
            frame[name] = pd.to_numeric(column, errors="coerce").astype("float64")
        else:
            frame[name] = column.astype(object)
    return tfdv.generate_statistics_from_dataframe(frame)


def _measurements(anomalies, kind: str, features: set) -> Dict[str, Dict[str, Any]]:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    type_names = anomalies_pb2.DriftSkewInfo.Measurement.Type
    out = {}
    for info in anomalies.drift_skew_info:
        name = ".".join(info.path.step)
        if name not in features:
            continue
        for m in (info.drift_measurements if kind == "drift" else info.skew_measurements):
            out[name] = {"measure": type_names.Name(m.type).lower(), "value": round(m.value, 6),
                         "threshold": m.threshold, "exceeded": m.value > m.threshold}
    return out


def _anomaly_list(anomalies, features: set) -> Dict[str, List[Dict[str, str]]]:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    out = {}
    for name, info in anomalies.anomaly_info.items():
        if name in features:
            out[name] = [{"type": anomalies_pb2.AnomalyInfo.Type.Name(r.type),
                          "short_description": r.short_description, "description": r.description}
                         for r in info.reason]
    return out


def check(traffic: LoggedTraffic, schema_path: str, baseline_path: str) -> Dict[str, Any]:
    """Validates logged traffic; returns the JSON-ready result (no I/O besides reading stats)."""
    import tensorflow_data_validation as tfdv

    from serving.raw_features import RawFeatures

    schema = tfdv.load_schema_text(schema_path)
    raw_features = RawFeatures(schema)
    features = set(raw_features.specs)
    train = tfdv.load_stats_binary(baseline_path)
    served = serving_statistics(traffic.rows, raw_features)
    drift = tfdv.validate_statistics(served, schema, environment="SERVING", previous_statistics=train)
    # Skew is validated from the training side; features the SERVING environment excludes
    # (the label) are never in traffic, so only serving features are reported.
    skew = tfdv.validate_statistics(train, schema, environment="TRAINING", serving_statistics=served)
    drift_by_feature = _measurements(drift, "drift", features)
    skew_by_feature = _measurements(skew, "skew", features)
    anomalies = _anomaly_list(drift, features)
    for name, reasons in _anomaly_list(skew, features).items():
        skew_reasons = [r for r in reasons if "SKEW" in r["type"] or "COMPARATOR" in r["type"]]
        known = {r["type"] for r in anomalies.get(name, [])}
        anomalies.setdefault(name, []).extend(r for r in skew_reasons if r["type"] not in known)
    anomalies = {k: v for k, v in anomalies.items() if v}
    drifted = sorted(n for n, m in drift_by_feature.items() if m["exceeded"])
    skewed = sorted(n for n, m in skew_by_feature.items() if m["exceeded"])
    return {
        "rows": len(traffic.rows),
        "requests": traffic.requests,
        "drifted_features": drifted,
        "skewed_features": skewed,
        "anomalous_features": sorted(anomalies),
        "drift": drift_by_feature,
        "skew": skew_by_feature,
        "anomalies": anomalies,
        "ok": not (drifted or skewed or anomalies),
    }


def render_report(result: Dict[str, Any]) -> str:
    verdict = "no drift, no skew, no anomalies" if result["ok"] else "DRIFT/ANOMALIES FOUND"
    lines = [
        f"# Monitoring report: model '{result['model']}' version {result['version']}",
        "",
        f"- window: {result['window']['since'] or 'start of log'} .. {result['window']['until'] or 'now'}",
        f"- traffic: {result['requests']} requests, {result['rows']} rows"
        + (f" (versions seen: {result['versions_seen']})" if len(result['versions_seen']) > 1 else ""),
        f"- baseline: {result['baseline']['statistics']} ({result['baseline']['source']})",
        f"- verdict: **{verdict}**",
        "",
        "| feature | drift (serving vs training) | skew (training vs serving) |",
        "| --- | --- | --- |",
    ]
    for name in sorted(set(result["drift"]) | set(result["skew"])):
        cells = []
        for kind in ("drift", "skew"):
            m = result[kind].get(name)
            cells.append("-" if m is None else
                         f"{'**' if m['exceeded'] else ''}{m['measure']} {m['value']:.3f} "
                         f"{'>' if m['exceeded'] else '<='} {m['threshold']:g}{'**' if m['exceeded'] else ''}")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    if result["anomalies"]:
        lines += ["", "## Anomalies", ""]
        for name, reasons in sorted(result["anomalies"].items()):
            for r in reasons:
                lines.append(f"- `{name}`: {r['short_description']} ({r['type']}): {r['description']}")
    return "\n".join(lines) + "\n"


def run(output_dir: str, model_name: Optional[str] = None, *, log_dir: Optional[str] = None,
        since: Optional[str] = None, until: Optional[str] = None, model_version: Optional[int] = None,
        baseline_stats: Optional[str] = None, report_dir: Optional[str] = None,
        min_rows: int = 30, now: Optional[datetime] = None,
        metadata_config: Optional[MetadataConfig] = None) -> Dict[str, Any]:
    """Everything `python -m serving.monitor` does; returns the result and writes the report files.

    The baseline is found in `metadata_config`'s store (default <output>/metadata.sqlite).
    """
    from runs import lineage
    from runs.store import StoreError, open_store
    from serving.contract import schema_path as model_schema_path

    now = now or datetime.now(timezone.utc)
    layout = OutputLayout(output_dir)
    try:
        base_path, model_name = layout.served_model(model_name)
    except LayoutError as e:
        raise MonitorError(str(e)) from None
    log_dir = log_dir or layout.request_log_dir(model_name)
    start, end = parse_time(since, now), parse_time(until, now)
    traffic = read_traffic(log_dir, model_name, start, end)
    if len(traffic.rows) < min_rows:
        raise MonitorError(f"only {len(traffic.rows)} logged rows of '{model_name}' in {log_dir} for this window "
                           f"(need {min_rows} for meaningful statistics); send traffic or widen --since/--until")
    version = model_version or traffic.latest_version
    version_dir = os.path.join(base_path, str(version))
    schema_path = model_schema_path(version_dir)
    if not os.path.exists(schema_path):
        raise MonitorError(f"{schema_path} not found: is version {version} still under {base_path}?")
    if baseline_stats:
        baseline = {"statistics": os.path.abspath(baseline_stats), "source": "--baseline_stats"}
    else:
        metadata_config = metadata_config or MetadataConfig.for_output(output_dir)
        try:
            found = lineage.training_statistics(open_store(metadata_config, readonly=True), version_dir)
        except (StoreError, lineage.LineageError) as e:
            raise MonitorError(f"{e} (or pass --baseline_stats)") from None
        baseline = {"statistics": found.path, "source": f"MLMD lineage of PushedModel artifact "
                                                       f"{found.pushed_model_artifact_id}"}
    result = {
        "model": model_name,
        "version": version,
        "window": {"since": start.isoformat() if start else None, "until": end.isoformat() if end else None},
        "versions_seen": {str(k): v for k, v in traffic.versions.items()},
        "baseline": baseline,
        "log_dir": log_dir,
        "skipped_log_lines": traffic.skipped_lines,
        "checked_at": now.isoformat(),
    }
    result.update(check(traffic, schema_path, baseline["statistics"]))
    report_dir = report_dir or layout.monitoring_dir(model_name)
    os.makedirs(report_dir, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    result["report_files"] = [os.path.join(report_dir, f"monitor_{stamp}.json"),
                              os.path.join(report_dir, f"monitor_{stamp}.md")]
    with open(result["report_files"][0], "w") as f:
        json.dump(result, f, indent=2)
    with open(result["report_files"][1], "w") as f:
        f.write(render_report(result))
    return result


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m serving.monitor", description=__doc__.split("\n\n")[0])
    add_store_arguments(p, "pipeline output dir (serving_model/, request_log/, metadata.sqlite); default ./outputs")
    p.add_argument("--model_name", default=None, help="default: the only model under serving_model/")
    p.add_argument("--log_dir", default=None, help="request log dir (default: <output>/request_log/<model>)")
    p.add_argument("--since", default=None, help="window start: ISO 8601 or a duration back from now (30m, 2h)")
    p.add_argument("--until", default=None, help="window end (exclusive), same forms")
    p.add_argument("--model_version", type=int, default=None,
                   help="version whose training data is the baseline (default: the latest one in the log)")
    p.add_argument("--baseline_stats", default=None, help="FeatureStats.pb to compare with, instead of MLMD")
    p.add_argument("--report_dir", default=None, help="default: <output>/monitoring/<model>")
    p.add_argument("--min_rows", type=int, default=30, help="refuse to judge fewer logged rows than this")
    args = p.parse_args(argv)
    try:
        result = run(output_dir_from_args(args), args.model_name, log_dir=args.log_dir, since=args.since,
                     until=args.until, model_version=args.model_version, baseline_stats=args.baseline_stats,
                     report_dir=args.report_dir, min_rows=args.min_rows, metadata_config=store_from_args(args))
    except (MonitorError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    print(render_report(result))
    print("Written: " + ", ".join(result["report_files"]))
    return exit_codes.OK if result["ok"] else exit_codes.FOUND


if __name__ == "__main__":
    sys.exit(main())
