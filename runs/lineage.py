"""Which data and which code made a model: from a pushed model back to the input files.

Walks ML Metadata's events upstream (artifact <- the execution that produced it <-
that execution's inputs) and names each artifact by the output key its component
gave it (pushed_model, blessing, model, transform_graph, schema, examples...). The
Evaluator's baseline model is not followed: it is a comparison, not an ancestor.
Beside the strict ancestors, the chain carries what a person asks next: the
evaluation beside the blessing, the statistics computed on the examples, the
splits each component read (runs/split_use.py), and the input files with the
fingerprint ExampleGen recorded.
"""
from __future__ import annotations

import datetime
import glob
import json
import os
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from runs import metadata, split_use

PUSHED_MODEL = "PushedModel"
TRAIN_SPLIT = "train"
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
        read = split_use.text(split_use.splits_read(producer))
        if read:
            details["splits_read"] = read
    return details


def _headline_metrics(evaluation_uri: str) -> Optional[Dict[str, float]]:
    """The overall slice's metrics, read by TFMA; None when the evaluation files are gone."""
    import tensorflow as tf

    from runs import results

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


def _input_patterns(store, examples: metadata_store_pb2.Artifact) -> List[Tuple[str, str]]:
    """(file pattern, fingerprint) per input split ExampleGen read to make `examples`."""
    producer = metadata.producer_execution(store, examples.id)
    input_base = metadata.custom_property(producer, "input_base") if producer else None
    if not input_base:
        return []
    config = json.loads(metadata.custom_property(producer, "input_config") or "{}")
    fingerprints = str(metadata.custom_property(producer, "input_fingerprint") or "").splitlines()
    patterns = []
    for split in config.get("splits") or [{"name": "", "pattern": ""}]:
        prefix = f"split:{split.get('name', '')},"
        fingerprint = next((f for f in fingerprints if f.startswith(prefix)), "\n".join(fingerprints))
        patterns.append((os.path.join(input_base, split.get("pattern", "")), fingerprint))
    return patterns


def _input_files(store, examples: metadata_store_pb2.Artifact, step: LineageStep) -> List[LineageStep]:
    """ExampleGen's input: one step per input split pattern, with its recorded fingerprint."""
    return [LineageStep("input_data", "files", None, pattern, step.component, step.run_id, step.created,
                        {"fingerprint": fingerprint, "span": step.details.get("span")})
            for pattern, fingerprint in _input_patterns(store, examples)]


def _statistics_of(store, examples_id: int) -> List[metadata_store_pb2.Artifact]:
    """ExampleStatistics computed on an Examples artifact (StatisticsGen's 'statistics' output)."""
    for consumer in metadata.consumer_executions(store, examples_id):
        statistics = metadata.output_artifacts(store, consumer.id).get("statistics")
        if statistics:
            return statistics
    return []


def _parents(store, artifact) -> List[metadata_store_pb2.Artifact]:
    """The inputs of the execution that made `artifact`, minus comparisons (the baseline) and conditionals."""
    producer = metadata.producer_execution(store, artifact.id)
    if producer is None:
        return []
    return [a for key, artifacts in metadata.input_artifacts(store, producer.id).items()
            if key not in NOT_ANCESTORS and not key.startswith("_") for a in artifacts]


def ancestors(store: metadata_store.MetadataStore, start: metadata_store_pb2.Artifact
              ) -> Iterator[metadata_store_pb2.Artifact]:
    """Every artifact upstream of `start`, nearest first (breadth-first), each once.

    Cached executions in later runs link to the original artifacts, so the walk works
    whichever run pushed the model.
    """
    seen = {start.id}
    queue = deque([start])
    while queue:
        for parent in _parents(store, queue.popleft()):
            if parent.id not in seen:
                seen.add(parent.id)
                queue.append(parent)
                yield parent


def trace(store: metadata_store.MetadataStore, start: metadata_store_pb2.Artifact) -> List[LineageStep]:
    """The chain from `start` back to the input files, ordered from model to data."""
    types = {t.id: t.name for t in store.get_artifact_types()}
    steps: List[LineageStep] = []
    seen = set()

    def add(artifact, role: Optional[str] = None) -> Optional[LineageStep]:
        if artifact.id in seen:
            return None
        seen.add(artifact.id)
        steps.append(_step(store, types, artifact, role))
        return steps[-1]

    for artifact in [start, *ancestors(store, start)]:
        step = add(artifact)
        if step is None:
            continue
        if step.role == "blessing":
            producer = metadata.producer_execution(store, artifact.id)
            for evaluation in metadata.output_artifacts(store, producer.id).get("evaluation", []) if producer else []:
                add(evaluation, "evaluation")
        if types[artifact.type_id] == "Examples":
            for statistics in _statistics_of(store, artifact.id):
                add(statistics, "statistics")
            steps.extend(_input_files(store, artifact, step))
    order = {role: i for i, role in enumerate(ROLE_ORDER)}
    return sorted(steps, key=lambda s: order.get(s.role, len(ROLE_ORDER)))


