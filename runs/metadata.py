"""Reading the ML Metadata store: runs, component executions and their artifacts.

TFX records every execution in MLMD with two contexts: the pipeline run and the
node. These helpers answer the questions a person asks of a run ("what ran, what
was cached, how long, what did it produce") without writing MLMD queries.
"""
from __future__ import annotations

import datetime
import json
import os
import socket
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

PIPELINE_RUN = "pipeline_run"
PIPELINE = "pipeline"
NODE = "node"

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "complete",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.NEW: "new",
    metadata_store_pb2.Execution.CANCELED: "canceled",
}


class _TimeSpan:
    """MLMD's epoch milliseconds (start_ms, end_ms) as a duration and a start time."""

    start_ms: int
    end_ms: int

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end_ms - self.start_ms) / 1000.0)

    @property
    def started(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.start_ms / 1000.0)


@dataclass(frozen=True)
class NodeExecution(_TimeSpan):
    """One component's execution in one run."""

    node_id: str
    execution_id: int
    state: str
    start_ms: int
    end_ms: int
    run_id: Optional[str]


def node_id_of(store: metadata_store.MetadataStore, execution: metadata_store_pb2.Execution,
               pipeline_name: str) -> str:
    """The component id of an execution, from its node context '<pipeline>.<node>'."""
    for context in store.get_contexts_by_execution(execution.id):
        if store.get_context_types_by_id([context.type_id])[0].name == NODE:
            return context.name[len(pipeline_name) + 1:] if context.name.startswith(pipeline_name + ".") \
                else context.name
    return store.get_execution_types_by_id([execution.type_id])[0].name.rsplit(".", 1)[-1]


def run_id_of(store: metadata_store.MetadataStore, execution_id: int) -> Optional[str]:
    for context in store.get_contexts_by_execution(execution_id):
        if store.get_context_types_by_id([context.type_id])[0].name == PIPELINE_RUN:
            return context.name
    return None


def _node_execution(store, execution, node_id: str, run_id: Optional[str] = None) -> NodeExecution:
    return NodeExecution(
        node_id=node_id,
        execution_id=execution.id,
        state=_STATES.get(execution.last_known_state, "unknown"),
        start_ms=execution.create_time_since_epoch,
        end_ms=execution.last_update_time_since_epoch,
        run_id=run_id if run_id is not None else run_id_of(store, execution.id),
    )


def max_execution_id(store: metadata_store.MetadataStore) -> int:
    """The newest execution id (0 for an empty store); marks where a new run starts."""
    executions = store.get_executions(list_options=metadata_store.ListOptions(
        limit=1, order_by=metadata_store.OrderByField.ID, is_asc=False))
    return executions[0].id if executions else 0


def newest_run_after(store: metadata_store.MetadataStore, after_id: int) -> Optional[str]:
    """The run of the newest execution with id > after_id (a run that failed before any summary), or None."""
    newest = max_execution_id(store)
    return run_id_of(store, newest) if newest > after_id else None


def latest_node_execution(store: metadata_store.MetadataStore, pipeline_name: str, node_id: str,
                          after_id: int = 0) -> Optional[NodeExecution]:
    """The newest execution of a component with id > after_id, or None (e.g. it was skipped)."""
    context = store.get_context_by_type_and_name(NODE, f"{pipeline_name}.{node_id}")
    if context is None:
        return None
    executions = [e for e in store.get_executions_by_context(context.id) if e.id > after_id]
    if not executions:
        return None
    return _node_execution(store, max(executions, key=lambda e: e.id), node_id)


def pipeline_runs(store: metadata_store.MetadataStore, pipeline_name: Optional[str] = None) -> List[str]:
    """Run ids, newest first (optionally only those of one pipeline)."""
    runs = store.get_contexts_by_type(PIPELINE_RUN)
    if pipeline_name is not None:
        pipeline_context = store.get_context_by_type_and_name(PIPELINE, pipeline_name)
        if pipeline_context is None:
            return []
        run_ids = {c.id for c in store.get_children_contexts_by_context(pipeline_context.id)}
        if run_ids:
            runs = [r for r in runs if r.id in run_ids]
    return [r.name for r in sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id), reverse=True)]


def run_executions(store: metadata_store.MetadataStore, run_id: str, pipeline_name: str) -> List[NodeExecution]:
    """Every execution recorded for a run, in execution order."""
    context = store.get_context_by_type_and_name(PIPELINE_RUN, run_id)
    if context is None:
        raise KeyError(f"no pipeline run '{run_id}' in the metadata store")
    executions = sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)
    return [_node_execution(store, e, node_id_of(store, e, pipeline_name), run_id) for e in executions]


