"""The history page of the static report: `<output>/reports/history.html`.

The metric per run as a chart, which version served when, the runs stopped by
anomalies, and the windows in which the monitors raised an alert (drift, live quality);
then the same as tables. One self-contained file, like the run reports.
"""
from __future__ import annotations

import os
import time
from typing import List, Optional

from runs import history, records, report_charts, split_use
from runs.layout import OutputLayout
from runs.report_html import CSS, _e, _table

def _epoch(text: str) -> Optional[float]:
    """Seconds since the epoch of an ISO time (UTC offsets honoured), or None."""
    import datetime

    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp()


def render(rows: List[history.HistoryRow], periods: List[history.ServedPeriod],
           checks: List[records.CheckRecord], title: str) -> str:
    now = time.time()
    metric = next((r.metric for r in rows if r.metric), "metric")
    points = [(r.started_ms / 1000, r.value, r.outcome,
               f"{r.run_id}: {r.trigger}, {r.outcome}" + (f", {r.metric} {r.value:.4f}" if r.value is not None else "")
               + (f", version {r.pushed_version}" if r.pushed_version else "")) for r in rows]
    bands = [(p.start_ms / 1000, (p.end_ms / 1000) if p.end_ms else now, p.version) for p in periods]
    alerts = []
    for c in checks:
        if c.verdict != "alert":
            continue
        start = _epoch(c.since) or c.recorded_ms / 1000
        alerts.append((start, _epoch(c.until) or c.recorded_ms / 1000, f"{c.check}: {c.detail}"))
    chart = report_charts.history_svg(points, bands, alerts, metric)
    run_rows = [(r.run_id, r.started, r.trigger + (f" ({r.trigger_detail})" if r.trigger_detail else ""),
                 r.spans_text(), r.outcome + (f" ({r.anomalies} anomalies)" if r.anomalies else ""),
                 "" if r.value is None else f"{r.value:.4f}", "" if r.change is None else f"{r.change:+.4f}",
                 split_use.evaluated_text(r.evaluated_on, r.evaluated_examples) if r.evaluated_on else "",
                 (r.pushed_version or "") + (f" (restores {r.restored_version})" if r.restored_version else ""))
                for r in rows]
    served = [(p.version + (f" (a copy of {p.restored_version})" if p.restored_version else ""),
               history.time_text(p.start_ms), history.time_text(p.end_ms)) for p in reversed(periods)]
    check_rows = [(history.time_text(c.recorded_ms), c.check, c.verdict, f"{c.since or 'start'} .. {c.until or 'now'}",
                   c.detail, c.report) for c in reversed(checks)]
    body = (f"<p>{len(rows)} runs, newest first. Dots: {_e(metric)} of each evaluated run (colour: outcome); "
            "squares: runs without an evaluation; the band: the version serving; shaded: alert windows.</p>"
            + chart
            + "<h2>Runs</h2>" + _table(("run", "started", "trigger", "spans trained", "outcome", metric,
                                         "change vs baseline", "evaluated on", "pushed version"), run_rows)
            + "<h2>Which version served when</h2>"
            + (_table(("version", "from", "until"), served) if served else "<p class=\"muted\">Nothing pushed yet.</p>")
            + "<h2>Monitoring checks</h2>"
            + (_table(("checked", "check", "verdict", "window", "detail", "report"), check_rows) if check_rows
               else '<p class="muted">No drift or live-quality checks recorded (the continuous loop records them).</p>'))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1>{body}</body></html>\n")


def write_history_report(store, layout: OutputLayout, pipeline_name: Optional[str] = None,
                         path: Optional[str] = None) -> str:
    """Writes the history page (default <output>/reports/history.html) and returns its path."""
    rows = history.history(store, pipeline_name)
    if not rows:
        raise LookupError("no pipeline runs in the metadata store to report on")
    path = os.path.abspath(path or layout.history_report)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(rows, history.served_periods(store), records.checks(store, pipeline_name),
                       f"{pipeline_name or 'pipeline'} history"))
    return path
