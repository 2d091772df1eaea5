"""Spans in ML Metadata: what ExampleGen ingested, whether it passed validation, what a run trained on.

ExampleGen records one Examples artifact per span it reads, with the span number and
the fingerprint of the files it read (TFX's own `span` and `input_fingerprint`
properties; its execution keeps the split config it wrote with). StatisticsGen and
ExampleValidator then describe that artifact; the
anomalies' `blessed` property says whether each split matched the schema. A run
that trains consumes a window of those artifacts in Transform. Everything here is
read from those records, so the console, `inspect history`, the report and the span
window resolver agree.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from runs import metadata

EXAMPLES = "Examples"
SPAN = "span"
FINGERPRINT = "input_fingerprint"


@dataclass(frozen=True)
class IngestedSpan:
    span: int
    examples_id: int
    fingerprint: str
    created_ms: int
    valid: Optional[bool]  # None: not validated (the run stopped before ExampleValidator)
    # ((split, hash buckets), ...) ExampleGen wrote; None when not recorded.
    splits: Optional[Tuple[Tuple[str, int], ...]] = None


def _ingested_examples(store: metadata_store.MetadataStore, pipeline_name: Optional[str]
                       ) -> List[metadata_store_pb2.Artifact]:
    """Live Examples written by an ExampleGen (they carry the input fingerprint), of one pipeline if named."""
    if pipeline_name is None:
        artifacts = store.get_artifacts_by_type(EXAMPLES)
    else:
        context = store.get_context_by_type_and_name(metadata.PIPELINE, pipeline_name)
        artifacts = store.get_artifacts_by_context(context.id) if context else []
    return [a for a in artifacts if FINGERPRINT in a.custom_properties and SPAN in a.custom_properties
            and a.state in (metadata_store_pb2.Artifact.LIVE, metadata_store_pb2.Artifact.UNKNOWN)]


def span_of(artifact: metadata_store_pb2.Artifact) -> Optional[int]:
    value = metadata.custom_property(artifact, SPAN)
    return int(value) if value not in (None, "") else None


def validation(store: metadata_store.MetadataStore, examples_id: int) -> Optional[bool]:
    """Whether ExampleValidator found every split of these Examples clean (None: never validated)."""
    verdicts = []
    for statistics_run in metadata.consumer_executions(store, examples_id):
        for statistics in metadata.output_artifacts(store, statistics_run.id).get("statistics", []):
            for validator in metadata.consumer_executions(store, statistics.id):
                for anomalies in metadata.output_artifacts(store, validator.id).get("anomalies", []):
                    blessed = metadata.custom_property(anomalies, "blessed")
                    if isinstance(blessed, dict) and blessed:
                        verdicts.append(all(float(v) == 1.0 for v in blessed.values()))
    return verdicts[-1] if verdicts else None


def split_config(store: metadata_store.MetadataStore, examples_id: int) -> Optional[Tuple[Tuple[str, int], ...]]:
    """How ExampleGen split these Examples, from the output_config it ran with (None when not recorded)."""
    producer = metadata.producer_execution(store, examples_id)
    recorded = metadata.custom_property(producer, "output_config") if producer else None
    if not recorded:
        return None
    splits = json.loads(recorded).get("split_config", {}).get("splits", [])
    return tuple((s.get("name", ""), int(s.get("hash_buckets", 0))) for s in splits)


def ingested_spans(store: metadata_store.MetadataStore, pipeline_name: Optional[str] = None
                   ) -> Dict[int, IngestedSpan]:
    """The newest ingestion of each span (a span whose files changed is ingested again)."""
    newest: Dict[int, metadata_store_pb2.Artifact] = {}
    for artifact in _ingested_examples(store, pipeline_name):
        span = span_of(artifact)
        if span is not None and (span not in newest or artifact.id > newest[span].id):
            newest[span] = artifact
    return {span: IngestedSpan(span, a.id, str(metadata.custom_property(a, FINGERPRINT)),
                               a.create_time_since_epoch, validation(store, a.id), split_config(store, a.id))
            for span, a in sorted(newest.items())}


def spans_of(artifacts: Iterable[metadata_store_pb2.Artifact]) -> List[int]:
    return sorted({s for s in (span_of(a) for a in artifacts) if s is not None})


def _examples_input(store, execution_id: int) -> List[metadata_store_pb2.Artifact]:
    return metadata.input_artifacts(store, execution_id).get("examples", [])


def trained_spans(store: metadata_store.MetadataStore, run_id: str) -> Optional[List[int]]:
    """The spans a run's Transform read (the training window), or None when it trained nothing.

    A cached Transform links to the outputs of the execution that made them; that
    execution's inputs are the window.
    """
    for execution in store.get_executions_by_context(metadata.run_context(store, run_id).id):
        outputs = metadata.output_artifacts(store, execution.id)
        if "transform_graph" not in outputs:
            continue
        examples = _examples_input(store, execution.id)
        if not examples:
            producer = metadata.producer_execution(store, outputs["transform_graph"][0].id)
            examples = _examples_input(store, producer.id) if producer else []
        return spans_of(examples)
    return None


def ingested_in_run(store: metadata_store.MetadataStore, run_id: str) -> List[int]:
    """Spans ExampleGen read in this run (not those it served from its cache)."""
    spans = []
    for execution in store.get_executions_by_context(metadata.run_context(store, run_id).id):
        if (execution.last_known_state == metadata_store_pb2.Execution.COMPLETE
                and FINGERPRINT in execution.custom_properties):
            spans += spans_of(metadata.output_artifacts(store, execution.id).get("examples", []))
    return sorted(spans)