def output_artifacts(store: metadata_store.MetadataStore, execution_id: int
                     ) -> Dict[str, List[metadata_store_pb2.Artifact]]:
    """An execution's outputs by output key (cached executions link to the original artifacts)."""
    return _artifacts_by_key(store, execution_id, (metadata_store_pb2.Event.OUTPUT,
                                                   metadata_store_pb2.Event.DECLARED_OUTPUT))


def input_artifacts(store: metadata_store.MetadataStore, execution_id: int
                    ) -> Dict[str, List[metadata_store_pb2.Artifact]]:
    return _artifacts_by_key(store, execution_id, (metadata_store_pb2.Event.INPUT,
                                                   metadata_store_pb2.Event.DECLARED_INPUT))


def _artifacts_by_key(store, execution_id: int, event_types) -> Dict[str, List[metadata_store_pb2.Artifact]]:
    events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in event_types]
    artifacts = {a.id: a for a in store.get_artifacts_by_id(list({e.artifact_id for e in events}))}
    result: Dict[str, List[metadata_store_pb2.Artifact]] = {}
    for event in events:
        key = next((s.key for s in event.path.steps if s.HasField("key")), "")
        if event.artifact_id in artifacts:
            result.setdefault(key, []).append(artifacts[event.artifact_id])
    return result


def custom_property(artifact: metadata_store_pb2.Artifact, name: str):
    """A custom property's plain Python value (int, float, str or struct as dict), or None."""
    if name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    kind = value.WhichOneof("value")
    if kind == "struct_value":
        from google.protobuf import json_format
        return json_format.MessageToDict(value.struct_value)
    return getattr(value, kind) if kind else None


def run_context(store: metadata_store.MetadataStore, run_id: str) -> metadata_store_pb2.Context:
    context = store.get_context_by_type_and_name(PIPELINE_RUN, run_id)
    if context is None:
        raise KeyError(f"no pipeline run '{run_id}' in the metadata store")
    return context


def pipeline_of_run(store: metadata_store.MetadataStore, run_id: str) -> Optional[str]:
    """The pipeline a run belongs to (TFX makes the pipeline context the run's parent)."""
    parents = store.get_parent_contexts_by_context(run_context(store, run_id).id)
    return next((p.name for p in parents if store.get_context_types_by_id([p.type_id])[0].name == PIPELINE), None)


def pipeline_nodes(store: metadata_store.MetadataStore, pipeline_name: str) -> List[str]:
    """Every component id the pipeline has registered, in the order first seen."""
    prefix = pipeline_name + "."
    nodes = [c for c in store.get_contexts_by_type(NODE) if c.name.startswith(prefix)]
    return [c.name[len(prefix):] for c in sorted(nodes, key=lambda c: (c.create_time_since_epoch, c.id))]


def producer_execution(store: metadata_store.MetadataStore, artifact_id: int
                       ) -> Optional[metadata_store_pb2.Execution]:
    """The execution that made an artifact: the first to output it (later cached runs re-link it)."""
    producers = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
                 if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)]
    return store.get_executions_by_id([min(producers)])[0] if producers else None


def consumer_executions(store: metadata_store.MetadataStore, artifact_id: int
                        ) -> List[metadata_store_pb2.Execution]:
    consumers = sorted({e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
                        if e.type in (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)})
    return list(store.get_executions_by_id(consumers)) if consumers else []


def artifact_type_name(store: metadata_store.MetadataStore, artifact: metadata_store_pb2.Artifact) -> str:
    return store.get_artifact_types_by_id([artifact.type_id])[0].name


def artifact_properties(artifact: metadata_store_pb2.Artifact) -> Dict[str, object]:
    """Properties and custom properties as plain Python values (custom ones win on a clash)."""
    values: Dict[str, object] = {}
    for properties in (artifact.properties, artifact.custom_properties):
        for name, value in properties.items():
            kind = value.WhichOneof("value")
            if kind == "struct_value":
                from google.protobuf import json_format
                values[name] = json_format.MessageToDict(value.struct_value)
            else:
                values[name] = getattr(value, kind) if kind else None
    return values


def execution_origin(store: metadata_store.MetadataStore, execution: metadata_store_pb2.Execution
                     ) -> Tuple[str, Optional[str]]:
    """(component id, run id) of an execution, whichever pipeline it belongs to."""
    run_id = run_id_of(store, execution.id)
    pipeline_name = pipeline_of_run(store, run_id) if run_id else None
    return node_id_of(store, execution, pipeline_name or ""), run_id


