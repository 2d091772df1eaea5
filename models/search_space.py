"""The Tuner's search space, in plain Python: the configuration checks a `tuning.space` override
without importing TensorFlow, and models/tuning.py turns it into keras-tuner hyperparameters.

A dimension is a list of values to choose from, or a range `{min, max}` (`log: true` samples
evenly in log space: learning rates); a single value fixes it. The names are the model's
hyperparameters (models/model.py), with depth and width as `num_layers` and `units`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Tuple, Union

Value = Union[str, int, float]
TUNING_KEY = "tuning"  # the Tuner's custom_config entry (models/tuning.py): max_trials, time_budget (s), space


@dataclass(frozen=True)
class Choice:
    values: Tuple[Value, ...]

    def to_json(self) -> List[Value]:
        return list(self.values)


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool = False

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def to_json(self) -> Dict[str, Any]:
        return {"min": self.low, "max": self.high, "log": self.log}


Dimension = Union[Choice, Range]

# Every model family, 1-3 hidden layers of 16-128 units, Adam's rate over two decades,
# light regularisation, and batch sizes that keep a trial short on small data.
DEFAULT_SPACE: Dict[str, Dimension] = {
    "model_type": Choice(("linear", "dnn", "wide_and_deep")),
    "num_layers": Range(1, 3),
    "units": Choice((16, 32, 64, 128)),
    "learning_rate": Range(0.0003, 0.03, log=True),
    "dropout": Choice((0.0, 0.1, 0.2, 0.3)),
    "l2": Choice((0.0, 0.00001, 0.0001, 0.001)),
    "batch_size": Choice((32, 64, 128)),
}


class SpaceError(ValueError):
    """A search-space entry that cannot be searched; the message names the key and the fix."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def dimension(name: str, raw: Any, where: str = "tuning.space") -> Dimension:
    """One dimension from its YAML/JSON form: a list (choice), {min, max[, log]} (range) or one value."""
    key = f"{where}.{name}"
    if name not in DEFAULT_SPACE:
        raise SpaceError(f"{key}: unknown hyperparameter; searchable ones are {sorted(DEFAULT_SPACE)}")
    if isinstance(raw, Mapping):
        extra = sorted(set(raw) - {"min", "max", "log"})
        if extra or not {"min", "max"} <= set(raw):
            raise SpaceError(f"{key}: a range is {{min: LOW, max: HIGH}} (optionally log: true), got {dict(raw)}")
        low, high = raw["min"], raw["max"]
        if not (_number(low) and _number(high)):
            raise SpaceError(f"{key}: min and max must be numbers, got {low!r} and {high!r}")
        if low > high:
            raise SpaceError(f"{key}: the range is inverted (min {low} > max {high}); swap them")
        if raw.get("log") and low <= 0:
            raise SpaceError(f"{key}: a log range needs min > 0, got {low}; raise min or drop log: true")
        return Range(low, high, bool(raw.get("log", False)))
    if isinstance(raw, (list, tuple)):
        if not raw:
            raise SpaceError(f"{key}: the list of values is empty; list at least one value or leave the key out")
        types = {type(v) for v in raw}
        if not (types <= {int, float} or types == {str}):
            raise SpaceError(f"{key}: values must all be numbers or all be names, got {list(raw)}")
        return Choice(tuple(float(v) for v in raw) if types == {int, float} else tuple(raw))  # [0, 0.001]: floats
    if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
        return Choice((raw,))
    raise SpaceError(f"{key}: expected a list of values, a range {{min, max}} or one value, got {raw!r}")


def space(overrides: Mapping[str, Any] = None, where: str = "tuning.space") -> Dict[str, Dimension]:
    """The default space with `overrides` (name -> YAML/JSON form) in place of its dimensions."""
    result = dict(DEFAULT_SPACE)
    for name, raw in (overrides or {}).items():
        result[name] = dimension(name, raw, where)
    return result


def endpoints(dim: Dimension) -> Tuple[Value, ...]:
    """The values that bound a dimension: what the model must accept for the whole dimension to be valid."""
    return dim.values if isinstance(dim, Choice) else (dim.low, dim.high)


def to_json(dims: Mapping[str, Dimension]) -> Dict[str, Any]:
    """The YAML/JSON form `space` reads back: what the pipeline hands the Tuner and ML Metadata records."""
    return {name: dim.to_json() for name, dim in dims.items()}
