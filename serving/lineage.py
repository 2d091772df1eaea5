"""From a served version directory to the training statistics behind it, through MLMD.

PushedModel (custom property `pushed_destination` = the version dir) <- Pusher
execution <- Model <- Trainer <- ... <- raw Examples. Walking the events upstream
reaches every ancestor artifact; the training statistics are the ExampleStatistics
with a train split that were computed on one of those ancestor Examples (normally by
StatisticsGen). Cached executions in later runs link to the same original artifacts,
so the walk works whichever run pushed the version.
"""
from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass
from typing import Dict, List, Optional

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

TRAIN_SPLIT = "train"
_INPUTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
_OUTPUTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


class LineageError(LookupError):
    """The metadata store does not lead from the served model to its training statistics."""


@dataclass(frozen=True)
class TrainingStatistics:
    path: str  # <uri>/Split-train/FeatureStats.pb
    statistics_artifact_id: int
    pushed_model_artifact_id: int
    examples_uri: str


def open_store(sqlite_path: str) -> metadata_store.MetadataStore:
    if not os.path.exists(sqlite_path):
        raise LineageError(f"no metadata store at {sqlite_path}; run the pipeline with this output dir "
                           f"or pass the training statistics explicitly")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = sqlite_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def _string(artifact, key: str) -> str:
    value = artifact.custom_properties.get(key) or artifact.properties.get(key)
    return value.string_value if value is not None else ""


def _same_dir(a: str, b: str) -> bool:
    return bool(a) and os.path.realpath(a) == os.path.realpath(b)


def find_pushed_model(store, version_dir: str):
    """The PushedModel artifact whose destination is version_dir."""
    pushed = store.get_artifacts_by_type("PushedModel")
    for artifact in pushed:
        if _same_dir(_string(artifact, "pushed_destination"), version_dir):
            return artifact
    # The output dir may have moved since the push: match <model>/<version> instead.
    tail = os.path.join(*os.path.normpath(version_dir).split(os.sep)[-2:])
    for artifact in pushed:
        if os.path.normpath(_string(artifact, "pushed_destination")).endswith(os.sep + tail):
            return artifact
    known = sorted({_string(a, "pushed_destination") for a in pushed})
    raise LineageError(f"no PushedModel with destination {version_dir} in the metadata store "
                       f"(known destinations: {known or 'none'})")


def _ancestors(store, artifact_id: int) -> List:
    """Artifacts upstream of artifact_id, nearest first (breadth-first over events)."""
    seen_artifacts, seen_executions = {artifact_id}, set()
    order: List[int] = []
    frontier = deque([artifact_id])
    while frontier:
        current = frontier.popleft()
        producers = [e.execution_id for e in store.get_events_by_artifact_ids([current]) if e.type in _OUTPUTS]
        new_executions = [e for e in producers if e not in seen_executions]
        seen_executions.update(new_executions)
        if not new_executions:
            continue
        for event in store.get_events_by_execution_ids(new_executions):
            if event.type in _INPUTS and event.artifact_id not in seen_artifacts:
                seen_artifacts.add(event.artifact_id)
                order.append(event.artifact_id)
                frontier.append(event.artifact_id)
    return store.get_artifacts_by_id(order) if order else []


def _train_stats_path(artifact) -> Optional[str]:
    path = os.path.join(artifact.uri, f"Split-{TRAIN_SPLIT}", "FeatureStats.pb")
    return path if os.path.exists(path) else None


def training_statistics(sqlite_path: str, version_dir: str) -> TrainingStatistics:
    """Locates the train-split statistics of the data the served model was trained on."""
    store = open_store(sqlite_path)
    pushed = find_pushed_model(store, version_dir)
    type_names: Dict[int, str] = {t.id: t.name for t in store.get_artifact_types()}
    ancestors = _ancestors(store, pushed.id)
    examples = [a for a in ancestors if type_names.get(a.type_id) == "Examples"
                and TRAIN_SPLIT in json.loads(_string(a, "split_names") or "[]")]
    # Statistics computed on an ancestor Examples artifact, nearest ancestor first.
    for example_artifact in examples:
        consumers = [e.execution_id for e in store.get_events_by_artifact_ids([example_artifact.id])
                     if e.type in _INPUTS]
        if not consumers:
            continue
        outputs = [e.artifact_id for e in store.get_events_by_execution_ids(consumers) if e.type in _OUTPUTS]
        for artifact in store.get_artifacts_by_id(outputs) if outputs else []:
            path = _train_stats_path(artifact) if type_names.get(artifact.type_id) == "ExampleStatistics" else None
            if path:
                return TrainingStatistics(path, artifact.id, pushed.id, example_artifact.uri)
    raise LineageError(
        f"found the PushedModel of {version_dir} (artifact {pushed.id}) but no ExampleStatistics with a "
        f"'{TRAIN_SPLIT}' split computed on its training examples; was StatisticsGen part of the run?")
