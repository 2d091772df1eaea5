"""The feature definition: which columns are the label, numeric and categorical features.

Derived from the dataset config (label, ignored columns, integer columns that are
categories) and the schema (types), never listed by hand, so a new dataset folder
needs no code change.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Tuple

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

# The task names of the dataset config (data/tasks.py states them for the pipeline;
# a test keeps the two equal, since models imports no other package of the project).
CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class Features:
    label: str
    numeric: Tuple[str, ...]
    categorical: Tuple[str, ...]

    @property
    def inputs(self) -> Tuple[str, ...]:
        """Raw features a served model takes (everything but the label)."""
        return self.numeric + self.categorical


def transformed_name(feature: str) -> str:
    """Transformed features get their own names, so evaluation can still slice by raw values.

    The label keeps its name: the Evaluator reads the transformed label under it.
    """
    return f"{feature}_xf"


def load_schema(path: str) -> schema_pb2.Schema:
    import tensorflow as tf  # tf.io.gfile reads local paths and gs:// alike

    with tf.io.gfile.GFile(path) as f:
        return text_format.Parse(f.read(), schema_pb2.Schema())


def from_schema(schema: schema_pb2.Schema, label: str, ignore_columns: Iterable[str] = (),
                categorical_columns: Iterable[str] = ()) -> Features:
    ignored = set(ignore_columns) | {label}
    categories = set(categorical_columns)
    names = {f.name for f in schema.feature}
    if label not in names:
        raise ValueError(f"label '{label}' is not a feature of the schema (features: {sorted(names)})")
    numeric, categorical = [], []
    for feature in schema.feature:
        if feature.name in ignored:
            continue
        if feature.type == schema_pb2.BYTES or feature.name in categories:
            categorical.append(feature.name)
        elif feature.type in (schema_pb2.INT, schema_pb2.FLOAT):
            numeric.append(feature.name)
    if not numeric and not categorical:
        raise ValueError("the schema has no features besides the label and ignored columns")
    return Features(label=label, numeric=tuple(numeric), categorical=tuple(categorical))


def from_custom_config(schema: schema_pb2.Schema, custom_config: Mapping) -> Features:
    """The Features for a component, from the dataset config the pipeline passes down."""
    return from_schema(schema, custom_config["label"], custom_config.get("ignore_columns", ()),
                       custom_config.get("categorical", ()))
