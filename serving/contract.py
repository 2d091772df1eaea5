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
"""
import os
import re
from typing import List

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