# ---- from a served version directory (what the drift monitor and the smoke test start from) ----

def _same_dir(a: str, b: str) -> bool:
    return bool(a) and os.path.realpath(a) == os.path.realpath(b)


def push_of_version_dir(store: metadata_store.MetadataStore, version_dir: str) -> metadata_store_pb2.Artifact:
    """The PushedModel whose destination is version_dir (or, if the output folder moved, <model>/<version>)."""
    pushed = pushed_models(store)
    destination = {a.id: str(metadata.custom_property(a, "pushed_destination") or "") for a in pushed}
    for artifact in pushed:
        if _same_dir(destination[artifact.id], version_dir):
            return artifact
    tail = os.path.join(*os.path.normpath(version_dir).split(os.sep)[-2:])
    for artifact in pushed:
        if os.path.normpath(destination[artifact.id]).endswith(os.sep + tail):
            return artifact
    raise LineageError(f"no PushedModel with destination {version_dir} in the metadata store "
                       f"(known destinations: {sorted(set(destination.values())) or 'none'})")


def push_inputs(store: metadata_store.MetadataStore, pushed: metadata_store_pb2.Artifact
                ) -> Dict[str, metadata_store_pb2.Artifact]:
    """The model and blessing a push (by the Pusher or a rollback) was made from, by input key."""
    producer = metadata.producer_execution(store, pushed.id)
    if producer is None:
        return {}
    return {key: artifacts[0] for key, artifacts in metadata.input_artifacts(store, producer.id).items() if artifacts}


def is_blessed_push(store: metadata_store.MetadataStore, pushed: metadata_store_pb2.Artifact) -> bool:
    blessing = push_inputs(store, pushed).get("model_blessing")
    return bool(metadata.custom_property(pushed, "pushed")) and blessing is not None \
        and bool(metadata.custom_property(blessing, "blessed"))


def evaluation_of_push(store: metadata_store.MetadataStore, pushed: metadata_store_pb2.Artifact
                       ) -> Optional[metadata_store_pb2.Artifact]:
    """The ModelEvaluation that blessed a pushed model: push <- blessing <- the Evaluator's evaluation output."""
    blessing = push_inputs(store, pushed).get("model_blessing")
    evaluator = metadata.producer_execution(store, blessing.id) if blessing is not None else None
    evaluations = metadata.output_artifacts(store, evaluator.id).get("evaluation", []) if evaluator else []
    return evaluations[0] if evaluations else None


@dataclass(frozen=True)
class TrainingStatistics:
    path: str  # <uri>/Split-train/FeatureStats.pb
    statistics_artifact_id: int
    pushed_model_artifact_id: int
    examples_uri: str


def _training_examples(store, pushed) -> Iterator[metadata_store_pb2.Artifact]:
    """Ancestor Examples with a train split, nearest first."""
    types = {t.id: t.name for t in store.get_artifact_types()}
    for artifact in ancestors(store, pushed):
        splits = metadata.artifact_properties(artifact).get("split_names") or "[]"
        if types[artifact.type_id] == "Examples" and TRAIN_SPLIT in json.loads(splits):
            yield artifact


def training_statistics(store: metadata_store.MetadataStore, version_dir: str) -> TrainingStatistics:
    """The train-split statistics of the data the served version was trained on."""
    pushed = push_of_version_dir(store, version_dir)
    for examples in _training_examples(store, pushed):
        for statistics in _statistics_of(store, examples.id):
            path = os.path.join(statistics.uri, f"Split-{TRAIN_SPLIT}", "FeatureStats.pb")
            if os.path.exists(path):
                return TrainingStatistics(path, statistics.id, pushed.id, examples.uri)
    raise LineageError(
        f"found the PushedModel of {version_dir} (artifact {pushed.id}) but no ExampleStatistics with a "
        f"'{TRAIN_SPLIT}' split computed on its training examples; was StatisticsGen part of the run?")


def training_data_files(store: metadata_store.MetadataStore, version_dir: str) -> List[str]:
    """The input files ExampleGen read for the served version (those still on disk), for sample requests."""
    pushed = push_of_version_dir(store, version_dir)
    for examples in _training_examples(store, pushed):
        files = sorted(f for pattern, _ in _input_patterns(store, examples)
                       for f in glob.glob(pattern) if os.path.isfile(f))
        if files:
            return files
    raise LineageError(f"the input files that trained {version_dir} are no longer on disk; pass rows explicitly")
