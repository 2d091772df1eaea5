"""Drift of live traffic against the served model's training data: `python -m monitoring.drift`.

Reads the request log of a time window (monitoring/logged_requests.py), finds the training data
of the model version that served it through the MLMD lineage (runs/lineage.py; SQLite or
MySQL, the same store flags as `inspect`), and judges every serving feature with a
two-sample test that accounts for both sample sizes, Holm-adjusted so one number sets the
chance of a false alarm per window, with an effect size beside each p-value
(monitoring/drift_statistics.py). TFDV's comparators and schema checks run beside it
(monitoring/tfdv_check.py). Writes a JSON result and a markdown report; exits 0 when clean,
1 when drift or schema anomalies are found, 2 when it could not judge (too few rows for
the configured rates, no baseline...).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from monitoring.baseline import Baseline, BaselineError, csv_baseline, lineage_baseline
from monitoring.drift_statistics import DriftSettings
from monitoring.feature_columns import schema_types
from monitoring.result_file import write_result
from runs import durations, exit_codes
from runs.cli import add_flag, add_model_name
from runs.layout import LayoutError, OutputLayout
from runs.store import MetadataConfig, StoreError, add_store_arguments, output_dir_from_args, store_from_args

CHECK = "drift"  # the name of its result file: OutputLayout.monitoring_result(model, CHECK)
CLEAN, DRIFT, ANOMALIES, NOT_ENOUGH_ROWS = "clean", "drift", "anomalies", "not enough rows"
EXIT_CODES = {CLEAN: exit_codes.OK, DRIFT: exit_codes.FOUND, ANOMALIES: exit_codes.FOUND,
              NOT_ENOUGH_ROWS: exit_codes.BAD_INPUT}


class MonitorError(RuntimeError):
    """The check could not run (no traffic, no baseline...); the message says what to do."""


def window_moment(text: Optional[str], now: datetime) -> Optional[datetime]:
    """--since/--until: ISO 8601 or a duration back from now (runs/durations.py, the one reading)."""
    try:
        return durations.moment(text, now)
    except ValueError as e:
        raise MonitorError(str(e)) from None


def _values_summary(column) -> Dict[str, int]:
    return {"rows": column.rows, "missing": column.missing, "non_finite": column.non_finite,
            "wrong_type": column.wrong_type}


def judge_window(rows: List[Dict[str, Any]], baseline: Baseline, features, settings: DriftSettings,
                 min_rows: int = 1) -> Dict[str, Any]:
    """The verdict on one window of rows: the part of `run` that needs no files (the benchmark calls it too)."""
    from monitoring import drift_statistics, tfdv_check
    from monitoring.feature_columns import read_rows

    types = schema_types(features)
    needed = drift_statistics.rows_needed(baseline.columns, settings)
    enough = max(needed.rows, min_rows) if needed.rows is not None else None
    result: Dict[str, Any] = {
        "rows": len(rows),
        "settings": asdict(settings),
        "test_count": drift_statistics.tests_per_window(baseline.columns),
        "rows_needed": {"rows": enough, "by_feature": needed.by_feature, "limiting_feature": needed.limiting_feature,
                        "undetectable": needed.undetectable},
        "tests": [], "drifted_features": [], "changed_features": [], "values": {}, "tfdv": {},
        "anomalies": {}, "anomalous_features": [],
    }
    if enough is None or len(rows) < enough:
        result["verdict"] = NOT_ENOUGH_ROWS
        result["summary"] = _not_enough(len(rows), enough, needed, settings, baseline)
        result["ok"] = False
        return result
    window, values = read_rows(rows, types)
    judgement = drift_statistics.judge(window, baseline.columns, settings)
    tfdv = tfdv_check.findings(tfdv_check.statistics_of(values, types), baseline.statistics, features.schema,
                               set(types))
    result.update({
        "tests": [t.to_dict() for t in judgement.tests],
        "drifted_features": judgement.drifted_features,
        "changed_features": judgement.changed_features,
        "values": {name: {"window": _values_summary(window[name]), "training": _values_summary(baseline.columns[name])}
                   for name in types},
        "tfdv": {k: v for k, v in tfdv.items() if k != "anomalies"},
        "anomalies": tfdv["anomalies"],
        "anomalous_features": sorted(tfdv["anomalies"]),
    })
    result["verdict"] = DRIFT if judgement.drifted_features else ANOMALIES if tfdv["anomalies"] else CLEAN
    result["ok"] = result["verdict"] == CLEAN
    result["summary"] = _summary(result)
    return result


def _not_enough(rows: int, enough: Optional[int], needed, settings: DriftSettings, baseline: Baseline) -> str:
    rates = f"false alarm rate {settings.false_alarm_rate:g}, detection rate {settings.detection_rate:g}"
    if enough is None:
        training_rows = next(iter(baseline.columns.values())).rows if baseline.columns else 0
        return (f"the training split ({training_rows} rows) is too small to detect a "
                f"one-standard-deviation shift of {', '.join(needed.undetectable)} with any window at {rates}")
    what = f"a one-standard-deviation shift of {needed.limiting_feature}" if needed.limiting_feature else "a judgement"
    return (f"{rows} logged rows in this window, {what} needs at least {enough} ({rates}); "
            f"send traffic or widen --since/--until")


def _summary(result: Dict[str, Any]) -> str:
    if result["verdict"] == CLEAN:
        return (f"no feature changed beyond chance at false alarm rate {result['settings']['false_alarm_rate']:g}"
                + (f"; small changes, below the effect size, in {', '.join(result['changed_features'])}"
                   if result["changed_features"] else ""))
    parts = []
    for t in result["tests"]:
        if t["verdict"] == DRIFT:
            parts.append(f"{t['feature']} ({t['test']}, adjusted p {t['adjusted_p_value']:.2g}, "
                         f"{t['effect_measure']} {t['effect_size']:.3g})")
    if result["anomalies"]:
        parts.append("schema anomalies in " + ", ".join(result["anomalous_features"]))
    return "; ".join(parts)


def run(output_dir: str, model_name: Optional[str] = None, *, log_dir: Optional[str] = None,
        since: Optional[str] = None, until: Optional[str] = None, model_version: Optional[int] = None,
        baseline_data: Optional[List[str]] = None, report_dir: Optional[str] = None,
        settings: Optional[DriftSettings] = None, min_rows: int = 30, now: Optional[datetime] = None,
        metadata_config: Optional[MetadataConfig] = None) -> Dict[str, Any]:
    """Everything `python -m monitoring.drift` does; returns the result and writes the report files.

    `result["verdict"]` is "clean", "drift", "anomalies" or "not enough rows" (EXIT_CODES maps
    each to the command's exit code). Raises MonitorError when it cannot check at all. The
    baseline is found in `metadata_config`'s store (default <output>/metadata.sqlite).
    """
    from monitoring import drift_report
    from monitoring.logged_requests import read_traffic
    from serving.contract import ServingFeatures
    from serving.contract import schema_path as model_schema_path

    now = now or datetime.now(timezone.utc)
    settings = settings or DriftSettings()
    layout = OutputLayout(output_dir)
    try:
        base_path, model_name = layout.served_model(model_name)
    except LayoutError as e:
        raise MonitorError(str(e)) from None
    log_dir = log_dir or layout.request_log_dir(model_name)
    start, end = window_moment(since, now), window_moment(until, now)
    traffic = read_traffic(log_dir, model_name, start, end)
    version = model_version or traffic.latest_version
    if version is None and traffic.rows:
        raise MonitorError(f"the logged rows of '{model_name}' in {log_dir} name no model version; "
                           f"pass --model-version")
    if version is None:
        raise MonitorError(f"only 0 logged rows of '{model_name}' in {log_dir} for this window "
                           f"({traffic.unreadable.summary()}); send traffic or widen --since/--until")
    version_dir = os.path.join(base_path, str(version))
    schema_path = model_schema_path(version_dir)
    if not os.path.exists(schema_path):
        raise MonitorError(f"{schema_path} not found: is version {version} still under {base_path}?")
    features = ServingFeatures.from_file(schema_path)
    try:
        if baseline_data:
            baseline = csv_baseline(baseline_data, features)
        else:
            baseline = lineage_baseline(metadata_config or MetadataConfig.for_output(output_dir), version_dir,
                                        features)
    except BaselineError as e:
        raise MonitorError(str(e)) from None
    result = {
        "model": model_name,
        "version": version,
        "window": {"since": start.isoformat() if start else None, "until": end.isoformat() if end else None},
        "requests": traffic.requests,
        "versions_seen": {str(k): v for k, v in traffic.versions.items()},
        "baseline": {**baseline.description, "rows": next(iter(baseline.columns.values())).rows
                     if baseline.columns else 0},
        "log_dir": log_dir,
        "unreadable_log_lines": {**traffic.unreadable.to_dict(), "summary": traffic.unreadable.summary()},
        "checked_at": now.isoformat(),
    }
    result.update(judge_window(traffic.rows, baseline, features, settings, min_rows))
    write_result(result, report_dir or layout.monitoring_dir(model_name), CHECK, now, drift_report.render(result),
                 layout.monitoring_result(model_name, CHECK))
    return result


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m monitoring.drift", description=__doc__.split("\n\n")[0])
    add_store_arguments(p, "pipeline output dir (serving_model/, request_log/, metadata.sqlite); default ./outputs")
    add_model_name(p)
    add_flag(p, "--log-dir", default=None, help="request log dir (default: <output>/request_log/<model>)")
    p.add_argument("--since", default=None,
                   help="window start: ISO 8601 or a duration back from now (30m, 2h; a bare number is seconds)")
    p.add_argument("--until", default=None, help="window end (exclusive), same forms")
    add_flag(p, "--model-version", type=int, default=None,
             help="version whose training data is the baseline (default: the latest one in the log)")
    add_flag(p, "--baseline-data", nargs="+", default=None, metavar="CSV",
             help="CSV file(s) of training rows to compare with, instead of the MLMD lineage")
    add_flag(p, "--report-dir", default=None, help="default: <output>/monitoring/<model>")
    defaults = DriftSettings()
    add_flag(p, "--false-alarm-rate", type=_rate, default=defaults.false_alarm_rate,
             help="chance that a window without drift is flagged at all (default %(default)s)")
    add_flag(p, "--detection-rate", type=_rate, default=defaults.detection_rate,
             help="wanted chance of catching a one-standard-deviation shift; sets the rows a window "
                  "needs (default %(default)s)")
    add_flag(p, "--min-shift-sd", type=float, default=defaults.min_shift_sd,
             help="smallest numeric change that counts as drift, in training standard deviations "
                  "(default %(default)s)")
    add_flag(p, "--min-share-change", type=float, default=defaults.min_share_change,
             help="smallest change of category or missing shares that counts as drift (default %(default)s)")
    add_flag(p, "--min-rows", type=int, default=30,
             help="never judge fewer logged rows than this, whatever the rates allow (default %(default)s)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    from monitoring import drift_report

    p = build_parser()
    args = p.parse_args(argv)
    try:
        settings = DriftSettings(args.false_alarm_rate, args.detection_rate, args.min_shift_sd, args.min_share_change)
    except ValueError as e:
        p.error(str(e))
    try:
        result = run(output_dir_from_args(args), args.model_name, log_dir=args.log_dir, since=args.since,
                     until=args.until, model_version=args.model_version, baseline_data=args.baseline_data,
                     report_dir=args.report_dir, settings=settings, min_rows=args.min_rows,
                     metadata_config=store_from_args(args))
    except (MonitorError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    print(drift_report.render(result))
    print("Written: " + ", ".join(result["report_files"]))
    if result["verdict"] == NOT_ENOUGH_ROWS:
        print(f"error: not enough rows to judge: {result['summary']}", file=sys.stderr)
    return EXIT_CODES[result["verdict"]]


if __name__ == "__main__":
    sys.exit(main())
