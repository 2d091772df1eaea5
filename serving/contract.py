"""The model/server contract, stated once on the serving side.

A pushed version is `<model_base_path>/<integer version>/` holding a SavedModel whose
`serving_default` signature takes serialized `tf.Example`s of raw features under the
input name `examples`, with the raw schema it was trained on in
`assets.extra/schema.pbtxt` (TF Serving ignores that folder). The model side states the
same in models/model.py; tests/serving/test_contract.py checks that the two agree.
"""
import os

SAVED_MODEL_FILE = "saved_model.pb"
SERVING_SIGNATURE = "serving_default"
EXAMPLES_INPUT = "examples"
EXTRA_ASSETS_DIR = "assets.extra"
SCHEMA_FILE = "schema.pbtxt"
SERVE_TAG = "serve"
# This project's server answers every prediction with its request id under this header (REST)
# or metadata key (gRPC); the request log records it. TF Serving itself has no such header.
REQUEST_ID_HEADER = "x-request-id"


def schema_path(version_dir: str) -> str:
    """The raw schema a version ships: <version>/assets.extra/schema.pbtxt."""
    return os.path.join(version_dir, EXTRA_ASSETS_DIR, SCHEMA_FILE)
