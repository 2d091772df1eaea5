"""What a run's outputs say, in plain facts: anomalies, evaluation, blessing, push.

Reads the artifacts with the libraries that wrote them (TFDV's Anomalies proto,
TFMA's metrics and validation result), so reports and the console summary never
parse files by hand.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from runs import metadata

SPLIT_PREFIX = "Split-"
# What the Trainer's warm start did, in its model_run output (models/warm_start.py writes it).
WARM_START_FILE = "warm_start.json"
# What the Trainer's training did: epochs, steps, why it stopped (models/epochs.py writes it).
TRAINING_FILE = "training.json"


@dataclass(frozen=True)
class Anomaly:
    split: str
    feature: str
    kind: str
    description: str

    def __str__(self) -> str:
        return f"[{self.split}] {self.feature}: {self.kind} - {self.description}"


def read_anomalies(anomalies_uri: str) -> List[Anomaly]:
    """Every anomaly ExampleValidator found, per split, from its SchemaDiff.pb files."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    found = []
    for split_dir in sorted(tf.io.gfile.listdir(anomalies_uri)):
        path = os.path.join(anomalies_uri, split_dir.rstrip("/"), "SchemaDiff.pb")
        if not split_dir.startswith(SPLIT_PREFIX) or not tf.io.gfile.exists(path):
            continue
        split = split_dir.rstrip("/")[len(SPLIT_PREFIX):]
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
        for feature, info in sorted(anomalies.anomaly_info.items()):
            reasons = info.reason or [info]
            for reason in reasons:
                found.append(Anomaly(split, feature, reason.short_description or info.short_description,
                                     reason.description or info.description))
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            found.append(Anomaly(split, "(dataset)", info.short_description, info.description))
    return found


@dataclass(frozen=True)
class ThresholdFailure:
    slice: str
    metric: str
    value: float
    threshold: str
    message: str

    def __str__(self) -> str:
        return f"{self.metric} on {self.slice} = {self.value:.4f}, {self.threshold}"


@dataclass
class Evaluation:
    """TFMA's results for one candidate: metrics per slice, and why it was (not) blessed."""

    blessed: bool
    metrics: Dict[str, Dict[str, float]] = field(default_factory=dict)
    baseline_diffs: Dict[str, Dict[str, float]] = field(default_factory=dict)
    failures: List[ThresholdFailure] = field(default_factory=list)

    @property
    def has_baseline(self) -> bool:
        return bool(self.baseline_diffs)


def _change_bounds(change_threshold) -> List[tuple]:
    """(kind, operator, value) per bound of a GenericChangeThreshold: ('absolute', '>=', -0.02)."""
    from tensorflow_model_analysis.proto import config_pb2

    higher_is_better = change_threshold.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER
    return [(kind, ">=" if higher_is_better else "<=", getattr(change_threshold, kind).value)
            for kind in ("absolute", "relative") if change_threshold.HasField(kind)]


def _threshold_text(threshold, value: float) -> str:
    """'needs >= 0.85 (short by 0.0312)' from a tfma MetricThreshold proto."""
    parts = []
    if threshold.HasField("value_threshold"):
        vt = threshold.value_threshold
        if vt.HasField("lower_bound"):
            parts.append(f"needs >= {vt.lower_bound.value:g} (short by {vt.lower_bound.value - value:.4f})")
        if vt.HasField("upper_bound"):
            parts.append(f"needs <= {vt.upper_bound.value:g} (over by {value - vt.upper_bound.value:.4f})")
    if threshold.HasField("change_threshold"):
        for kind, op, bound in _change_bounds(threshold.change_threshold):
            prefix = "relative change" if kind == "relative" else "change"
            parts.append(f"{prefix} vs baseline must be {op} {bound:g}")
    return "; ".join(parts) or "threshold not met"


def _slice_name(slice_key_proto) -> str:
    from tensorflow_model_analysis.slicer import slicer_lib

    return slicer_lib.stringify_slice_key(slicer_lib.deserialize_slice_key(slice_key_proto))


