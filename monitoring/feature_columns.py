"""One feature's values across many rows, in the form the drift tests compare.

Logged rows come from any client and from logs other server versions wrote, so each
value is read tolerantly and counted rather than trusted: a missing value, a value
that is not finite (NaN, infinity, an integer too large for a float) and a value of the
wrong type (a string in a numeric feature, a number in a categorical one) all leave the
row without that value, each counted for the report. Numbers are compared at the
precision the model sees them: FLOAT features as float32 (what a tf.Example holds),
INT features as float64, so a logged 39.1 equals the training split's float32 39.1.
"""
from __future__ import annotations

import base64
import binascii
import math
import numbers
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2

NUMERIC = "numeric"
CATEGORICAL = "categorical"
_NOT_USABLE = object()
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class FeatureColumn:
    """The usable values of one feature over `rows` rows, and what was not usable."""

    name: str
    kind: str  # NUMERIC or CATEGORICAL
    rows: int
    values: np.ndarray  # numeric: finite float64; categorical: str objects; one entry per value
    missing: int  # rows without any usable value (absent, empty, non-finite or wrong type)
    non_finite: int = 0  # values dropped for being NaN or infinite
    wrong_type: int = 0  # values dropped for not being of the feature's type

    @property
    def present(self) -> int:
        return self.rows - self.missing


def schema_types(features) -> Dict[str, int]:
    """Feature name -> schema type (schema_pb2.FeatureType) of a serving.contract.ServingFeatures."""
    return {name: spec.type for name, spec in features.specs.items()}


def kind_of(schema_type: int) -> str:
    return CATEGORICAL if schema_type == schema_pb2.BYTES else NUMERIC


class ColumnBuilder:
    """Collects one feature's values row by row, counting what cannot be used."""

    def __init__(self, name: str, schema_type: int):
        self.name, self.schema_type, self.kind = name, schema_type, kind_of(schema_type)
        self.rows = self.missing = self.non_finite = self.wrong_type = 0
        self.values: List[Any] = []

    def add(self, value: Any) -> List[Any]:
        """One row's value (a scalar, a list for multivalent features, or None) -> its usable values."""
        self.rows += 1
        usable = []
        for item in (value if isinstance(value, list) else [value]):
            if item is None:
                continue
            parsed = self._parse(item)
            if parsed is not _NOT_USABLE:
                usable.append(parsed)
        if not usable:
            self.missing += 1
        self.values.extend(usable)
        return usable

    def _parse(self, item: Any) -> Any:
        if self.kind == CATEGORICAL:
            return self._category(item)
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            self.wrong_type += 1
            return _NOT_USABLE
        try:
            number = float(item)
        except OverflowError:  # an integer beyond float range
            number = math.inf
        if self.schema_type == schema_pb2.FLOAT:
            number = float(np.float32(number)) if abs(number) <= _FLOAT32_MAX else math.inf
        if not math.isfinite(number):
            self.non_finite += 1
            return _NOT_USABLE
        return number

    def _category(self, item: Any) -> Any:
        if isinstance(item, str):
            return item
        if isinstance(item, bytes):
            return item.decode("utf-8", errors="replace")
        if isinstance(item, dict) and set(item) == {"b64"} and isinstance(item["b64"], str):
            try:
                return base64.b64decode(item["b64"], validate=True).decode("utf-8", errors="replace")
            except (binascii.Error, ValueError):
                pass
        elif isinstance(item, float) and not math.isfinite(item):
            self.non_finite += 1
            return _NOT_USABLE
        self.wrong_type += 1
        return _NOT_USABLE

    def build(self) -> FeatureColumn:
        values = np.array(self.values, dtype=object if self.kind == CATEGORICAL else np.float64)
        return FeatureColumn(self.name, self.kind, self.rows, values, self.missing, self.non_finite,
                             self.wrong_type)


def read_rows(rows: Iterable[Mapping[str, Any]], schema_types: Mapping[str, int]
              ) -> Tuple[Dict[str, FeatureColumn], Dict[str, List[Any]]]:
    """Rows (dicts of raw feature values) -> one column per feature the schema types, and per
    feature each row's first usable value or None (the single-valued table TFDV's statistics take)."""
    builders = {name: ColumnBuilder(name, t) for name, t in schema_types.items()}
    firsts: Dict[str, List[Any]] = {name: [] for name in schema_types}
    for row in rows:
        for name, builder in builders.items():
            usable = builder.add(row.get(name))
            firsts[name].append(usable[0] if usable else None)
    return {name: builder.build() for name, builder in builders.items()}, firsts


def columns_from_rows(rows: Iterable[Mapping[str, Any]], schema_types: Mapping[str, int]
                      ) -> Dict[str, FeatureColumn]:
    return read_rows(rows, schema_types)[0]


def columns_from_value_lists(value_lists: Mapping[str, Sequence[Sequence[Any]]],
                             schema_types: Mapping[str, int]) -> Dict[str, FeatureColumn]:
    """Per feature, one list of values per row (as parsed tf.Examples give them) -> columns."""
    columns = {}
    for name, schema_type in schema_types.items():
        builder = ColumnBuilder(name, schema_type)
        for values in value_lists[name]:
            builder.add(list(values))
        columns[name] = builder.build()
    return columns
