"""The model/server contract, stated once on the serving side.

A pushed version is `<model_base_path>/<integer version>/` holding a SavedModel whose
`serving_default` signature takes serialized `tf.Example`s of raw features under the
input name `examples`, with the raw schema it was trained on in
`assets.extra/schema.pbtxt` (TF Serving ignores that folder). The model side states the
same in models/model.py; tests/serving/test_contract.py checks that the two agree.

A version is complete when it holds everything a server needs to answer correctly:
`saved_model.pb`, the variables (the index and every data shard it was written with)
and the raw schema. A push interrupted half-way can leave any of them out; a server
must not serve such a folder, whatever the pusher guarantees. The warm-up records
(`assets.extra/tf_serving_warmup_requests`) are replayed when present and, as in TF
Serving, not required: versions exported before the model wrote them still serve.

Which features a version takes is stated by that schema too, in its SERVING environment
(ServingFeatures below): the server encodes them (serving/raw_features.py) and the
monitors read the logged ones (monitoring/), both through this one reading.
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

SAVED_MODEL_FILE = "saved_model.pb"
VARIABLES_DIR = "variables"
VARIABLES_INDEX = "variables.index"
SERVING_SIGNATURE = "serving_default"
EXAMPLES_INPUT = "examples"
EXTRA_ASSETS_DIR = "assets.extra"
SCHEMA_FILE = "schema.pbtxt"
WARMUP_FILE = "tf_serving_warmup_requests"  # TF Serving's name; optional, as in TF Serving
SERVE_TAG = "serve"
# TF Serving's Classify and Regress run signatures of these method names, input `inputs`.
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
API_INPUT = "inputs"
# This project's server answers every prediction with its request id under this header (REST)
# or metadata key (gRPC); the request log records it. TF Serving itself has no such header.
REQUEST_ID_HEADER = "x-request-id"
# The schema environment of the features a client sends (the label is not among them).
SERVING_ENVIRONMENT = "SERVING"
_TYPE_NAMES = {schema_pb2.BYTES: "string", schema_pb2.INT: "integer", schema_pb2.FLOAT: "number"}

REQUIRED_FILES = (SAVED_MODEL_FILE, f"{VARIABLES_DIR}/{VARIABLES_INDEX}", f"{EXTRA_ASSETS_DIR}/{SCHEMA_FILE}")
_DATA_SHARD = re.compile(r"variables\.data-(\d+)-of-(\d+)")


def schema_path(version_dir: str) -> str:
    """The raw schema a version ships: <version>/assets.extra/schema.pbtxt."""
    return os.path.join(version_dir, EXTRA_ASSETS_DIR, SCHEMA_FILE)


def warmup_path(version_dir: str) -> str:
    """The warm-up records a version may ship: <version>/assets.extra/tf_serving_warmup_requests."""
    return os.path.join(version_dir, EXTRA_ASSETS_DIR, WARMUP_FILE)


def missing_files(version_dir: str) -> List[str]:
    """What a version folder lacks to be complete, as paths relative to it (empty when complete).

    The data shards are named `variables.data-<i>-of-<n>`: any one of them says how
    many there must be; with none at all, the first is reported missing.
    """
    missing = [name for name in REQUIRED_FILES if not os.path.isfile(os.path.join(version_dir, name))]
    variables = os.path.join(version_dir, VARIABLES_DIR)
    try:
        shards = [_DATA_SHARD.fullmatch(n) for n in os.listdir(variables)]
    except (FileNotFoundError, NotADirectoryError):
        shards = []
    shards = [m for m in shards if m]
    total = int(shards[0].group(2)) if shards else 1
    present = {int(m.group(1)) for m in shards if int(m.group(2)) == total}
    missing += [f"{VARIABLES_DIR}/variables.data-{i:05d}-of-{total:05d}" for i in range(total) if i not in present]
    return missing


class FeatureError(ValueError):
    """A raw-feature value the model cannot take; the message names the feature and the fix."""


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    type: int  # schema_pb2.FeatureType
    required: bool  # every example needs a value
    max_values: int  # 0 = unbounded
    # Every example carries the feature, maybe with no value: CsvExampleGen writes
    # an empty CSV field as an empty list, so a schema inferred from CSV data
    # demands presence, not a value. A missing value is then sent the same way.
    always_present: bool = False

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.type, "unknown")


def load_schema(path: str) -> schema_pb2.Schema:
    with open(path) as f:
        return text_format.Parse(f.read(), schema_pb2.Schema())


def _in_environment(feature: schema_pb2.Feature, environment: str) -> bool:
    if environment in feature.not_in_environment:
        return False
    return not feature.in_environment or environment in feature.in_environment


class ServingFeatures:
    """The features a client sends to a version, as the raw schema it ships declares them.

    The SERVING environment of `assets.extra/schema.pbtxt` says which (the label is
    excluded) and their types; serving/raw_features.py encodes them as the signature
    parses them, monitoring/ compares the logged ones with the training data.
    """

    def __init__(self, schema: schema_pb2.Schema, environment: str = SERVING_ENVIRONMENT):
        self.schema = schema
        self.specs: Dict[str, FeatureSpec] = {}
        self.dropped = frozenset(f.name for f in schema.feature if not _in_environment(f, environment))
        for feature in schema.feature:
            if feature.name in self.dropped:
                continue
            self.specs[feature.name] = FeatureSpec(
                feature.name, feature.type, feature.value_count.min >= 1, feature.value_count.max,
                always_present=feature.presence.min_fraction >= 1.0)

    @classmethod
    def from_file(cls, path: str) -> "ServingFeatures":
        return cls(load_schema(path))

    @property
    def names(self) -> List[str]:
        return list(self.specs)

    def read_csv(self, path: str, limit: Optional[int] = None) -> List[Dict[str, Any]]:
        """CSV rows (header line, empty field = missing) -> typed rows of serving features."""
        rows = []
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [n for n, s in self.specs.items()
                       if (s.required or s.always_present) and n not in (reader.fieldnames or ())]
            if missing:
                raise FeatureError(f"{path}: the CSV lacks the required column(s) {missing}")
            for line in reader:
                try:
                    rows.append({name: self._parse_csv_value(spec, line.get(name, ""))
                                 for name, spec in self.specs.items()})
                except ValueError as e:
                    raise FeatureError(f"{path}:{reader.line_num}: {e}") from None
                if limit is not None and len(rows) >= limit:
                    break
        return rows

    @staticmethod
    def _parse_csv_value(spec: FeatureSpec, text: Optional[str]):
        if text is None or text == "":
            return None
        if spec.type == schema_pb2.INT:
            return int(float(text))
        if spec.type == schema_pb2.FLOAT:
            return float(text)
        return text
