"""See what pipeline runs produced without writing MLMD queries: `python -m runs.inspect`
(also `python -m pipeline.inspect`).

  runs       runs, newest first, with each component's state, duration and the splits it read
             (and runs that did not finish: interrupted, failed or still running)
  artifacts  artifacts by type: id, URI, producing component, run, key properties
  lineage    from a pushed model (latest, --version N or --artifact ID) back to the input files
  history    one row per run, newest first: trigger, spans, outcome, metric and change, the split it was
             measured on (and its example count), pushed version
             (a push whose smoke test failed reads "smoke test failed", with the reason below the table)
             (--html writes the history page of the report)
  tuning     the hyperparameters a run trained with (default the latest), and the Tuner's trials
  report     write the static HTML report of a run (default the latest) and print its path

The store is <output-dir>/metadata.sqlite unless --sqlite or --mysql-host names another
(a shared MySQL store); every subcommand prints tables, or JSON with --json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from runs import exit_codes, metadata, records, split_use, tuning
from runs.layout import OutputLayout
from runs.store import StoreError, add_store_arguments, open_store, output_dir_from_args, store_from_args

# Types in the order data flows through the pipeline; others follow alphabetically.
TYPE_ORDER = ("Examples", "ExampleStatistics", "Schema", "ExampleAnomalies", "TransformGraph", "TransformCache",
              "Model", "ModelRun", "ModelEvaluation", "ModelBlessing", "PushedModel")
# Properties worth a column in the artifact table (--json shows all of them).
KEY_PROPERTIES = ("split_names", "span", "blessed", "pushed", "pushed_version", "current_model_id")
LATEST = "latest"


class InspectError(Exception):
    """A problem the user can fix (no store, unknown run or id); printed as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(exit_codes.BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")


def _connection_arguments() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    add_store_arguments(parent, "the run output folder (as for local_runner.py)")
    parent.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m runs.inspect", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common = _connection_arguments()
    sub = parser.add_subparsers(dest="command", required=True, metavar="{runs,artifacts,lineage,history,tuning,report}",
                                parser_class=_Parser)
    runs = sub.add_parser("runs", parents=[common], help="pipeline runs, newest first")
    runs.add_argument("--limit", type=int, default=10, metavar="N", help="show the N newest runs (default 10)")
    artifacts = sub.add_parser("artifacts", parents=[common], help="artifacts by type")
    artifacts.add_argument("--type", metavar="TYPE", help="only this artifact type, e.g. Model or Examples")
    artifacts.add_argument("--run", metavar="RUN_ID", help=f"only artifacts of this run ('{LATEST}' for the newest)")
    lineage = sub.add_parser("lineage", parents=[common], help="from a pushed model back to the data")
    which = lineage.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="N", help="the push of this serving version")
    which.add_argument("--artifact", type=int, metavar="ID", help="any artifact id (see `artifacts`)")
    history = sub.add_parser("history", parents=[common], help="one row per run: trigger, spans, outcome, metric")
    history.add_argument("--limit", type=int, default=None, metavar="N", help="only the N newest runs")
    history.add_argument("--html", action="store_true",
                         help="write the history page (<output-dir>/reports/history.html) and print its path")
    tuned = sub.add_parser("tuning", parents=[common], help="a run's hyperparameters and the Tuner's trials")
    tuned.add_argument("--run", metavar="RUN_ID", help="the run (default the latest)")
    report = sub.add_parser("report", parents=[common], help="write the static HTML report of a run")
    report.add_argument("--run", metavar="RUN_ID", help="the run (default the latest)")
    report.add_argument("--out", metavar="FILE", help="where to write it (default <output-dir>/reports/<run>.html)")
    return parser


def _runs(store, where: str) -> List[str]:
    runs = metadata.pipeline_runs(store)
    if not runs:
        raise InspectError(f"no pipeline runs in {where} yet: run the pipeline first (make run)")
    return runs


def resolve_run(store, run_id: Optional[str], where: str) -> str:
    runs = _runs(store, where)
    if run_id in (None, LATEST):
        return runs[0]
    if run_id not in runs:
        raise InspectError(f"no pipeline run '{run_id}' in {where} (newest: {', '.join(runs[:3])})")
    return run_id


