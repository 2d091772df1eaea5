"""The hyperparameters a run trained with, and the Tuner's trials, as ML Metadata holds them.

The Trainer's `hyperparameters` input is a HyperParameters artifact: the Tuner's best (its
`trials` custom property lists every trial: values, status, score, seconds, why it failed),
a file imported with `--hparams`, or the latest of either reused by a run that did not tune.
`python -m runs.inspect tuning` and the run report show it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from runs import metadata

# Custom properties of the Tuner's best_hyperparameters artifact (pipeline/tuner_component.py writes them).
TRIALS_PROPERTY = "trials"
BEST_SCORE_PROPERTY = "best_score"
TUNING_SECONDS_PROPERTY = "tuning_seconds"
HYPERPARAMETERS_KEY = "hyperparameters"  # the Trainer's input
HYPERPARAMETERS_TYPE = "HyperParameters"  # TFX's artifact type


@dataclass
class TrainedWith:
    """What the Trainer of a run was given."""

    artifact_id: int
    uri: str
    producer: str  # the node that made the artifact: the Tuner, the --hparams importer
    values: Dict[str, Any]
    trials: List[Dict[str, Any]] = field(default_factory=list)
    best_score: Optional[float] = None
    tuning_seconds: Optional[float] = None

    @property
    def file(self) -> str:
        """The file to pass to --hparams to train with these again."""
        names = os.listdir(self.uri) if os.path.isdir(self.uri) else []
        return os.path.join(self.uri, names[0]) if len(names) == 1 else self.uri


def read_values(uri: str) -> Dict[str, Any]:
    """The name -> value mapping in a HyperParameters artifact's one file ({} when unreadable)."""
    try:
        names = os.listdir(uri)
        with open(os.path.join(uri, names[0])) as f:
            raw = json.load(f)
    except (OSError, IndexError, ValueError):
        return {}
    values = raw.get("values", raw) if isinstance(raw, dict) else {}
    return values if isinstance(values, dict) else {}


def trained_with(store, run: metadata.RunOverview) -> Optional[TrainedWith]:
    """The hyperparameters the run's Trainer read, or None (it trained with the model's defaults)."""
    return next((found for found in (given_to(store, e.execution_id) for e in run.executions) if found), None)


def given_to(store, execution_id: int) -> Optional[TrainedWith]:
    """The hyperparameters an execution (the Trainer's) read as its input, or None."""
    for artifact in metadata.input_artifacts(store, execution_id).get(HYPERPARAMETERS_KEY, [])[:1]:
        producer = metadata.producer_execution(store, artifact.id)
        trials = metadata.custom_property(artifact, TRIALS_PROPERTY)
        return TrainedWith(
            artifact_id=artifact.id, uri=artifact.uri,
            producer=metadata.execution_origin(store, producer)[0] if producer else "",
            values=read_values(artifact.uri), trials=json.loads(trials) if trials else [],
            best_score=metadata.custom_property(artifact, BEST_SCORE_PROPERTY),
            tuning_seconds=metadata.custom_property(artifact, TUNING_SECONDS_PROPERTY))
    return None


def latest_hyperparameters(store, pipeline_name: str) -> Optional[int]:
    """The id of the newest HyperParameters artifact of a pipeline (tuned or imported), or None."""
    context = store.get_context_by_type_and_name(metadata.PIPELINE, pipeline_name)
    if context is None:
        return None
    in_pipeline = {a.id for a in store.get_artifacts_by_context(context.id)}
    found = [a.id for a in store.get_artifacts_by_type(HYPERPARAMETERS_TYPE) if a.id in in_pipeline]
    return max(found) if found else None


def to_json(tuned: Optional[TrainedWith]) -> Optional[Dict[str, Any]]:
    if tuned is None:
        return None
    return {"artifact_id": tuned.artifact_id, "file": tuned.file, "producer": tuned.producer, "values": tuned.values,
            "best_score": tuned.best_score, "tuning_seconds": tuned.tuning_seconds, "trials": tuned.trials}


def values_text(values: Dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(values.items()))


def trial_rows(tuned: TrainedWith) -> List[List[str]]:
    """One row per trial: id, status, eval loss, seconds, values (or why it failed)."""
    rows = []
    for trial in tuned.trials:
        score = "" if trial.get("score") is None else f"{trial['score']:.4f}"
        detail = values_text(trial.get("values") or {})
        if trial.get("reason"):
            detail += f" ({trial['reason']})"
        rows.append([str(trial.get("trial", "")), trial.get("status", ""), score, f"{trial.get('seconds', 0):.1f}",
                     detail])
    return rows


def summary_lines(tuned: Optional[TrainedWith]) -> List[str]:
    """The console's words: where the hyperparameters came from, and the trials if a Tuner made them."""
    if tuned is None:
        return ["Trained with the model's default hyperparameters (models/model.py); --tune searches them"]
    lines = [f"Trained with hyperparameters from {tuned.producer or 'an earlier run'} "
             f"(artifact {tuned.artifact_id}): {values_text(tuned.values)}", f"  file: {tuned.file}"]
    if tuned.trials:
        done = sum(t.get("status") == "completed" for t in tuned.trials)
        lines.append(f"  {len(tuned.trials)} trials ({done} completed, {len(tuned.trials) - done} failed) in "
                     f"{tuned.tuning_seconds or 0:.0f} s; best eval loss {tuned.best_score:.4f}")
    return lines
