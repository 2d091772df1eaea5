"""Which data and which code made a model: from a pushed model back to the input files.

Walks ML Metadata's events upstream (artifact <- the execution that produced it <-
that execution's inputs) and names each artifact by the output key its component
gave it (pushed_model, blessing, model, transform_graph, schema, examples...). The
Evaluator's baseline model is not followed: it is a comparison, not an ancestor.
Beside the strict ancestors, the chain carries what a person asks next: the
evaluation beside the blessing, the statistics computed on the examples, and the
input files with the fingerprint ExampleGen recorded.
"""
from __future__ import annotations

import datetime
import json
import os
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline import metadata

PUSHED_MODEL = "PushedModel"
ROLE_ORDER = ("pushed_model", "blessing", "evaluation", "model", "transform_graph", "transformed_examples",
              "schema", "statistics", "examples", "input_data")
# Inputs that are not ancestors: the baseline is only compared against; "_"-keys feed conditionals.
NOT_ANCESTORS = ("baseline_model",)
# Execution properties that say which code ran.
CODE_PROPERTIES = ("run_fn", "trainer_fn", "preprocessing_fn", "module_file", "module_path", "schema_file",
                   "train_args")


class LineageError(LookupError):
    """The store has nothing to trace from (no push, unknown version or artifact id)."""


@dataclass
class LineageStep:
    role: str
    artifact_type: str
    artifact_id: Optional[int]
    uri: str
    component: str
    run_id: Optional[str]
    created: str
    details: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _time(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000.0).isoformat(sep=" ", timespec="seconds")


def pushed_models(store: metadata_store.MetadataStore) -> List[metadata_store_pb2.Artifact]:
    """PushedModel artifacts that really were pushed (the Pusher records a no-push too), newest first."""
    pushed = [a for a in store.get_artifacts_by_type(PUSHED_MODEL) if metadata.custom_property(a, "pushed")]
    return sorted(pushed, key=lambda a: a.id, reverse=True)


def find_start(store: metadata_store.MetadataStore, version: Optional[str] = None,
               artifact_id: Optional[int] = None) -> metadata_store_pb2.Artifact:
    """The artifact to trace: a given id, the push of a serving version, or the latest push."""
    if artifact_id is not None:
        found = store.get_artifacts_by_id([artifact_id])
        if not found:
            raise LineageError(f"no artifact with id {artifact_id} in the metadata store")
        return found[0]
    pushed = pushed_models(store)
    if version is not None:
        for artifact in pushed:
            if str(metadata.custom_property(artifact, "pushed_version")) == str(version):
                return artifact
        known = ", ".join(str(metadata.custom_property(a, "pushed_version")) for a in pushed) or "none"
        raise LineageError(f"no model was pushed as serving version {version} (pushed versions: {known})")
    if not pushed:
        raise LineageError("no model has been pushed yet in this metadata store "
                           "(trace another artifact with --artifact ID; list them with `artifacts`)")
    return pushed[0]


def _output_key(store, execution_id: int, artifact_id: int) -> Optional[str]:
    for key, artifacts in metadata.output_artifacts(store, execution_id).items():
        if any(a.id == artifact_id for a in artifacts):
            return key
    return None


def _code(execution) -> Dict[str, Any]:
    code = {}
    for name in CODE_PROPERTIES:
        value = metadata.custom_property(execution, name)
        if value not in (None, "", "null"):
            code[name] = json.loads(value) if name.endswith("_args") else value
    return code


def _details(store, role: str, artifact, producer, component: str) -> Dict[str, Any]:
    props = metadata.artifact_properties(artifact)
    details: Dict[str, Any] = {}
    if "split_names" in props:
        details["splits"] = json.loads(props["split_names"])
    for name in ("span", "pushed_destination", "pushed_version", "input_fingerprint"):
        if props.get(name) is not None:
            details[name] = props[name]
    if role == "blessing":
        details["blessed"] = bool(props.get("blessed"))
    if role == "evaluation":
        metrics = _headline_metrics(artifact.uri)
        if metrics is None:
            details["note"] = "evaluation files not found"
        else:
            details["metrics"] = metrics
    if role == "schema":
        details["schema"] = "curated" if component == "ImportSchemaGen" else "inferred"
    if producer is not None:
        details.update(_code(producer))
    return details


