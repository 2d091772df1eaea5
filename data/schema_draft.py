"""The schema.pbtxt `python -m data.init` writes: what TFDV would infer, prepared for curation.

Built from the columns data.init has already read, typed as CsvExampleGen decodes them (INT
when every value is written as an integer, FLOAT when every value is a number, "1.0"
included, else BYTES; an empty field is a missing value), with TFDV's rules: one value per
row, text with at most 100 distinct values gets them as its domain. Not TFDV itself:
importing TensorFlow alone takes most of data.init's time budget, and TFDV's CSV reader runs a
Beam pipeline that takes minutes on a million rows (docs/performance.md, "data.init").
The prepared schema keeps the label and ignored columns out of the SERVING environment,
widens numeric ranges, forbids NaN and infinity in float features, lets every feature be
missing (an empty column need not appear at all), sets drift and skew comparators, and says
above each feature what data.init decided and why.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Tuple

from tensorflow_metadata.proto.v0 import schema_pb2

# Numeric ranges in the schema: the observed range widened by this share of it on each side.
RANGE_SLACK = 0.25
MISSING_SLACK = 0.1  # presence: the observed share of rows with a value, less this
DRIFT_THRESHOLD = 0.15
# A text column with at most this many distinct values gets them listed as its domain (as TFDV infers).
MAX_STRING_DOMAIN = 100


def significant(value: float, digits: int = 3) -> float:
    return float(f"{value:.{digits}g}")


@dataclass(frozen=True)
class Column:
    """One CSV column as CsvExampleGen decodes it, summarised for the schema."""

    name: str
    type: int  # schema_pb2.INT, FLOAT or BYTES
    present: int  # rows with a value
    low: float = 0.0  # numbers: the smallest and largest value
    high: float = 0.0
    values: Tuple[str, ...] = ()  # text: the distinct values, when at most MAX_STRING_DOMAIN


def columns(table) -> List[Column]:
    """data.init's Table (the CSV as text and as numbers): INT when every value is written as an integer,
    FLOAT when every value is a number ("1.0" included), else BYTES, as CsvExampleGen's decoder types them."""
    found = []
    for name in table.text.columns:
        text, typed = table.text[name], table.typed[name]
        present = int(text.notna().sum())
        if typed.dtype.kind in "if" and present:
            as_integer = typed.dtype.kind == "i" or not text.dropna().str.contains(r"[.eE]").any()
            found.append(Column(name, schema_pb2.INT if as_integer else schema_pb2.FLOAT, present,
                                float(typed.min()), float(typed.max())))
            continue
        distinct = text.dropna().unique()
        values = tuple(sorted(distinct)) if present and len(distinct) <= MAX_STRING_DOMAIN else ()
        found.append(Column(name, schema_pb2.BYTES, present, values=values))
    return found


def infer_schema(table, p):
    """The prepared schema for data.init's Table and Plan (see the module docstring)."""
    schema = schema_pb2.Schema()
    schema.default_environment.extend(["TRAINING", "SERVING"])
    rows = len(table.text)
    for column in columns(table):
        feature = schema.feature.add(name=column.name, type=column.type)
        feature.value_count.max = 1
        if column.values and column.name not in p.ignore:
            feature.domain = column.name
            schema.string_domain.add(name=column.name, value=column.values)
        if column.name == p.label:
            feature.value_count.min = 1
            feature.presence.min_fraction = round(column.present / rows, 2)
            feature.presence.min_count = 1
            feature.not_in_environment.append("SERVING")
            continue
        _prepare(schema, feature, column, rows, p)
    return schema


def _prepare(schema, feature, column: Column, rows: int, p) -> None:
    # An empty column need not appear at all (else the gate stops the run: "Column dropped").
    feature.presence.min_count = 1 if column.present else 0
    if column.present:
        feature.presence.min_fraction = round(max(0.0, column.present / rows - MISSING_SLACK), 2)
    if feature.name in p.ignore:
        feature.not_in_environment.append("SERVING")
        return
    categorical = feature.type == schema_pb2.BYTES or feature.name in p.categorical
    if feature.type == schema_pb2.FLOAT or (feature.type == schema_pb2.INT and not categorical):
        _widen(feature, column)
    if feature.type == schema_pb2.INT and categorical:
        feature.int_domain.is_categorical = True
    if feature.HasField("domain"):
        feature.distribution_constraints.min_domain_mass = 0.99
    # A category written as floats (1.0, 2.0) has numeric statistics: L-infinity needs string ones.
    comparator = "infinity_norm" if categorical and feature.type != schema_pb2.FLOAT \
        else "jensen_shannon_divergence"
    getattr(feature.drift_comparator, comparator).threshold = DRIFT_THRESHOLD
    getattr(feature.skew_comparator, comparator).threshold = DRIFT_THRESHOLD


def _widen(feature, column: Column) -> None:
    """The observed range plus RANGE_SLACK of it each side; a quantity never below 0 stays >= 0."""
    low, high = column.low, column.high
    slack = (high - low) * RANGE_SLACK or max(abs(high) * RANGE_SLACK, 1.0)
    floor = low - slack if low < 0 else max(0.0, low - slack)
    if feature.type == schema_pb2.FLOAT:
        feature.float_domain.min = significant(floor, 6)
        feature.float_domain.max = significant(high + slack, 6)
        feature.float_domain.disallow_nan = True
        feature.float_domain.disallow_inf = True
    else:
        feature.int_domain.min = math.floor(floor)
        feature.int_domain.max = math.ceil(high + slack)


def schema_text(schema, p) -> str:
    """The schema in text format, the header and one comment above each feature saying what data.init decided."""
    from google.protobuf import text_format

    header = [
        f"# Schema for {p.name}: written by python -m data.init as TFDV would infer it, prepared for curation:",
        "# - the label and ignored columns are not sent to a served model (not_in_environment SERVING);",
        f"# - numeric ranges are the observed ones widened by {int(RANGE_SLACK * 100)}% of the range on each side;",
        "# - NaN and infinity are anomalies in float features (float_domain disallow_nan/disallow_inf):",
        "#   set them to false to let such values through, and the model treats them as missing;",
        f"# - every feature may be missing in {int(MISSING_SLACK * 100)}% more rows than in this data (presence);",
        f"# - drift and skew comparators ({DRIFT_THRESHOLD}) for monitoring/drift.py.",
        "# Review it: tighten or widen ranges, add the categories you expect, then keep it as the contract.",
        "# Whether a column is a feature, a category or a quantity is set in dataset.yaml",
        "# (ignore_columns, categorical); the comment above each feature says what data.init chose and why.",
    ]
    blocks = []
    for feature in schema.feature:
        body = text_format.MessageToString(feature).rstrip("\n").replace("\n", "\n  ")
        blocks.append(f"# {feature.name}: {_decision(feature, p)}\nfeature {{\n  {body}\n}}\n")
    rest = schema_pb2.Schema()
    rest.CopyFrom(schema)
    del rest.feature[:]
    return "\n".join(header) + "\n" + "".join(blocks) + text_format.MessageToString(rest)


def _decision(feature, p) -> str:
    if feature.name == p.label:
        return f"the label ({p.target.kind})"
    if feature.name in p.ignore:
        return f"ignored, {p.ignore[feature.name]}"
    if feature.name in p.categorical:
        return f"categorical, {p.categorical[feature.name]}"
    if feature.type == schema_pb2.BYTES:
        return "categorical (text)"
    return f"numeric, {p.kept_numeric.get(feature.name, 'a quantity (scaled to z-scores)')}"
