"""What this project adds to ML Metadata beside TFX's own records, and reads back.

- A run's trigger (new span, schedule, drift, live quality, manual): custom properties
  on TFX's pipeline_run context, written when the run ends.
- A rollback: an execution of type `Rollback` in a run context of its own, with the
  restored push's model and blessing as inputs and a PushedModel as output, exactly as
  TFX records a Pusher; lineage, `history`, the drift monitor and the Evaluator's
  baseline therefore see it as the push it is.
- A smoke test's verdict on a pushed version: a custom property on the run context of
  the run that pushed it, so `history` and `inspect runs` show a push that does not serve.
- A monitoring check (drift, live quality): an execution of type `MonitoringCheck`
  attached to the pipeline's context, with its window, verdict and report.
"""
from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

from ml_metadata import errors as mlmd_errors
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from runs import lineage, metadata

TRIGGER = "trigger"
TRIGGER_DETAIL = "trigger_detail"
STAGE = "stage"  # "ingest" for a run that only ingested and validated a span
INGEST_STAGE = "ingest"
MANUAL = "manual"
ROLLBACK = "Rollback"
ROLLBACK_RUN_PREFIX = "rollback-"
CHECK = "MonitoringCheck"
PUSHED_MODEL = "PushedModel"
RESTORED_VERSION = "restored_version"
REPLACED_VERSION = "replaced_version"
SMOKE_TEST = "smoke_test"  # "passed", or "failed: <the first failed check>"
SMOKE_PASSED = "passed"
SMOKE_FAILED_PREFIX = "failed: "
_RETRIES = 5  # SQLite refuses writes while another process writes; a run and a rollback may overlap


def _retry(write):
    for attempt in range(_RETRIES):
        try:
            return write()
        except (mlmd_errors.AbortedError, mlmd_errors.InternalError, mlmd_errors.UnavailableError):
            if attempt == _RETRIES - 1:
                raise
            time.sleep(0.2 * 2 ** attempt)


def _set(properties, name: str, value) -> None:
    if isinstance(value, bool):
        properties[name].int_value = int(value)
    elif isinstance(value, int):
        properties[name].int_value = value
    elif isinstance(value, float):
        properties[name].double_value = value
    else:
        properties[name].string_value = str(value)


# ---- triggers ----

def record_trigger(store: metadata_store.MetadataStore, run_id: str, trigger: str, detail: str = "",
                   stage: str = "") -> None:
    context = metadata.run_context(store, run_id)
    for name, value in ((TRIGGER, trigger), (TRIGGER_DETAIL, detail), (STAGE, stage)):
        if value:
            _set(context.custom_properties, name, value)
    _retry(lambda: store.put_contexts([context]))


def run_annotations(store: metadata_store.MetadataStore, run_id: str) -> Dict[str, str]:
    """trigger (default manual), trigger_detail and stage of a run."""
    context = metadata.run_context(store, run_id)
    values = {name: str(metadata.custom_property(context, name) or "") for name in (TRIGGER, TRIGGER_DETAIL, STAGE)}
    values[TRIGGER] = values[TRIGGER] or MANUAL
    return values


# ---- smoke tests ----

def record_smoke_test(store: metadata_store.MetadataStore, version_dir: str, passed: bool, detail: str = "") -> str:
    """Marks the run that pushed `version_dir` with the smoke test's verdict; returns its run id.
    Raises lineage.LineageError when no recorded push has that destination."""
    pushed = lineage.push_of_version_dir(store, version_dir)
    producer = metadata.producer_execution(store, pushed.id)
    run_id = metadata.run_id_of(store, producer.id) if producer else None
    if run_id is None:
        raise lineage.LineageError(f"the push of {version_dir} (artifact {pushed.id}) belongs to no recorded run")
    context = metadata.run_context(store, run_id)
    _set(context.custom_properties, SMOKE_TEST, SMOKE_PASSED if passed else SMOKE_FAILED_PREFIX + detail)
    _retry(lambda: store.put_contexts([context]))
    return run_id


def smoke_test_of(store: metadata_store.MetadataStore, run_id: str) -> Optional[str]:
    """The smoke test verdict recorded on a run ("passed" or "failed: ..."); None when none ran."""
    return metadata.custom_property(metadata.run_context(store, run_id), SMOKE_TEST) or None


# ---- pushes and rollbacks ----

def _type_id(store, kind: str, name: str) -> int:
    getter = {"artifact": store.get_artifact_type, "execution": store.get_execution_type,
              "context": store.get_context_type}[kind]
    try:
        return getter(name).id
    except mlmd_errors.NotFoundError:
        putter = {"artifact": (store.put_artifact_type, pb.ArtifactType),
                  "execution": (store.put_execution_type, pb.ExecutionType),
                  "context": (store.put_context_type, pb.ContextType)}[kind]
        return putter[0](putter[1](name=name))