def _headline_metrics(evaluation_uri: str) -> Optional[Dict[str, float]]:
    """The overall slice's metrics, read by TFMA; None when the evaluation files are gone."""
    import tensorflow as tf

    from pipeline import results

    if not tf.io.gfile.exists(evaluation_uri):
        return None
    return results.read_evaluation(evaluation_uri, blessed=False).metrics.get("Overall", {})


def _step(store, types: Dict[int, str], artifact, role: Optional[str] = None) -> LineageStep:
    producer = metadata.producer_execution(store, artifact.id)
    component, run_id = metadata.execution_origin(store, producer) if producer else ("", None)
    role = role or (_output_key(store, producer.id, artifact.id) if producer else None) \
        or types[artifact.type_id].lower()
    return LineageStep(role, types[artifact.type_id], artifact.id, artifact.uri, component, run_id,
                       _time(artifact.create_time_since_epoch), _details(store, role, artifact, producer, component))


def _input_files(store, examples: metadata_store_pb2.Artifact, step: LineageStep) -> List[LineageStep]:
    """ExampleGen's input: one step per input split pattern, with its recorded fingerprint."""
    producer = metadata.producer_execution(store, examples.id)
    input_base = metadata.custom_property(producer, "input_base") if producer else None
    if not input_base:
        return []
    config = json.loads(metadata.custom_property(producer, "input_config") or "{}")
    fingerprints = str(metadata.custom_property(producer, "input_fingerprint") or "").splitlines()
    steps = []
    for split in config.get("splits") or [{"name": "", "pattern": ""}]:
        prefix = f"split:{split.get('name', '')},"
        fingerprint = next((f for f in fingerprints if f.startswith(prefix)), "\n".join(fingerprints))
        steps.append(LineageStep("input_data", "files", None, os.path.join(input_base, split.get("pattern", "")),
                                 step.component, step.run_id, step.created,
                                 {"fingerprint": fingerprint, "span": step.details.get("span")}))
    return steps


def _statistics_of(store, examples_id: int) -> List[metadata_store_pb2.Artifact]:
    """ExampleStatistics computed on an Examples artifact (StatisticsGen's 'statistics' output)."""
    for consumer in metadata.consumer_executions(store, examples_id):
        statistics = metadata.output_artifacts(store, consumer.id).get("statistics")
        if statistics:
            return statistics
    return []


def trace(store: metadata_store.MetadataStore, start: metadata_store_pb2.Artifact) -> List[LineageStep]:
    """The chain from `start` back to the input files, ordered from model to data."""
    types = {t.id: t.name for t in store.get_artifact_types()}
    steps: List[LineageStep] = []
    seen = set()
    queue = deque([(start, None)])
    while queue:
        artifact, role = queue.popleft()
        if artifact.id in seen:
            continue
        seen.add(artifact.id)
        step = _step(store, types, artifact, role)
        steps.append(step)
        producer = metadata.producer_execution(store, artifact.id)
        if producer is None:
            continue
        if step.role == "blessing":
            queue.extend((a, "evaluation") for a in metadata.output_artifacts(store, producer.id).get("evaluation", []))
        for key, artifacts in metadata.input_artifacts(store, producer.id).items():
            if key not in NOT_ANCESTORS and not key.startswith("_"):
                queue.extend((a, None) for a in artifacts)
        if types[artifact.type_id] == "Examples":
            queue.extend((a, "statistics") for a in _statistics_of(store, artifact.id))
            steps.extend(_input_files(store, artifact, step))
    order = {role: i for i, role in enumerate(ROLE_ORDER)}
    return sorted(steps, key=lambda s: order.get(s.role, len(ROLE_ORDER)))
