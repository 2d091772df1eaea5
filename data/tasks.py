"""What a label asks for: the task, the classes, and the metrics that may judge the model.

Metrics are data: the names people write in dataset.yaml mapped explicitly to TFMA metric
classes, each with its direction and the kinds of task it fits. A name nobody knows, a
bound on the wrong side or a metric that does not fit the task is one line at start-up,
not an error in the Evaluator minutes later.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple

from data.csv_checks import DATASET_YAML, DataError, Fixes, LabelProfile, as_number

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)
BINARY = "binary classification"
MULTICLASS = "multi-class classification"
# An integer label with more distinct values than this is taken for a quantity.
MAX_INFERRED_CLASSES = 20
# Lower-cased (negative, positive) pairs: the positive class of a binary label.
_POSITIVE_OF = {"0": "1", "-1": "1", "false": "true", "no": "yes", "n": "y", "f": "t",
                "negative": "positive", "neg": "pos"}


@dataclass(frozen=True)
class Metric:
    """A metric a dataset may be judged by, as TFMA computes it."""

    name: str
    tfma_class: str  # a tfma.metrics class, or a tf_keras.metrics class TFMA wraps
    higher_is_better: bool
    kinds: Tuple[str, ...]
    unit_interval: bool  # its values lie in [0, 1]
    aliases: Tuple[str, ...] = ()
    positive_class: bool = False  # computed on the positive class's probability (TFMA class_id)

    @property
    def bound_key(self) -> str:
        """The dataset.yaml key of its absolute bound."""
        return "min_value" if self.higher_is_better else "max_value"

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


METRICS = (
    Metric("accuracy", "SparseCategoricalAccuracy", True, (BINARY, MULTICLASS), True,
           ("sparse_categorical_accuracy", "acc")),
    Metric("auc", "AUC", True, (BINARY,), True, ("roc_auc", "auc_roc"), positive_class=True),
    Metric("pr_auc", "AUCPrecisionRecall", True, (BINARY,), True, ("auc_pr", "average_precision"),
           positive_class=True),
    Metric("precision", "Precision", True, (BINARY,), True, (), positive_class=True),
    Metric("recall", "Recall", True, (BINARY,), True, (), positive_class=True),
    Metric("mean_absolute_error", "MeanAbsoluteError", False, (REGRESSION,), False, ("mae",)),
    Metric("mean_squared_error", "MeanSquaredError", False, (REGRESSION,), False, ("mse",)),
    Metric("root_mean_squared_error", "RootMeanSquaredError", False, (REGRESSION,), False, ("rmse",)),
    Metric("mean_absolute_percentage_error", "MeanAbsolutePercentageError", False, (REGRESSION,), False,
           ("mape",)),
)
DEFAULT_METRIC = {BINARY: "auc", MULTICLASS: "accuracy", REGRESSION: "mean_absolute_error"}
# The worsening allowed against the blessed model for a metric in [0, 1] when dataset.yaml says
# none (evaluation.max_regression); an error metric's depends on its scale (data/init.py derives one).
UNIT_INTERVAL_MAX_REGRESSION = 0.02


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_BY_KEY = {_key(alias): m for m in METRICS for alias in (m.name, m.tfma_class) + m.aliases}


def accepted_metrics() -> str:
    return ", ".join(m.name for m in METRICS)


def find_metric(name: str) -> Metric:
    """The metric a name people write stands for ('AUC', 'rmse', 'SparseCategoricalAccuracy' ...)."""
    metric = _BY_KEY.get(_key(name))
    if metric is None:
        raise DataError(f"unknown metric '{name}'; accepted: {accepted_metrics()} "
                        "(the TFMA/Keras class names and mae, mse, rmse work too)")
    return metric


def tasks_of(metric: Metric) -> Tuple[str, ...]:
    return tuple(t for t in TASKS if any(_task_of_kind(k) == t for k in metric.kinds))


def _task_of_kind(kind: str) -> str:
    return REGRESSION if kind == REGRESSION else CLASSIFICATION


@dataclass(frozen=True)
class Target:
    """The resolved label: its task and, for classification, the classes in the model's order."""

    task: str
    classes: Tuple[str, ...] = ()  # binary: (negative, positive)
    reason: str = ""  # why this task, when it was inferred

    @property
    def kind(self) -> str:
        if self.task == REGRESSION:
            return REGRESSION
        return BINARY if len(self.classes) == 2 else MULTICLASS

    @property
    def positive_class(self) -> Optional[str]:
        return self.classes[1] if self.kind == BINARY else None


