"""Raw features <-> serialized `tf.Example`s, driven by the schema shipped with the model.

The pushed SavedModel carries its raw schema in `assets.extra/schema.pbtxt`. Its
SERVING environment says which features a client sends (the label is excluded) and
their types; that is all we need to turn friendly JSON objects or CSV rows into the
`tf.Example`s the `serving_default` signature parses, and to reject bad input with
a message that names the feature.
"""
from __future__ import annotations

import base64
import functools
import math
import re
import warnings
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np
from google.protobuf import message
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_metadata.proto.v0 import schema_pb2

from serving.contract import FeatureError, ServingFeatures

# protobuf's C++ parser warns (once per process, on stderr) about some byte strings that
# are not messages; such input is a client error answered with a 400, not a server warning.
warnings.filterwarnings("ignore", message="Unexpected end-group tag", category=RuntimeWarning)

_INT64 = np.iinfo(np.int64)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# A non-finite float32 has every exponent bit set: little-endian, its two high bytes are
# [\x80-\xff][\x7f\xff]. Bytes without such a pair hold no NaN or infinity, wherever they lie,
# so the float values of most examples need not be read at all.
_MAYBE_NON_FINITE_FLOAT32 = re.compile(rb"[\x80-\xff][\x7f\xff]")
# Why a non-finite number is refused rather than treated as missing: the curated schema
# disallows NaN and infinity in training data, so the model never learnt what they mean,
# and a client sending them has a bug that a silent imputation would hide.
NON_FINITE_HINT = "non-finite numbers are refused: send a finite value, or leave the feature out if it is optional"

# Why a row without any feature is refused although each feature may be missing: the model
# would answer it from its biases alone, a confident-looking answer about nothing; such a row
# comes from a client sending the wrong keys or an empty object, not from real data.
NO_FEATURES_HINT = "send at least one (a row with only some of them is answered, the others treated as missing)"


def _names(specs: Mapping[str, Any], limit: int = 8) -> str:
    names = list(specs)
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _empty_list(feature: feature_pb2.Feature, kind: int) -> None:
    """Marks a feature present with no values, in the list kind its type takes."""
    {schema_pb2.BYTES: feature.bytes_list, schema_pb2.INT: feature.int64_list,
     schema_pb2.FLOAT: feature.float_list}[kind].SetInParent()