def read_evaluation(evaluation_uri: str, blessed: bool) -> Evaluation:
    import tensorflow_model_analysis as tfma

    result = Evaluation(blessed=blessed)
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        name = _slice_name(metrics_for_slice.slice_key)
        for kv in metrics_for_slice.metric_keys_and_values:
            if kv.value.WhichOneof("type") != "double_value":
                continue
            target = result.baseline_diffs if kv.key.is_diff else result.metrics
            if not kv.key.is_diff and kv.key.model_name and kv.key.model_name != "candidate":
                continue
            target.setdefault(name, {})[kv.key.name] = kv.value.double_value.value
    validation = tfma.load_validation_result(evaluation_uri)
    for per_slice in validation.metric_validations_per_slice:
        name = _slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            value = failure.metric_value.double_value.value
            metric = failure.metric_key.name + (" (change vs baseline)" if failure.metric_key.is_diff else "")
            result.failures.append(ThresholdFailure(name, metric, value,
                                                    _threshold_text(failure.metric_threshold, value),
                                                    failure.message))
    return result


@dataclass(frozen=True)
class Push:
    pushed: bool
    destination: Optional[str]
    version: Optional[str]


def read_push(pushed_model_artifact) -> Push:
    return Push(
        pushed=bool(metadata.custom_property(pushed_model_artifact, "pushed")),
        destination=metadata.custom_property(pushed_model_artifact, "pushed_destination"),
        version=metadata.custom_property(pushed_model_artifact, "pushed_version"),
    )


def _model_run_record(trainer_outputs, name: str) -> Optional[dict]:
    """A JSON record the Trainer wrote beside its logs (its model_run output); None when absent."""
    import json

    import tensorflow as tf

    model_run = trainer_outputs.get("model_run")
    path = os.path.join(model_run[0].uri, name) if model_run else None
    if path is None or not tf.io.gfile.exists(path):
        return None
    return json.loads(tf.io.gfile.GFile(path).read())


def read_warm_start(trainer_outputs) -> Optional[str]:
    """'from <base model> (features unchanged)' or 'skipped: <why>'; None when the run did not warm start."""
    record = _model_run_record(trainer_outputs, WARM_START_FILE)
    if record is None:
        return None
    if record.get("loaded"):
        return f"from the serving model {record.get('base_model')} ({record.get('reason')})"
    return f"skipped, trained from scratch: {record.get('reason')}"


def read_training(trainer_outputs) -> Optional[str]:
    """'<n> epochs (<steps> steps), stopped early: best eval loss ... at epoch ...'; None for older runs."""
    record = _model_run_record(trainer_outputs, TRAINING_FILE)
    if record is None:
        return None
    stopped = ("stopped early (eval loss no longer improving)" if record.get("stopped") == "early stopping"
               else "hit the train_steps cap")
    rates = " -> ".join(f"{r:g}" for r in record.get("learning_rates", []))
    return (f"{record.get('epochs')} epochs ({record.get('steps')} steps of {record.get('epoch_steps')} per epoch), "
            f"{stopped}; best eval loss {record.get('best_eval_loss', float('nan')):.4f} at epoch "
            f"{record.get('best_epoch')} (its weights kept); learning rate {rates}")


@dataclass(frozen=True)
class ThresholdCheck:
    """One threshold of the EvalConfig in force, the value it was checked against, and the verdict."""

    metric: str
    slice: str
    bound: str
    value: Optional[float]
    passed: bool


def _bound_text(threshold) -> str:
    """'>= 0.85' for a GenericValueThreshold, 'change >= -0.02' for a GenericChangeThreshold."""
    parts = []
    if threshold.DESCRIPTOR.name == "GenericValueThreshold":
        if threshold.HasField("lower_bound"):
            parts.append(f">= {threshold.lower_bound.value:g}")
        if threshold.HasField("upper_bound"):
            parts.append(f"<= {threshold.upper_bound.value:g}")
        return " and ".join(parts)
    parts += [f"{kind} change vs baseline {op} {bound:g}" for kind, op, bound in _change_bounds(threshold)]
    return " and ".join(parts)


