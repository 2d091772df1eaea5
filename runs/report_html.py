"""Turns a RunReport into one HTML page (inline CSS and SVG, no scripts, nothing fetched) and writes it."""
from __future__ import annotations

import os
import shutil
from html import escape
from typing import Any, Iterable, Optional, Sequence

from runs import metadata, report_charts, tuning
from runs.layout import OutputLayout
from runs.report import RunReport, collect

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .6em 0; } th, td { padding: .25em .6em; border-bottom: 1px solid #eee;
  text-align: left; vertical-align: top; } th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #777; } .ok { color: #11772d; font-weight: 600; } .bad { color: #b00020; font-weight: 600; }
.small { font-size: 12px; } code { font-size: 12px; overflow-wrap: anywhere; }
nav a { margin-right: 1em; }
"""
SECTIONS = (("run", "Run"), ("data", "Data"), ("anomalies", "Anomalies"), ("schema", "Schema"),
            ("hyperparameters", "Hyperparameters"), ("evaluation", "Evaluation"), ("lineage", "Lineage and push"))


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], raw: bool = False) -> str:
    """Cells are escaped unless raw (then the caller built them from escaped parts)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _verdict(ok: bool, yes: str, no: str) -> str:
    return f'<span class="ok">{_e(yes)}</span>' if ok else f'<span class="bad">{_e(no)}</span>'


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'


def _run(report: RunReport) -> str:
    run = report.run
    rows = [(c.node_id, c.state, "" if c.seconds is None else f"{c.seconds:.1f} s") for c in run.component_states()]
    status = (f" The run did not finish: <b>{_e(run.status)}</b>." if run.status not in (None, metadata.FINISHED)
              else "")
    beam = f" Beam: <code>{_e(' '.join(run.beam_args))}</code>." if run.beam_args else ""
    trigger = report.trigger.get("trigger", "manual")
    detail = report.trigger.get("trigger_detail")
    why = f"<p>Trigger: <b>{_e(trigger)}</b>{f' ({_e(detail)})' if detail else ''}.</p>"
    spans = ""
    if report.trained_spans or report.ingested_spans:
        trained = ", ".join(map(str, report.trained_spans or [])) or "none (no training in this run)"
        read = ", ".join(map(str, report.ingested_spans)) or "none (every span was read by earlier runs)"
        spans = f"<p>Spans trained on: <b>{_e(trained)}</b>; read by ExampleGen in this run: {_e(read)}.</p>"
    return (f"<p>Pipeline <b>{_e(run.pipeline_name)}</b>, run <code>{_e(run.run_id)}</code>, started "
            f"{_e(run.started.isoformat(sep=' ', timespec='seconds'))}, took {run.seconds:.1f} s "
            f"(every run: history.html beside this file).{status}{beam}</p>" + why + spans
            + _table(("component", "state", "duration"), rows))


def _data(report: RunReport) -> str:
    if not report.features:
        return '<p class="muted">No statistics in this run (StatisticsGen did not run).</p>'
    splits = list(report.split_sizes)
    intro = ", ".join(f"{_e(s)}: {n} examples" for s, n in report.split_sizes.items())
    rows = []
    for feature in report.features:
        order = list(dict.fromkeys(v for s in splits if s in feature.splits for v in feature.splits[s].top_values))
        cells = [f"<b>{_e(feature.name)}</b>", _e(feature.type)]
        for split in splits:
            stats = feature.splits.get(split)
            if stats is None:
                cells.append('<span class="muted">absent</span>')
                continue
            chart = (report_charts.top_values_svg(stats.top_values, order) if stats.top_values or order
                     else report_charts.histogram_svg(stats.histogram))
            cells.append(f'<div class="small">missing {stats.missing:.1%}; {_e(stats.summary)}</div>{chart}')
        rows.append(cells)
    return (f"<p>From StatisticsGen (read with TFDV): {intro}. Histograms show the share of non-missing "
            f"values per bucket; categorical features their most frequent values.</p>"
            f'<p class="small muted">{_e(report.uris.get("statistics"))}</p>'
            + _table(["feature", "type"] + splits, rows, raw=True))


def _anomalies(report: RunReport) -> str:
    if report.anomalies is None:
        return '<p class="muted">Not checked: ExampleValidator did not run.</p>'
    if not report.anomalies:
        return f'<p>{_verdict(True, "No anomalies", "")}: every split matches the schema.</p>'
    gated = any(node == "Trainer" for node in report.run.skipped)
    note = " The run stopped before training." if gated else ""
    count = len(report.anomalies)
    found = f"{count} anomal{'y' if count == 1 else 'ies'}"
    return (f'<p>{_verdict(False, "", found)} found by ExampleValidator.{note}</p>'
            + _table(("split", "feature", "anomaly", "description"),
                     [(a.split, a.feature, a.kind, a.description) for a in report.anomalies]))


def _schema(report: RunReport) -> str:
    schema = report.schema
    if schema is None:
        return '<p class="muted">No schema in this run.</p>'
    how = ("curated: imported from the dataset folder and reviewed by people"
           if schema.mode == "curated" else "inferred by SchemaGen from this run's statistics")
    return (f"<p>Schema <b>{_e(schema.mode)}</b> ({_e(how)}).</p>"
            f'<p class="small muted">{_e(schema.source)}</p>'
            + _table(("feature", "type", "presence", "valency", "domain"), schema.features)
            + (_table(("domain", "values"), schema.domains) if schema.domains else ""))


def _hyperparameters(report: RunReport) -> str:
    """What the Trainer trained with and, when a Tuner chose it, every trial (docs/tuning.md)."""
    lines = tuning.summary_lines(report.trained_with)
    body = "".join(f"<p>{_e(line.strip())}</p>" for line in lines)
    if report.trained_with is not None and report.trained_with.trials:
        body += _table(("trial", "status", "eval loss", "seconds", "hyperparameters"),
                       tuning.trial_rows(report.trained_with))
    return body


