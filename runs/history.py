"""The history of a pipeline: one row per run, newest first, and what served when.

Each row says why the run happened (its recorded trigger), which spans it ingested and
trained on, how it ended (pushed / smoke test failed / not blessed / anomalies / failed /
nothing new / ingested), the evaluation metric that decided the blessing and its change against the
baseline, the split it was measured on with its example count, and the version it pushed.
Rollbacks appear as runs of their own. Everything is read from ML Metadata, so a cluster's or
a teammate's store reads the same.
"""
from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from ml_metadata import metadata_store

from runs import lineage, metadata, records, results, split_use, spans

PUSHED, NOT_BLESSED, ANOMALIES, FAILED, NOTHING_NEW, INGESTED, UNFINISHED = (
    "pushed", "not blessed", "anomalies", "failed", "nothing new", "ingested", "unfinished")
SMOKE_FAILED = "smoke test failed"  # pushed, but the pushed version does not serve correctly


@dataclass
class HistoryRow:
    run_id: str
    started: str
    started_ms: int
    trigger: str
    trigger_detail: str
    outcome: str
    trained_spans: Optional[List[int]] = None
    ingested_spans: List[int] = field(default_factory=list)
    metric: Optional[str] = None
    value: Optional[float] = None
    change: Optional[float] = None
    pushed_version: Optional[str] = None
    restored_version: Optional[str] = None
    anomalies: int = 0
    smoke_test: Optional[str] = None  # "passed", "failed: <why>", or None when no smoke test ran
    evaluated_on: List[str] = field(default_factory=list)  # the splits the Evaluator judged on
    evaluated_examples: Optional[int] = None  # how many examples those splits held

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)

    def spans_text(self) -> str:
        """'1, 2, 3 (new: 3)': the spans trained on, and those this run ingested."""
        trained = ", ".join(map(str, self.trained_spans)) if self.trained_spans else "-"
        new = f" (new: {', '.join(map(str, self.ingested_spans))})" if self.ingested_spans else ""
        return trained + new


@dataclass(frozen=True)
class ServedPeriod:
    """A version serving from `start_ms` until `end_ms` (None: still serving)."""

    version: str
    start_ms: int
    end_ms: Optional[int]
    restored_version: Optional[str]


def _outputs(store, execution) -> Dict[str, list]:
    return metadata.output_artifacts(store, execution.execution_id)


def _anomaly_count(anomalies_artifact) -> int:
    """How many anomalies ExampleValidator found (at least 1 when it says a split failed, files gone or not)."""
    import tensorflow as tf

    blessed = metadata.custom_property(anomalies_artifact, "blessed")
    if isinstance(blessed, dict) and all(float(v) == 1.0 for v in blessed.values()):
        return 0
    found = results.read_anomalies(anomalies_artifact.uri) if tf.io.gfile.exists(anomalies_artifact.uri) else []
    return max(1, len(found))


def _evaluation(row: HistoryRow, evaluation_artifact, blessed: bool) -> None:
    """The thresholded metric (the one that decided the blessing), its value and change vs the baseline."""
    evaluation = results.read_evaluation(evaluation_artifact.uri, blessed)
    checked = [t.metric for t in results.read_thresholds(evaluation_artifact.uri, evaluation)
               if "(change" not in t.metric]
    overall = evaluation.metrics.get("Overall", {})
    if "example_count" in overall:
        row.evaluated_examples = int(overall["example_count"])
    row.metric = checked[0] if checked else next((m for m in overall if m not in ("example_count", "loss")), None)
    if row.metric is not None:
        row.value = overall.get(row.metric)
        row.change = evaluation.baseline_diffs.get("Overall", {}).get(row.metric)


def history_row(store: metadata_store.MetadataStore, run_id: str) -> HistoryRow:
    run = metadata.run_overview(store, run_id)
    notes = records.run_annotations(store, run_id)
    row = HistoryRow(run_id, run.started.isoformat(sep=" ", timespec="seconds"), run.start_ms,
                     notes[records.TRIGGER], notes[records.TRIGGER_DETAIL], NOTHING_NEW)
    by_node = {e.node_id: e for e in run.executions}
    states = {e.state for e in run.executions}
    trained = spans.trained_spans(store, run_id)
    row.trained_spans = trained if trained and trained != [0] else None
    row.ingested_spans = [s for s in spans.ingested_in_run(store, run_id) if s]
    for execution in run.executions:
        outputs = _outputs(store, execution)
        if "anomalies" in outputs:
            row.anomalies = _anomaly_count(outputs["anomalies"][0])
        if "evaluation" in outputs:
            row.evaluated_on = split_use.evaluated_on(store, outputs["evaluation"][0])
            blessing = outputs.get("blessing", [None])[0]
            _evaluation(row, outputs["evaluation"][0],
                        bool(blessing is not None and metadata.custom_property(blessing, "blessed")))
        if "pushed_model" in outputs:
            push = results.read_push(outputs["pushed_model"][0])
            if push.pushed and execution.state != "cached":
                row.pushed_version = push.version
                row.restored_version = metadata.custom_property(outputs["pushed_model"][0],
                                                                records.RESTORED_VERSION)
    if "failed" in states:
        row.outcome = FAILED
    elif states & {"running", "new"}:
        row.outcome = UNFINISHED
    elif row.anomalies and "Trainer" not in by_node:
        row.outcome = ANOMALIES
    elif notes[records.STAGE] == records.INGEST_STAGE:
        row.outcome = INGESTED
    elif row.pushed_version:
        row.smoke_test = records.smoke_test_of(store, run_id)
        failed = (row.smoke_test or "").startswith(records.SMOKE_FAILED_PREFIX)
        row.outcome = SMOKE_FAILED if failed else PUSHED
    elif "Evaluator" in by_node and by_node.get("Pusher", by_node["Evaluator"]).state != "cached":
        row.outcome = NOT_BLESSED
    return row


def history(store: metadata_store.MetadataStore, pipeline_name: Optional[str] = None,
            limit: Optional[int] = None) -> List[HistoryRow]:
    """One row per run, newest first."""
    return [history_row(store, run_id) for run_id in metadata.pipeline_runs(store, pipeline_name)[:limit]]


def served_periods(store: metadata_store.MetadataStore) -> List[ServedPeriod]:
    """Which version served when, oldest first: TF Serving serves the highest version, which is the newest push."""
    pushes = sorted(lineage.pushed_models(store), key=lambda a: a.id)
    periods = []
    for i, pushed in enumerate(pushes):
        end = pushes[i + 1].create_time_since_epoch if i + 1 < len(pushes) else None
        restored = metadata.custom_property(pushed, records.RESTORED_VERSION)
        periods.append(ServedPeriod(str(metadata.custom_property(pushed, "pushed_version")),
                                    pushed.create_time_since_epoch, end, restored))
    return periods


def time_text(ms: Optional[int]) -> str:
    return "now" if ms is None else datetime.datetime.fromtimestamp(ms / 1000).isoformat(sep=" ", timespec="seconds")