class RawFeatures(ServingFeatures):
    """The features a client sends (serving.contract.ServingFeatures), encoded as the model parses them.

    The schema's other features (the label, ignored columns: not in the SERVING
    environment) are columns of the training CSV: a row sent as it appears there is
    accepted and those values are dropped. A key the schema never had is an error.
    """

    @functools.cached_property
    def float_names(self) -> List[str]:
        """Checked in every served example, so worked out once."""
        return [name for name, spec in self.specs.items() if spec.type == schema_pb2.FLOAT]

    def check_serialized(self, serialized: Sequence[bytes]) -> None:
        """Refuses what the model must not see: bytes that are not a tf.Example (TF's parser
        rejects what protobuf leniently keeps as unknown fields) and non-finite floats."""
        floats = self.float_names
        for i, data in enumerate(serialized):
            example = example_pb2.Example()
            try:
                if not isinstance(data, bytes):
                    raise TypeError
                example.ParseFromString(data)
            except (message.DecodeError, TypeError, RuntimeError):
                raise FeatureError(f"instance {i} is not a serialized tf.Example") from None
            if example.UnknownFields() or example.features.UnknownFields():
                raise FeatureError(f"instance {i} is not a serialized tf.Example")
            if self.specs and not self._carries_a_feature(example.features.feature):
                raise FeatureError(f"instance {i} carries none of the model's features ({_names(self.specs)}); "
                                   f"{NO_FEATURES_HINT}")
            if not floats or _MAYBE_NON_FINITE_FLOAT32.search(data) is None:
                continue
            values = example.features.feature
            for name in floats:
                if name in values:
                    for value in values[name].float_list.value:
                        if not math.isfinite(value):
                            raise FeatureError(f"instance {i}: feature '{name}' is {value}; {NON_FINITE_HINT}")

    def _carries_a_feature(self, features: Mapping[str, feature_pb2.Feature]) -> bool:
        """Whether one of the model's features has a value (an empty list is no value)."""
        for name, feature in features.items():
            kind = feature.WhichOneof("kind")
            if kind and name in self.specs and getattr(feature, kind).value:
                return True
        return False

    def sample_row(self) -> Dict[str, Any]:
        """A plausible row built from the schema's domains (for warming up a model)."""
        domains = {d.name: list(d.value) for d in self.schema.string_domain}
        row: Dict[str, Any] = {}
        for feature in self.schema.feature:
            if feature.name not in self.specs:
                continue
            if feature.type == schema_pb2.BYTES:
                values = list(feature.string_domain.value) or domains.get(feature.domain) or ["a"]
                row[feature.name] = values[0]
            elif feature.type == schema_pb2.INT:
                row[feature.name] = feature.int_domain.min if feature.HasField("int_domain") else 0
            else:
                row[feature.name] = feature.float_domain.min if feature.HasField("float_domain") else 0.0
        return row

    # ---- JSON objects -> tf.Example -------------------------------------------------

    def to_example(self, row: Mapping[str, Any]) -> example_pb2.Example:
        """One JSON object of raw feature values -> tf.Example; raises FeatureError."""
        if not isinstance(row, Mapping):
            raise FeatureError(f"expected a JSON object of feature values, got {_json_type(row)}")
        unknown = sorted(set(row) - set(self.specs) - self.dropped)
        if unknown:
            raise FeatureError(
                f"unknown feature(s) {unknown}; the model takes {sorted(self.specs)}")
        example = example_pb2.Example()
        for name, spec in self.specs.items():
            values = _as_list(row.get(name))
            if not values:
                if spec.required:
                    raise FeatureError(f"missing required feature '{name}' ({spec.type_name})")
                if spec.always_present:
                    _empty_list(example.features.feature[name], spec.type)
                continue
            if spec.max_values and len(values) > spec.max_values:
                raise FeatureError(
                    f"feature '{name}' takes at most {spec.max_values} value(s), got {len(values)}")
            feature = example.features.feature[name]
            if spec.type == schema_pb2.BYTES:
                feature.bytes_list.value.extend(_as_bytes(name, v) for v in values)
            elif spec.type == schema_pb2.INT:
                feature.int64_list.value.extend(_as_int(name, v) for v in values)
            elif spec.type == schema_pb2.FLOAT:
                feature.float_list.value.extend(_as_float(name, v) for v in values)
            else:
                raise FeatureError(f"feature '{name}' has a schema type this server cannot encode")
        return example

    def serialize(self, rows: Sequence[Mapping[str, Any]]) -> List[bytes]:
        """Rows -> serialized tf.Examples; errors name the offending row."""
        out = []
        for i, row in enumerate(rows):
            try:
                out.append(self.to_example(row).SerializeToString())
            except FeatureError as e:
                raise FeatureError(f"instance {i}: {e}") from None
        return out


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return [value]


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _as_bytes(name: str, value) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise FeatureError(f"feature '{name}' is not valid Unicode ({e.reason}: "
                               f"{value[e.start:e.end]!r} at position {e.start})") from None
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError:
            raise FeatureError(f"feature '{name}': {{\"b64\": ...}} is not valid base64") from None
    raise FeatureError(f"feature '{name}' expects a string, got {_json_type(value)} {value!r}")


def _as_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FeatureError(f"feature '{name}' expects an integer, got {_json_type(value)} {value!r}")
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise FeatureError(f"feature '{name}' expects an integer, got {value!r}")
        value = int(value)
    if not _INT64.min <= value <= _INT64.max:
        raise FeatureError(f"feature '{name}' = {_short(value)} does not fit a 64-bit integer")
    return value


def _as_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FeatureError(f"feature '{name}' expects a number, got {_json_type(value)} {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise FeatureError(f"feature '{name}' is {value}; {NON_FINITE_HINT}")
    if abs(value) > _FLOAT32_MAX:  # also ints too large for a float: no float() overflow
        raise FeatureError(f"feature '{name}' = {_short(value)} does not fit a 32-bit float")
    return float(value)


def _short(value) -> str:
    """A number for a message; huge integers by size (Python refuses to print past 4,300 digits)."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return repr(value)