def _number(value: Optional[float], signed: bool = False, count: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:+.4f}" if signed else (f"{value:.0f}" if count else f"{value:.4f}")


def _evaluation(report: RunReport) -> str:
    evaluation = report.evaluation
    if evaluation is None:
        if "Evaluator" in report.run.skipped:
            why = "the run stopped before training"
        elif report.run.status not in (None, metadata.FINISHED):
            why = f"the run did not finish ({report.run.status})"
        else:
            why = "the Evaluator did not run"
        return f'<p class="muted">No evaluation in this run: {_e(why)}.</p>'
    decision = _verdict(evaluation.blessed, "BLESSED: every threshold passed",
                        "NOT BLESSED: a threshold failed, so the model was not pushed")
    baseline = ("compared with the latest blessed model (the baseline)" if evaluation.has_baseline
                else "no baseline yet (first blessed model), so change thresholds were not checked")
    count = evaluation.metrics.get("Overall", {}).get("example_count")
    judged = (f"Judged on the {', '.join(report.evaluated_on)} split"
              f"{'s' if len(report.evaluated_on) > 1 else ''}"
              + (f": {int(count):,} examples" if count is not None else "")) if report.evaluated_on else ""
    thresholds = _table(("metric", "slice", "threshold", "value", "result"), [
        (_e(t.metric), _e(t.slice), _e(t.bound), _number(t.value, signed="change" in t.metric),
         _verdict(t.passed, "pass", "FAIL")) for t in report.thresholds], raw=True)
    metric_names = sorted({m for values in evaluation.metrics.values() for m in values})
    slices = sorted(evaluation.metrics, key=lambda s: (s != "Overall", s))
    per_metric = ("value", "baseline", "change") if evaluation.has_baseline else ("value",)
    head = ('<tr><th rowspan="2">slice</th>' + "".join(
        f'<th colspan="{len(per_metric)}">{_e(m)}</th>' for m in metric_names) + "</tr><tr>"
        + "".join(f"<th>{p}</th>" for _ in metric_names for p in per_metric) + "</tr>")
    rows = []
    for name in slices:
        row = [_e(name)]
        for m in metric_names:
            value = evaluation.metrics[name].get(m)
            count = m.endswith("count")
            row.append(_number(value, count=count))
            if evaluation.has_baseline:
                diff = evaluation.baseline_diffs.get(name, {}).get(m)
                row += [_number(None if value is None or diff is None else value - diff, count=count),
                        _number(diff, signed=True)]
        rows.append("<tr>" + "".join(f'<td class="num">{c}</td>' if i else f"<td>{c}</td>"
                                     for i, c in enumerate(row)) + "</tr>")
    per_slice = f'<table><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
    failures = "".join(f"<li>{_e(f)}</li>" for f in evaluation.failures)
    return (f"<p>{decision}; {_e(baseline)}.</p>" + (f"<p>{_e(judged)}.</p>" if judged else "") + thresholds
            + (f"<ul>{failures}</ul>" if failures else "")
            + "<h3>Metrics per slice</h3>" + per_slice
            + f'<p class="small muted">{_e(report.uris.get("evaluation"))}</p>')


def _detail(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_number(v, count=k.endswith('count')) if isinstance(v, float) else v}"
                         for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _lineage(report: RunReport) -> str:
    push = report.push
    if push is not None and push.pushed:
        where = f"<p>Pushed as serving version <b>{_e(push.version)}</b> to <code>{_e(push.destination)}</code>.</p>"
    else:
        where = "<p>Not pushed in this run: the serving directory is unchanged.</p>"
    if not report.lineage:
        return where
    rows = []
    for step in report.lineage:
        artifact = f"{step.artifact_type} #{step.artifact_id}" if step.artifact_id else step.artifact_type
        details = "".join(f"<div>{_e(k)}: {_e(_detail(v))}</div>" for k, v in step.details.items())
        made_by = f'{_e(step.component)}<div class="small muted">run {_e(step.run_id)}<br>{_e(step.created)}</div>'
        rows.append((f"<b>{_e(step.role.replace('_', ' '))}</b>", _e(artifact), made_by,
                     f'<code>{_e(step.uri)}</code><div class="small">{details}</div>'))
    return (where + "<p>What this run's outcome was made from, back to the input files (from ML Metadata):</p>"
            + _table(("role", "artifact", "made by", "uri and details"), rows, raw=True))


def render(report: RunReport) -> str:
    run = report.run
    title = f"{run.pipeline_name} run {run.run_id}"
    nav = "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in SECTIONS)
    body = "".join(_section(anchor, name, build(report)) for (anchor, name), build in zip(
        SECTIONS, (_run, _data, _anomalies, _schema, _hyperparameters, _evaluation, _lineage)))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1><nav>{nav}</nav>{body}</body></html>\n")


def write_run_report(store, layout: OutputLayout, run_id: Optional[str] = None, path: Optional[str] = None) -> str:
    """Writes the report of a run (default the latest) and returns its path.

    Default location <output>/reports/<run>.html; the newest run's report is also
    copied to <output>/reports/latest.html.
    """
    runs = metadata.pipeline_runs(store)
    if not runs:
        raise LookupError("no pipeline runs in the metadata store to report on")
    run_id = run_id or runs[0]
    path = os.path.abspath(path or layout.report_path(run_id))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(collect(store, run_id)))
    if run_id == runs[0] and path == layout.report_path(run_id):
        shutil.copyfile(path, layout.latest_report)
    return path