def runs_data(store, where: str, limit: int) -> List[Dict[str, Any]]:
    rows = []
    for run_id in _runs(store, where)[:max(limit, 1)]:
        run = metadata.run_overview(store, run_id)
        ids = [c.execution_id for c in run.component_states() if c.execution_id is not None]
        executions = {e.id: e for e in store.get_executions_by_id(ids)} if ids else {}
        components = [{"component": c.node_id, "state": c.state,
                       "seconds": None if c.seconds is None else round(c.seconds, 1), "execution_id": c.execution_id,
                       "splits_read": split_use.splits_read(executions.get(c.execution_id))}
                      for c in run.component_states()]
        rows.append({"run_id": run.run_id, "pipeline": run.pipeline_name, "status": run.status,
                     "beam_args": run.beam_args,
                     "started": run.started.isoformat(sep=" ", timespec="seconds"),
                     "seconds": round(run.seconds, 1), "components": components,
                     "smoke_test": records.smoke_test_of(store, run.run_id)})
    return rows


def artifacts_data(store, where: str, type_name: Optional[str], run_id: Optional[str]) -> List[Dict[str, Any]]:
    types = {t.id: t.name for t in store.get_artifact_types()}
    if type_name:
        matches = [name for name in types.values() if name.lower() == type_name.lower()]
        if not matches:
            raise InspectError(f"no artifacts of type '{type_name}' in {where} "
                               f"(types: {', '.join(sorted(types.values())) or 'none'})")
        type_name = matches[0]
    if run_id:
        run_id = resolve_run(store, run_id, where)
        artifacts = store.get_artifacts_by_context(metadata.run_context(store, run_id).id)
    else:
        artifacts = store.get_artifacts()
    if not artifacts:
        raise InspectError(f"no artifacts in {where} yet: run the pipeline first (make run)")
    order = {name: i for i, name in enumerate(TYPE_ORDER)}
    rows = []
    for artifact in artifacts:
        name = types[artifact.type_id]
        if type_name and name != type_name:
            continue
        producer = metadata.producer_execution(store, artifact.id)
        component, produced_in = metadata.execution_origin(store, producer) if producer else ("", None)
        rows.append({"id": artifact.id, "type": name, "uri": artifact.uri, "component": component,
                     "run_id": produced_in, "properties": metadata.artifact_properties(artifact)})
    return sorted(rows, key=lambda r: (order.get(r["type"], len(order)), r["type"], r["id"]))


def lineage_data(store, version: Optional[str], artifact_id: Optional[int]) -> Dict[str, Any]:
    from runs import lineage

    try:
        start = lineage.find_start(store, version=version, artifact_id=artifact_id)
    except lineage.LineageError as e:
        raise InspectError(str(e)) from None
    return {"start_artifact_id": start.id, "steps": [s.to_dict() for s in lineage.trace(store, start)]}


def history_data(store, where: str, limit: Optional[int]) -> List[Dict[str, Any]]:
    from runs import history

    _runs(store, where)
    return [row.to_dict() for row in history.history(store, limit=limit)]


# ---- text output ----

