"""The schema.pbtxt `python -m data.init` writes: TFDV's inference, prepared for curation.

Statistics are computed in memory from the columns data.init has already read, typed as
CsvExampleGen decodes them (INT when every value is written as an integer, FLOAT when every
value is a number, "1.0" included, else BYTES; an empty field is a missing value): TFDV's
CSV reader runs a Beam pipeline that takes minutes on a million rows (docs/performance.md,
"data.init"). The prepared schema keeps the label and ignored columns out of the SERVING
environment, widens numeric ranges, forbids NaN and infinity in float features, lets every
feature be missing (an empty column need not appear at all), sets drift and skew
comparators, and says above each feature what data.init decided and why.
"""
from __future__ import annotations

import math
import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2

# Numeric ranges in the schema: the observed range widened by this share of it on each side.
RANGE_SLACK = 0.25
MISSING_SLACK = 0.1  # presence: the observed share of rows with a value, less this
DRIFT_THRESHOLD = 0.15


def significant(value: float, digits: int = 3) -> float:
    return float(f"{value:.{digits}g}")


def record_batch(table):
    """data.init's Table (the CSV as text and as numbers) as CsvExampleGen decodes it: one list per row."""
    import pyarrow as pa

    arrays = []
    for name in table.text.columns:
        text, typed = table.text[name], table.typed[name]
        present = text.notna().to_numpy()
        if typed.dtype.kind in "if" and present.any():
            as_integer = typed.dtype.kind == "i" or not text.dropna().str.contains(r"[.eE]").any()
            values = pa.array(typed.to_numpy()[present].astype(np.int64 if as_integer else np.float32))
        else:
            values = pa.array(text.to_numpy(dtype=object)[present], type=pa.string())
        offsets = pa.array(np.concatenate([[0], np.cumsum(present)]).astype(np.int32))
        arrays.append(pa.ListArray.from_arrays(offsets, values, mask=pa.array(~present)))
    return pa.RecordBatch.from_arrays(arrays, list(table.text.columns))


def infer_schema(table, p):
    """The prepared schema for data.init's Table and Plan."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl

    statistics = stats_impl.generate_statistics_in_memory(record_batch(table), tfdv.StatsOptions())
    return prepare_schema(tfdv.infer_schema(statistics, infer_feature_shape=False), statistics, p)


def prepare_schema(schema, statistics, p):
    """TFDV's inferred schema made ready to curate (see the module docstring)."""
    from tensorflow_data_validation.utils import schema_util

    stats = {s.path.step[0]: s for s in statistics.datasets[0].features}
    rows = statistics.datasets[0].num_examples
    for environment in ("TRAINING", "SERVING"):
        schema.default_environment.append(environment)
    for feature in schema.feature:
        if feature.name == p.label:
            feature.not_in_environment.append("SERVING")
            continue
        feature.value_count.Clear()
        feature.value_count.max = 1
        common = stats[feature.name].num_stats.common_stats if feature.type != schema_pb2.BYTES \
            else stats[feature.name].string_stats.common_stats
        present = common.num_non_missing / rows if rows else 1.0
        feature.presence.Clear()
        # An empty column need not appear at all (else the gate stops the run: "Column dropped").
        feature.presence.min_count = 1 if common.num_non_missing else 0
        if common.num_non_missing:
            feature.presence.min_fraction = round(max(0.0, present - MISSING_SLACK), 2)
        if feature.name in p.ignore:
            feature.not_in_environment.append("SERVING")
            for domain in ("int_domain", "float_domain", "domain", "string_domain", "distribution_constraints"):
                feature.ClearField(domain)
            continue
        categorical = feature.type == schema_pb2.BYTES or feature.name in p.categorical
        if feature.type == schema_pb2.FLOAT or (feature.type == schema_pb2.INT and not categorical):
            _widen(feature, stats[feature.name].num_stats)
        if feature.type == schema_pb2.INT and categorical:
            feature.ClearField("int_domain")
            feature.int_domain.is_categorical = True
        if feature.type == schema_pb2.BYTES and (feature.domain or feature.HasField("string_domain")):
            feature.distribution_constraints.min_domain_mass = 0.99
        # A category written as floats (1.0, 2.0) has numeric statistics: L-infinity needs string ones.
        comparator = "infinity_norm" if categorical and feature.type != schema_pb2.FLOAT \
            else "jensen_shannon_divergence"
        getattr(feature.drift_comparator, comparator).threshold = DRIFT_THRESHOLD
        getattr(feature.skew_comparator, comparator).threshold = DRIFT_THRESHOLD
    schema_util.get_feature(schema, p.label)  # raises if TFDV left the label out
    return schema


def _widen(feature, num_stats) -> None:
    """The observed range plus RANGE_SLACK of it each side; a quantity never below 0 stays >= 0."""
    low, high = num_stats.min, num_stats.max
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
        f"# Schema for {p.name}: inferred by TFDV (python -m data.init), prepared for curation:",
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
