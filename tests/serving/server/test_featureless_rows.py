"""A row carrying none of the model's features is refused, over REST and gRPC, for Predict and
Regress, even when every feature is optional (as data.init writes schemas); a row with some
features missing is answered."""
import grpc
import pytest
import requests
from tensorflow.core.example import example_pb2

from serving.client import GrpcClient, RequestFailed
from serving.server import ModelServer
from tests.serving.conftest import REGRESSION_MODEL as MODEL
from tensorflow_serving.apis import prediction_service_pb2_grpc, regression_pb2

NONE_OF_THEM = "carries none of the model's features"


@pytest.fixture(scope="module")
def server(optional_regression_base_path):
    with ModelServer(MODEL, optional_regression_base_path, grpc_port=0, rest_port=0) as srv:
        assert not any(spec.required or spec.always_present for spec in srv.models.current.raw_features.specs.values())
        yield srv


def _post(server, verb, body):
    return requests.post(f"{server.rest_url}/v1/models/{MODEL}:{verb}", json=body, timeout=30)


@pytest.mark.parametrize("verb, body", [
    ("predict", {"instances": [{}]}),
    ("predict", {"instances": [{"bill_length_mm": 40.0}, {"species": "Adelie"}]}),
    ("predict", {"instances": [{"b64": ""}]}),
    ("regress", {"signature_name": "regression", "examples": [{}]}),
])
def test_rest_refuses_a_row_without_any_feature(server, verb, body):
    r = _post(server, verb, body)
    assert r.status_code == 400 and NONE_OF_THEM in r.json()["error"], r.text


def test_rest_answers_a_row_with_some_features_missing(server):
    r = _post(server, "predict", {"instances": [{"bill_length_mm": 40.0}]})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 1, r.text


def test_grpc_predict_refuses_an_empty_example(server):
    client = GrpcClient(server.grpc_target, MODEL)
    try:
        with pytest.raises(RequestFailed) as error:
            client.predict_examples([example_pb2.Example().SerializeToString()])
    finally:
        client.close()
    assert error.value.status == "INVALID_ARGUMENT" and NONE_OF_THEM in error.value.message


def test_grpc_regress_refuses_an_empty_example(server):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = "regression"
    request.input.example_list.examples.add()
    with grpc.insecure_channel(server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as error:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Regress(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and NONE_OF_THEM in error.value.details()