# What the project's runner records on a run's pipeline_run context (TFX records nothing about
# the run itself): the machine and process running it, then how it ended. Without them a run
# killed between two components looks exactly like one whose later components the anomaly gate
# skipped: neither left an execution.
RUNNER_HOST = "runner_host"
RUNNER_PID = "runner_pid"
RUN_OUTCOME = "run_outcome"
RUN_BEAM_ARGS = "beam_pipeline_args"  # JSON list: the Beam runner and options the run's Beam components used
FINISHED = "finished"        # every component ran, was cached or was skipped by the gate
FAILED = "failed"            # a component failed
INTERRUPTED = "interrupted"  # stopped by a signal, or its process died (killed, machine down)
RUNNING = "running"          # its process is still alive
UNFINISHED = "unfinished"    # not finished, and its process runs on another machine: running or dead
NOT_RUN = "not run"          # a component an unfinished run never reached


def mark_run(store: metadata_store.MetadataStore, run_id: str, **values) -> None:
    """Sets the runner's custom properties (RUNNER_HOST, RUNNER_PID, RUN_BEAM_ARGS, RUN_OUTCOME) on a run's
    context."""
    context = run_context(store, run_id)
    for name, value in values.items():
        if isinstance(value, int):
            context.custom_properties[name].int_value = value
        else:
            context.custom_properties[name].string_value = str(value)
    store.put_contexts([context])


def process_alive(host: str, pid: int) -> Optional[bool]:
    """Whether a process of this machine is alive; None for another machine's (it cannot be checked)."""
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def run_status(context: metadata_store_pb2.Context) -> Optional[str]:
    """FINISHED, FAILED, INTERRUPTED, RUNNING or UNFINISHED; None for a run the runner did not mark
    (made before runs were marked, or by another runner)."""
    props = context.custom_properties
    if RUN_OUTCOME in props:
        return props[RUN_OUTCOME].string_value
    if RUNNER_PID not in props:
        return None
    alive = process_alive(props[RUNNER_HOST].string_value, props[RUNNER_PID].int_value)
    return UNFINISHED if alive is None else (RUNNING if alive else INTERRUPTED)


@dataclass(frozen=True)
class RunOverview(_TimeSpan):
    """A run at a glance: when, how long, how it ended, and each component's execution (or that
    it was skipped by the gate, or never reached because the run stopped first)."""

    run_id: str
    pipeline_name: Optional[str]
    start_ms: int
    end_ms: int
    executions: List[NodeExecution]
    skipped: List[str]
    status: Optional[str] = None
    not_run: List[str] = field(default_factory=list)
    beam_args: Optional[List[str]] = None

    def component_states(self) -> List["ComponentState"]:
        """Every component's state and duration, in execution order."""
        rows = [ComponentState(e.node_id, e.state, None if e.state == INTERRUPTED else e.seconds, e.execution_id)
                for e in self.executions]  # an interrupted execution never recorded its end
        rows += [ComponentState(node, "skipped") for node in self.skipped]
        rows += [ComponentState(node, "pending" if self.status == RUNNING else NOT_RUN) for node in self.not_run]
        return rows


@dataclass(frozen=True)
class ComponentState:
    node_id: str
    state: str
    seconds: Optional[float] = None  # None: it did not run, or its end is unknown
    execution_id: Optional[int] = None


def run_overview(store: metadata_store.MetadataStore, run_id: str) -> RunOverview:
    """Components the pipeline registered without an execution in this run were skipped by the gate
    if the run finished, and never reached if it did not; an execution a stopped run left
    running was interrupted."""
    context = run_context(store, run_id)
    pipeline_name = pipeline_of_run(store, run_id)
    status = run_status(context)
    executions = run_executions(store, run_id, pipeline_name or "")
    if status not in (None, RUNNING, UNFINISHED):
        executions = [replace(e, state=INTERRUPTED) if e.state in ("running", "new") else e
                      for e in executions]
    ran = {e.node_id for e in executions}
    nodes = pipeline_nodes(store, pipeline_name) if pipeline_name else []
    # A run of none of the pipeline's components (a rollback) skipped nothing.
    finished = status in (None, FINISHED)
    missing = [n for n in nodes if n not in ran] if ran & set(nodes) or not finished else []
    end_ms = max([e.end_ms for e in executions] + [context.create_time_since_epoch])
    props = context.custom_properties
    return RunOverview(run_id, pipeline_name, context.create_time_since_epoch, end_ms, executions,
                       skipped=missing if finished else [], status=status, not_run=[] if finished else missing,
                       beam_args=json.loads(props[RUN_BEAM_ARGS].string_value) if RUN_BEAM_ARGS in props else None)
