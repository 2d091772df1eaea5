"""The monitor's result as a readable markdown report (the JSON beside it holds the same facts)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from monitoring.drift_statistics import DRIFT

VERDICT_WORDS = {"clean": "clean: no drift, no anomalies", "drift": "DRIFT", "anomalies": "ANOMALIES",
                 "not enough rows": "not enough rows to judge"}


def _number(value: Optional[float], digits: int = 3) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def _tests_table(result: Dict[str, Any]) -> List[str]:
    lines = ["## Drift tests", "",
             "| feature | test | statistic | p-value | Holm-adjusted p | effect size | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for t in result["tests"]:
        effect = "-" if t["effect_size"] is None else \
            f"{t['effect_measure']} {_number(t['effect_size'])} (min {t['min_effect']:g})"
        verdict = f"**{t['verdict']}**" if t["verdict"] == DRIFT else t["verdict"]
        if t["note"]:
            verdict += f" ({t['note']})"
        lines.append(f"| {t['feature']} | {t['test']} | {_number(t['statistic'])} | {_number(t['p_value'], 4)} "
                     f"| {_number(t['adjusted_p_value'], 4)} | {effect} | {verdict} |")
    return lines


def _values_table(result: Dict[str, Any]) -> List[str]:
    troubled = {n: v for n, v in result["values"].items() if v["window"]["non_finite"] or v["window"]["wrong_type"]}
    if not troubled:
        return []
    lines = ["", "## Logged values that could not be used (treated as missing)", "",
             "| feature | rows | missing (all causes) | not finite | wrong type |", "| --- | --- | --- | --- | --- |"]
    for name, v in sorted(troubled.items()):
        w = v["window"]
        lines.append(f"| {name} | {w['rows']} | {w['missing']} | {w['non_finite']} | {w['wrong_type']} |")
    return lines


def _tfdv_table(result: Dict[str, Any]) -> List[str]:
    tfdv = result["tfdv"]
    lines = ["", "## TFDV comparators (the schema's thresholds; reported, not alarmed)", "",
             "| feature | drift (serving vs training) | skew (training vs serving) |", "| --- | --- | --- |"]
    for name in sorted(set(tfdv["drift"]) | set(tfdv["skew"])):
        cells = []
        for kind in ("drift", "skew"):
            m = tfdv[kind].get(name)
            cells.append("-" if m is None else
                         f"{m['measure']} {m['value']:.3f} {'>' if m['exceeded'] else '<='} {m['threshold']:g}")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return lines


def render(result: Dict[str, Any]) -> str:
    window = result["window"]
    versions = result["versions_seen"]
    settings = result["settings"]
    needed = result["rows_needed"]
    lines = [
        f"# Monitoring report: model '{result['model']}' version {result['version']}",
        "",
        f"- window: {window['since'] or 'start of log'} .. {window['until'] or 'now'}",
        f"- traffic: {result['requests']} requests, {result['rows']} rows"
        + (f" (versions seen: {versions})" if len(versions) > 1 else ""),
        f"- request log: {result['unreadable_log_lines']['summary']}",
        f"- baseline: {result['baseline']['rows']} training rows, {result['baseline']['source']}",
        f"- rates: false alarm {settings['false_alarm_rate']:g} per window (Holm over {result['test_count']} "
        f"tests), detection {settings['detection_rate']:g}; drift needs an effect of at least "
        f"{settings['min_shift_sd']:g} sd (numbers) or {settings['min_share_change']:g} share (categories, missing)",
        f"- rows needed to judge: {needed['rows'] if needed['rows'] is not None else 'none suffice'}"
        + (f" (set by {needed['limiting_feature']})" if needed["limiting_feature"] else ""),
        f"- verdict: **{VERDICT_WORDS[result['verdict']]}**: {result['summary']}",
    ]
    if result["tests"]:
        lines += [""] + _tests_table(result)
    lines += _values_table(result)
    if result["tfdv"]:
        lines += _tfdv_table(result)
    if result["anomalies"]:
        lines += ["", "## Schema anomalies", ""]
        for name, reasons in sorted(result["anomalies"].items()):
            for r in reasons:
                lines.append(f"- `{name}`: {r['short_description']} ({r['type']}): {r['description']}")
    return "\n".join(lines) + "\n"
