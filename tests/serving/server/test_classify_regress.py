"""Regress over REST and gRPC on a regression model exported as the Trainer exports one.

Classify is tested on the pipeline's classifier in test_rest.py and test_grpc_api.py.
"""
import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import prediction_service_pb2_grpc, regression_pb2

from serving.server import ModelServer
from tests.models.model_fixtures import RAW_ROWS
from tests.serving.conftest import REGRESSION_MODEL as MODEL

ROWS = [{k: v for k, v in row.items() if k not in ("species", "year")} for row in RAW_ROWS]


@pytest.fixture(scope="module")
def server(regression_base_path):
    with ModelServer(MODEL, regression_base_path, grpc_port=0, rest_port=0) as srv:
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


def test_a_single_output_signature_answers_bare_values_per_row_as_tf_serving_does(server):
    """TF Serving names outputs in the row format only when there are several: one output gives
    each row's bare value, and the columnar format the bare column."""
    rows = _predictions(server)
    assert len(rows) == len(ROWS) and all(isinstance(r, float) for r in rows)
    r = requests.post(f"{server.rest_url}/v1/models/{MODEL}:predict", json={"inputs": {
        k: [row.get(k) for row in ROWS] for k in ROWS[0]}}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"] == pytest.approx(rows, rel=1e-6)
