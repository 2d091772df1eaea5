"""The static report of a run: one self-contained HTML file a browser opens offline.

Notebook widgets (Facets, TFMA's) often fail to render; this report needs nothing
but the file. Facts come from the artifacts through the libraries that wrote them
(TFDV for statistics and schema, TFMA for evaluation, MLMD for the run and its
lineage); runs/report_html.py turns them into HTML and writes the file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from runs import lineage, metadata, records, results, split_use, spans, tuning

TOP_VALUES = 10


@dataclass
class SplitFeature:
    """One feature in one split: how often it is missing and how its values are spread."""

    missing: float
    summary: str
    histogram: List[Tuple[float, float, float]] = field(default_factory=list)  # (low, high, fraction)
    top_values: Dict[str, float] = field(default_factory=dict)  # value -> fraction of non-missing


@dataclass
class FeatureStats:
    name: str
    type: str
    splits: Dict[str, SplitFeature]


@dataclass
class SchemaView:
    mode: str  # curated | inferred
    source: str
    features: List[Tuple[str, str, str, str, str]]  # name, type, presence, valency, domain
    domains: List[Tuple[str, str]]  # domain name, values


@dataclass
class RunReport:
    run: metadata.RunOverview
    split_sizes: Dict[str, int] = field(default_factory=dict)
    features: List[FeatureStats] = field(default_factory=list)
    anomalies: Optional[List[results.Anomaly]] = None  # None: ExampleValidator did not run
    schema: Optional[SchemaView] = None
    evaluation: Optional[results.Evaluation] = None
    thresholds: List[results.ThresholdCheck] = field(default_factory=list)
    evaluated_on: List[str] = field(default_factory=list)  # the splits the Evaluator judged on
    push: Optional[results.Push] = None
    lineage: List[lineage.LineageStep] = field(default_factory=list)
    uris: Dict[str, str] = field(default_factory=dict)
    trigger: Dict[str, str] = field(default_factory=dict)  # trigger, trigger_detail, stage
    trained_spans: Optional[List[int]] = None
    ingested_spans: List[int] = field(default_factory=list)
    trained_with: Optional[tuning.TrainedWith] = None  # the Trainer's hyperparameters (None: the defaults)


def run_outputs(store, run: metadata.RunOverview) -> Dict[str, object]:
    """The run's artifacts by output key (statistics, schema, anomalies, model, blessing, ...)."""
    outputs: Dict[str, object] = {}
    for execution in run.executions:
        for key, artifacts in metadata.output_artifacts(store, execution.execution_id).items():
            if artifacts:
                outputs.setdefault(key, artifacts[0])
    return outputs


def _missing(common) -> float:
    """Share of examples without a value. CsvExampleGen writes an empty value list for an empty
    CSV cell, which TFDV counts as present; for single-valued features those count as missing."""
    seen = common.num_missing + common.num_non_missing
    if not seen:
        return 0.0
    empty = max(0, common.num_non_missing - common.tot_num_values) if common.max_num_values <= 1 else 0
    return (common.num_missing + empty) / seen


def _split_feature(feature) -> SplitFeature:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    kind = feature.WhichOneof("stats")
    if kind == "num_stats":
        stats = feature.num_stats
        histogram = next((h for h in stats.histograms if h.type == statistics_pb2.Histogram.STANDARD), None)
        total = sum(b.sample_count for b in histogram.buckets) if histogram else 0
        buckets = [(b.low_value, b.high_value, b.sample_count / total) for b in histogram.buckets] if total else []
        summary = f"mean {stats.mean:.4g}, std {stats.std_dev:.4g}, min {stats.min:.4g}, max {stats.max:.4g}"
        return SplitFeature(_missing(stats.common_stats), summary, histogram=buckets)
    if kind == "string_stats":
        stats = feature.string_stats
        total = stats.common_stats.tot_num_values or 1
        return SplitFeature(_missing(stats.common_stats), f"{stats.unique} unique values",
                            top_values={v.value: v.frequency / total for v in stats.top_values[:TOP_VALUES]})
    return SplitFeature(0.0, f"{kind or 'no'} statistics")


def read_statistics(statistics_uri: str, splits: List[str]) -> Tuple[Dict[str, int], List[FeatureStats]]:
    """Per feature and split, from StatisticsGen's FeatureStats.pb files (read by TFDV)."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import statistics_pb2

    sizes, features = {}, {}
    for split in splits:
        path = os.path.join(statistics_uri, f"{results.SPLIT_PREFIX}{split}", "FeatureStats.pb")
        if not os.path.exists(path):
            continue
        dataset = tfdv.load_stats_binary(path).datasets[0]
        sizes[split] = dataset.num_examples
        for feature in dataset.features:
            name = ".".join(feature.path.step) or feature.name
            row = features.setdefault(name, FeatureStats(
                name, statistics_pb2.FeatureNameStatistics.Type.Name(feature.type), {}))
            row.splits[split] = _split_feature(feature)
    return sizes, list(features.values())


def read_schema(schema_uri: str, component: str) -> SchemaView:
    """The schema in use, as TFDV tabulates it; curated when imported from the dataset folder."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.utils import display_util

    schema = tfdv.load_schema_text(os.path.join(schema_uri, "schema.pbtxt"))
    features, domains = display_util.get_schema_dataframe(schema)
    curated = component == "ImportSchemaGen"
    return SchemaView(
        mode="curated" if curated else "inferred",
        source=schema_uri,
        features=[(name.strip("'"), *(str(v) for v in row)) for name, row in features.iterrows()],
        domains=[(name.strip("'"), str(row.iloc[0])) for name, row in domains.iterrows()])


def collect(store, run_id: str) -> RunReport:
    run = metadata.run_overview(store, run_id)
    report = RunReport(run=run, trigger=records.run_annotations(store, run_id))
    trained = spans.trained_spans(store, run_id)
    report.trained_spans = trained if trained and trained != [0] else None
    report.ingested_spans = [s for s in spans.ingested_in_run(store, run_id) if s]
    outputs = run_outputs(store, run)
    report.trained_with = tuning.trained_with(store, run)
    report.uris = {key: artifact.uri for key, artifact in outputs.items()}
    if "statistics" in outputs:
        stats = outputs["statistics"]
        splits = metadata.artifact_properties(stats).get("split_names") or "[]"
        report.split_sizes, report.features = read_statistics(stats.uri, json.loads(splits))
    if "schema" in outputs:
        producer = metadata.producer_execution(store, outputs["schema"].id)
        component = metadata.execution_origin(store, producer)[0] if producer else ""
        report.schema = read_schema(outputs["schema"].uri, component)
    if "anomalies" in outputs:
        report.anomalies = results.read_anomalies(outputs["anomalies"].uri)
    if "evaluation" in outputs:
        blessing = outputs.get("blessing")
        blessed = bool(blessing is not None and metadata.custom_property(blessing, "blessed"))
        report.evaluation = results.read_evaluation(outputs["evaluation"].uri, blessed)
        report.thresholds = results.read_thresholds(outputs["evaluation"].uri, report.evaluation)
        report.evaluated_on = split_use.evaluated_on(store, outputs["evaluation"])
    if "pushed_model" in outputs:
        report.push = results.read_push(outputs["pushed_model"])
    start = next((outputs[k] for k in ("pushed_model", "blessing", "model", "examples") if k in outputs), None)
    if start is not None:
        report.lineage = lineage.trace(store, start)
    return report