def read_thresholds(evaluation_uri: str, evaluation: Evaluation) -> List[ThresholdCheck]:
    """Every threshold in the evaluation's own EvalConfig (as TFMA expands it), passed or failed.

    The Evaluator drops change thresholds when there is no baseline yet, so the saved
    config, not the pipeline's, says what was really checked.
    """
    from tensorflow_model_analysis.metrics import metric_specs
    from tensorflow_model_analysis.writers import eval_config_writer

    eval_config = eval_config_writer.load_eval_run(evaluation_uri)[0]
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(eval_config.metrics_specs, eval_config)
    baselines = {spec.name for spec in eval_config.model_specs if spec.is_baseline}
    checks = []
    for key, entries in sorted(thresholds.items(), key=lambda kv: (kv[0].name, kv[0].is_diff)):
        if key.model_name in baselines:
            continue
        metric = key.name + (" (change vs baseline)" if key.is_diff else "")
        values = evaluation.baseline_diffs if key.is_diff else evaluation.metrics
        for slice_spec, threshold in entries:
            slice_name = "Overall" if not slice_spec else _slice_spec_text(slice_spec)
            failed = any(f.metric == metric and _applies(slice_spec, f.slice) for f in evaluation.failures)
            checks.append(ThresholdCheck(metric, slice_name, _bound_text(threshold),
                                         values.get(slice_name, {}).get(key.name), not failed))
    return checks


@dataclass(frozen=True)
class BlessingBar:
    """What the overall slice had to reach for a metric: a value and a largest drop against the baseline."""

    metric: str
    min_value: Optional[float]
    max_drop: Optional[float]
    higher_is_better: bool = True


def blessing_bars(evaluation_uri: str) -> List[BlessingBar]:
    """The overall-slice thresholds of the evaluation's own EvalConfig, per thresholded metric."""
    from tensorflow_model_analysis.metrics import metric_specs
    from tensorflow_model_analysis.proto import config_pb2
    from tensorflow_model_analysis.writers import eval_config_writer

    eval_config = eval_config_writer.load_eval_run(evaluation_uri)[0]
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(eval_config.metrics_specs, eval_config)
    baselines = {spec.name for spec in eval_config.model_specs if spec.is_baseline}
    bars: Dict[str, BlessingBar] = {}
    for key, entries in thresholds.items():
        if key.model_name in baselines:
            continue
        for slice_spec, threshold in entries:
            if slice_spec:
                continue
            bar = bars.get(key.name, BlessingBar(key.name, None, None))
            if threshold.DESCRIPTOR.name == "GenericValueThreshold" and threshold.HasField("lower_bound"):
                bar = dataclasses.replace(bar, min_value=threshold.lower_bound.value)
            elif threshold.DESCRIPTOR.name == "GenericChangeThreshold" and threshold.HasField("absolute"):
                higher = threshold.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER
                bar = dataclasses.replace(bar, max_drop=abs(threshold.absolute.value), higher_is_better=higher)
            bars[key.name] = bar
    return sorted(bars.values(), key=lambda b: b.metric)


def _applies(slice_spec, slice_name: str) -> bool:
    """Whether a threshold's SlicingSpec (None: the overall slice) covers a slice named by TFMA."""
    if not slice_spec:
        return slice_name == "Overall"
    columns, _, values = slice_name.partition(":")
    named = dict(zip(columns.split("_X_"), values.split("_X_")))
    wanted = set(slice_spec.feature_keys) | set(slice_spec.feature_values)
    return set(named) == wanted and all(named[k] == v for k, v in slice_spec.feature_values.items())


def _slice_spec_text(slice_spec) -> str:
    """'island:Biscoe' or 'each island' for a SlicingSpec of a per-slice threshold."""
    parts = [f"{k}:{v}" for k, v in sorted(slice_spec.feature_values.items())]
    parts += [f"each {k}" for k in slice_spec.feature_keys]
    return ", ".join(parts) or "Overall"