def _pipeline_context(store, artifact: pb.Artifact) -> Optional[pb.Context]:
    producer = metadata.producer_execution(store, artifact.id)
    run_id = metadata.run_id_of(store, producer.id) if producer else None
    name = metadata.pipeline_of_run(store, run_id) if run_id else None
    return store.get_context_by_type_and_name(metadata.PIPELINE, name) if name else None


def record_rollback(store: metadata_store.MetadataStore, restored: pb.Artifact, version: int, destination: str,
                    replaced_version: Optional[int]) -> str:
    """Records a rollback push of `restored`'s model as serving `version`; returns its run id."""
    inputs = lineage.push_inputs(store, restored)
    pushed = pb.Artifact(type_id=_type_id(store, "artifact", PUSHED_MODEL), uri=destination,
                         state=pb.Artifact.LIVE)
    for name, value in (("pushed", 1), ("pushed_destination", destination), ("pushed_version", str(version)),
                        (RESTORED_VERSION, str(metadata.custom_property(restored, "pushed_version")))):
        _set(pushed.custom_properties, name, value)
    execution = pb.Execution(type_id=_type_id(store, "execution", ROLLBACK), last_known_state=pb.Execution.COMPLETE)
    _set(execution.custom_properties, RESTORED_VERSION, str(metadata.custom_property(restored, "pushed_version")))
    if replaced_version is not None:
        _set(execution.custom_properties, REPLACED_VERSION, str(replaced_version))
    run_id = ROLLBACK_RUN_PREFIX + datetime.datetime.now().isoformat()
    run = pb.Context(type_id=_type_id(store, "context", metadata.PIPELINE_RUN), name=run_id)
    _set(run.custom_properties, TRIGGER, "rollback")
    _set(run.custom_properties, TRIGGER_DETAIL, f"restores version {metadata.custom_property(restored, 'pushed_version')}")

    def events(event_type, keyed):
        pairs = []
        for key, artifact in keyed.items():
            event = pb.Event(type=event_type)
            event.path.steps.add().key = key
            event.path.steps.add().index = 0
            pairs.append((artifact, event))
        return pairs

    pairs = events(pb.Event.INPUT, {k: inputs[k] for k in ("model", "model_blessing") if k in inputs})
    pairs += events(pb.Event.OUTPUT, {"pushed_model": pushed})
    pipeline = _pipeline_context(store, restored)
    contexts = [run] + ([pipeline] if pipeline is not None else [])
    _, _, context_ids = _retry(lambda: store.put_execution(execution, pairs, contexts))
    if pipeline is not None:
        _retry(lambda: store.put_parent_contexts([pb.ParentContext(child_id=context_ids[0], parent_id=pipeline.id)]))
    return run_id


# ---- monitoring checks ----

@dataclass(frozen=True)
class CheckRecord:
    check: str  # drift | live quality
    verdict: str  # clean | alert | not checked
    since: str
    until: str
    report: str
    detail: str
    recorded_ms: int


def record_check(store: metadata_store.MetadataStore, pipeline_name: str, check: str, verdict: str, *,
                 since: str = "", until: str = "", report: str = "", detail: str = "") -> None:
    pipeline = store.get_context_by_type_and_name(metadata.PIPELINE, pipeline_name)
    if pipeline is None:
        pipeline = pb.Context(type_id=_type_id(store, "context", metadata.PIPELINE), name=pipeline_name)
    execution = pb.Execution(type_id=_type_id(store, "execution", CHECK), last_known_state=pb.Execution.COMPLETE)
    for name, value in (("check", check), ("verdict", verdict), ("since", since), ("until", until),
                        ("report", report), ("detail", detail)):
        _set(execution.custom_properties, name, value)
    _retry(lambda: store.put_execution(execution, [], [pipeline], reuse_context_if_already_exist=True))


def checks(store: metadata_store.MetadataStore, pipeline_name: Optional[str] = None) -> List[CheckRecord]:
    """Monitoring checks, oldest first."""
    try:
        executions = store.get_executions_by_type(CHECK)
    except mlmd_errors.NotFoundError:
        return []
    if pipeline_name is not None:
        pipeline = store.get_context_by_type_and_name(metadata.PIPELINE, pipeline_name)
        ids = {e.id for e in store.get_executions_by_context(pipeline.id)} if pipeline else set()
        executions = [e for e in executions if e.id in ids]
    return [CheckRecord(*(str(metadata.custom_property(e, n) or "") for n in
                          ("check", "verdict", "since", "until", "report", "detail")), e.create_time_since_epoch)
            for e in sorted(executions, key=lambda e: e.id)]