def _table(rows: Sequence[Sequence[Any]], indent: str = "  ") -> List[str]:
    text = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in text) for i in range(len(text[0]))]
    return [indent + "  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in text]


def format_runs(rows: List[Dict[str, Any]]) -> List[str]:
    out = []
    for run in rows:
        status = f", {run['status']}" if run["status"] not in (None, metadata.FINISHED) else ""
        smoke = f", smoke test {run['smoke_test']}" if run.get("smoke_test") else ""
        out.append(f"Run {run['run_id']} ({run['pipeline']}): started {run['started']}, took {run['seconds']} s"
                   f"{status}{smoke}")
        out += _table([("component", "state", "seconds", "splits read")] + [
            (c["component"], c["state"], "-" if c["seconds"] is None else f"{c['seconds']:.1f}",
             split_use.text(c.get("splits_read") or {}))
            for c in run["components"]])
        out.append("")
    return out[:-1]


def _key_properties(properties: Dict[str, Any]) -> str:
    parts = []
    for name in KEY_PROPERTIES:
        value = properties.get(name)
        if value is None:
            continue
        if name == "split_names":
            name, value = "splits", ",".join(json.loads(value))
        elif isinstance(value, dict):
            value = ",".join(f"{k}:{v:g}" if isinstance(v, float) else f"{k}:{v}" for k, v in sorted(value.items()))
        parts.append(f"{name}={value}")
    return " ".join(parts)


def format_artifacts(rows: List[Dict[str, Any]]) -> List[str]:
    out = []
    for type_name in dict.fromkeys(r["type"] for r in rows):
        of_type = [r for r in rows if r["type"] == type_name]
        out.append(f"{type_name} ({len(of_type)})")
        out += _table([("id", "component", "run", "uri", "properties")] + [
            (r["id"], r["component"], r["run_id"], r["uri"], _key_properties(r["properties"])) for r in of_type])
    return out


def _detail_text(details: Dict[str, Any]) -> str:
    parts = []
    for name, value in details.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ",".join(map(str, value))
        parts.append(f"{name}: {value}")
    return "; ".join(parts)


def format_lineage(data: Dict[str, Any]) -> List[str]:
    out = []
    for step in data["steps"]:
        ident = f"#{step['artifact_id']} " if step["artifact_id"] is not None else ""
        out.append(f"{step['role'].replace('_', ' '):<21} {ident}{step['artifact_type']}, by {step['component']} "
                   f"in run {step['run_id']} at {step['created']}")
        out.append(f"{'':<21} {step['uri']}")
        if step["details"]:
            out.append(f"{'':<21} {_detail_text(step['details'])}")
    return out


def format_history(rows: List[Dict[str, Any]]) -> List[str]:
    from runs.history import SMOKE_FAILED, HistoryRow

    metric = next((r["metric"] for r in rows if r["metric"]), "metric")
    table = [("run", "started", "trigger", "spans", "outcome", metric, "change", "evaluated on", "version")]
    for data in rows:
        row = HistoryRow(**data)
        outcome = row.outcome + (f" ({row.anomalies})" if row.outcome == "anomalies" else "")
        version = (row.pushed_version or "-") + (f" (restores {row.restored_version})" if row.restored_version else "")
        table.append((row.run_id, row.started, row.trigger, row.spans_text(), outcome,
                      "-" if row.value is None else f"{row.value:.4f}",
                      "-" if row.change is None else f"{row.change:+.4f}",
                      split_use.evaluated_text(row.evaluated_on, row.evaluated_examples), version))
    failures = [f"{r['run_id']}: smoke test {r['smoke_test']}" for r in rows
                if r["outcome"] == SMOKE_FAILED and r["smoke_test"]]
    return _table(table, indent="") + failures


def format_tuning(data: Optional[Dict[str, Any]]) -> List[str]:
    if data is None:
        return tuning.summary_lines(None)
    tuned = tuning.TrainedWith(data["artifact_id"], os.path.dirname(data["file"]), data["producer"], data["values"],
                               data["trials"], data["best_score"], data["tuning_seconds"])
    lines = tuning.summary_lines(tuned)
    if tuned.trials:
        lines += _table([("trial", "status", "eval loss", "seconds", "hyperparameters")] + tuning.trial_rows(tuned))
    return lines


def _quiet() -> None:
    """TensorFlow, TFMA and Beam log deprecations at import and read time; a CLI shows only its answer."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "apache_beam", "tensorflow_model_analysis"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_command(args) -> Any:
    config = store_from_args(args)
    where = config.describe()
    mlmd = open_store(config, readonly=True)
    if args.command == "runs":
        return runs_data(mlmd, where, args.limit), format_runs
    if args.command == "artifacts":
        return artifacts_data(mlmd, where, args.type, args.run), format_artifacts
    if args.command == "lineage":
        return lineage_data(mlmd, args.version, args.artifact), format_lineage
    if args.command == "tuning":
        run = metadata.run_overview(mlmd, resolve_run(mlmd, args.run, where))
        return tuning.to_json(tuning.trained_with(mlmd, run)), format_tuning
    if args.command == "history" and not args.html:
        return history_data(mlmd, where, args.limit), format_history
    if args.command == "history":
        from runs.report_history import write_history_report

        _runs(mlmd, where)
        path = write_history_report(mlmd, OutputLayout(output_dir_from_args(args)))
        return {"path": path}, lambda data: [data["path"]]
    from runs import report_html

    run_id = resolve_run(mlmd, args.run, where)
    path = report_html.write_run_report(mlmd, OutputLayout(output_dir_from_args(args)), run_id=run_id,
                                        path=args.out)
    return {"run_id": run_id, "path": path}, lambda data: [data["path"]]


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet()
    try:
        data, formatter = run_command(args)
    except (InspectError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    print(json.dumps(data, indent=2, default=str) if args.json else "\n".join(formatter(data)))
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
