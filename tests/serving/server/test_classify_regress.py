"""Regress over REST and gRPC on a regression model exported as the Trainer exports one.

Classify is tested on the pipeline's classifier in test_rest.py and test_grpc_api.py.
"""
import os

import grpc
import numpy as np
import pytest
import requests
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_service_pb2_grpc, regression_pb2

from models import features as features_lib
from models import export
from models import model as model_lib
from models.training import vocab_sizes
from serving.server import ModelServer
from tests.conftest import PENGUINS
from tests.models.model_fixtures import CUSTOM_CONFIG, RAW_ROWS, schema

MODEL = "mass"
ROWS = [{k: v for k, v in row.items() if k not in ("species", "year")} for row in RAW_ROWS]


@pytest.fixture(scope="module")
def server(tiny_transform, tmp_path_factory):
    """An untrained regression head is enough: the APIs must agree with predict, not be accurate."""
    _, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    model = model_lib.build_keras_model(features, vocab_sizes(features, output), 1)
    version = tmp_path_factory.mktemp("regress") / MODEL / "1"
    export.export(model, str(version), export.signatures(model, output, features, ["year"], [], (4000.0, 800.0)))
    (version / "assets.extra").mkdir()
    (version / "assets.extra" / "schema.pbtxt").write_text(text_format.MessageToString(
        export.serving_schema(os.path.join(PENGUINS, "schema.pbtxt"), ["species", "year"])))
    with ModelServer(MODEL, str(version.parent), grpc_port=0, rest_port=0) as srv:
        yield srv


def _predictions(server):
    r = requests.post(f"{server.rest_url}/v1/models/{MODEL}:predict", json={"instances": ROWS}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["predictions"]


def test_rest_regress_answers_one_value_per_example_as_predict_does(server):
    r = requests.post(f"{server.rest_url}/v1/models/{MODEL}:regress",
                      json={"signature_name": "regression", "examples": ROWS}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == pytest.approx(_predictions(server), rel=1e-6)


def test_grpc_regress_answers_one_value_per_example_as_predict_does(server):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = "regression"
    for serialized in server.models.current.raw_features.serialize(ROWS):
        request.input.example_list.examples.add().ParseFromString(serialized)
    with grpc.insecure_channel(server.grpc_target) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Regress(request, timeout=30)
    assert response.model_spec.signature_name == "regression"
    np.testing.assert_allclose([r.value for r in response.result.regressions], _predictions(server), rtol=1e-5)


def test_classify_on_a_regression_model_says_there_is_no_classification_signature(server):
    r = requests.post(f"{server.rest_url}/v1/models/{MODEL}:classify",
                      json={"signature_name": "regression", "examples": ROWS}, timeout=30)
    assert r.status_code == 400
    assert "this model has no classification signature" in r.json()["error"]