def canonical_class(text: str, numeric: bool) -> str:
    """A class as the model sees it: numbers as TensorFlow prints them (1.0 -> '1'), text as it is."""
    if not numeric:
        return text
    number = float(text)
    return str(int(number)) if number.is_integer() else repr(number)


def infer_task(label: LabelProfile) -> Tuple[str, str]:
    """(task, reason) from the label's values."""
    distinct = f"more than {len(label.counts)}" if label.too_many else str(len(label.counts))
    if not label.numeric:
        return CLASSIFICATION, f"its values are not all numbers ({distinct} distinct values)"
    if label.fractional:
        return REGRESSION, "its values are numbers with fractions"
    if label.too_many or len(label.counts) > MAX_INFERRED_CLASSES:
        return REGRESSION, f"its values are {distinct} distinct integers (more than {MAX_INFERRED_CLASSES})"
    return CLASSIFICATION, f"its values are {distinct} distinct integers"


def resolve(label: LabelProfile, task: Optional[str] = None, positive_class: Optional[str] = None,
            fixes: Fixes = DATASET_YAML) -> Target:
    """The label's task (inferred when not given) and classes; DataError when it cannot be learned."""
    reason = ""
    if not task:
        task, reason = infer_task(label)
    where = f"label column '{label.column}'"
    if label.non_finite is not None:
        raise DataError(f"{where} has the non-finite value {label.non_finite}: a label must be a real value; "
                        "leave it empty if unknown (such rows are left out)")
    if task == REGRESSION:
        if label.non_numeric is not None:
            raise DataError(f"{where} is not numeric (first: {label.non_numeric}): regression needs a number "
                            f"in every labelled row; use {fixes.task.format(CLASSIFICATION)} for categories")
        if positive_class:
            raise DataError("positive_class is for binary classification, not regression: remove it")
        return Target(REGRESSION, reason=reason)
    if label.too_many:
        raise DataError(f"{where} has more than {len(label.counts)} distinct values, too many classes to learn: "
                        f"if it is a quantity, use {fixes.task.format(REGRESSION)}")
    if len(label.counts) < 2:
        value = next(iter(label.counts))
        raise DataError(f"{where} has the single value {value!r} in all {label.labelled} labelled rows: "
                        "classification needs at least two classes in the data")
    return Target(CLASSIFICATION, _ordered_classes(label, positive_class), reason)


def _ordered_classes(label: LabelProfile, positive_class: Optional[str]) -> Tuple[str, ...]:
    numeric = label.numeric
    counts = {}
    for text, n in label.counts.items():
        name = canonical_class(text, numeric)
        counts[name] = counts.get(name, 0) + n
    ordered = sorted(counts, key=lambda c: (float(c), c) if numeric else (0.0, c))
    if len(ordered) != 2:
        if positive_class:
            raise DataError(f"positive_class is for binary labels; '{label.column}' has {len(ordered)} classes: "
                            "remove it")
        return tuple(ordered)
    if positive_class:
        wanted = canonical_class(positive_class, numeric and as_number(positive_class) is not None)
        if wanted not in ordered:
            raise DataError(f"positive_class {positive_class!r} is not a value of '{label.column}' "
                            f"(values: {', '.join(ordered)})")
        positive = wanted
    else:
        lowered = {c.lower(): c for c in ordered}
        pairs = [lowered[p] for n, p in _POSITIVE_OF.items() if set(lowered) == {n, p}]
        # Numbers: the larger; otherwise the rarer class, usually the event to detect.
        positive = pairs[0] if pairs else (ordered[1] if numeric else min(ordered, key=lambda c: (counts[c], c)))
    return tuple(c for c in ordered if c != positive) + (positive,)


def check_metric_fits(metric_name: str, target: Target) -> Metric:
    metric = find_metric(metric_name)
    if target.kind not in metric.kinds:
        fitting = [m.name for m in METRICS if target.kind in m.kinds]
        raise DataError(f"metric '{metric_name}' does not fit a {target.kind} task; for this task use one of: "
                        f"{', '.join(fitting)}")
    return metric
