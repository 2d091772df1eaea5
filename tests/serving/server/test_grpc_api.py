"""gRPC API of the local server, through the official tensorflow_serving.apis stubs."""
import logging
import shutil

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.server import ModelServer

MODEL = "penguins"
ROWS = [
    {"island": "Dream", "bill_length_mm": 49.0, "bill_depth_mm": 19.5, "flipper_length_mm": 210,
     "body_mass_g": 3950, "sex": "male"},
    {"island": "Biscoe", "bill_length_mm": 46.1, "bill_depth_mm": 13.2, "flipper_length_mm": 211,
     "body_mass_g": 4500, "sex": "female"},
    {"island": "Torgersen", "bill_length_mm": None, "bill_depth_mm": 18.7, "flipper_length_mm": 181,
     "body_mass_g": 3750, "sex": None},
]


@pytest.fixture(scope="module")
def server(pipeline_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("grpc") / MODEL
    shutil.copytree(pipeline_run.serving_dir, base)
    with ModelServer(MODEL, str(base), grpc_port=0, rest_port=0, max_request_bytes=64 * 1024) as srv:
        yield srv


@pytest.fixture(scope="module")
def channel(server):
    ch = grpc.insecure_channel(server.grpc_target)
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def examples(server):
    return server.models.current.raw_features.serialize(ROWS)


def predict_request(examples, name=MODEL, **spec):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto(examples, dtype=tf.string))
    return request


def test_predict_matches_the_saved_model_in_process(server, stub, examples):
    response = stub.Predict(predict_request(examples), timeout=30)
    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == server.models.current.version
    assert response.model_spec.signature_name == "serving_default"
    expected = tf.saved_model.load(server.models.current.path).signatures["serving_default"](
        examples=tf.constant(examples))
    probabilities = tf.make_ndarray(response.outputs["probabilities"])
    assert probabilities.shape == (3, expected["probabilities"].shape[1])
    np.testing.assert_allclose(probabilities, expected["probabilities"].numpy(), atol=1e-6)
    assert list(tf.make_ndarray(response.outputs["classes"])) == list(expected["classes"].numpy())


def test_specific_version_and_output_filter(server, stub, examples):
    request = predict_request(examples, version=server.models.current.version)
    request.output_filter.append("classes")
    response = stub.Predict(request, timeout=30)
    assert list(response.outputs) == ["classes"]


def test_model_metadata(server, stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = MODEL
    response = stub.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def["serving_default"].outputs) == {"classes", "probabilities"}
    assert response.model_spec.version.value == server.models.current.version


def test_model_status(server, channel):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = MODEL
    response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
    [status] = response.model_version_status
    assert status.version == server.models.current.version
    assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert status.status.error_code == 0


def _bad_input(examples):
    request = predict_request(examples)
    request.inputs["other"].CopyFrom(request.inputs.pop("examples"))
    return request


def _float_input(examples):
    request = predict_request(examples)
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto([1.0, 2.0]))
    return request


def _label(examples):
    request = predict_request(examples)
    request.model_spec.version_label = "stable"
    return request


def _two_d(examples):
    return predict_request([[e] for e in examples[:2]])


def _nan_example(examples):
    example = example_pb2.Example.FromString(examples[1])
    example.features.feature["bill_depth_mm"].float_list.value[0] = float("nan")
    return predict_request([examples[0], example.SerializeToString()])


def _huge_shape(examples):
    request = predict_request(examples[:1])
    request.inputs["examples"].tensor_shape.dim[0].size = 10 ** 9  # one value numpy would repeat
    return request


def _negative_shape(examples):
    request = predict_request(examples[:1])
    request.inputs["examples"].tensor_shape.dim[0].size = -3
    return request


BAD = [
    ("unknown model", lambda e: predict_request(e, name="nope"), grpc.StatusCode.NOT_FOUND,
     "Servable not found for request: Latest(nope)"),
    ("unknown version", lambda e: predict_request(e, version=1), grpc.StatusCode.NOT_FOUND,
     f"Specific({MODEL}, 1)"),
    ("wrong signature", lambda e: predict_request(e, signature_name="nope"), grpc.StatusCode.INVALID_ARGUMENT,
     'Serving signature name: "nope" not found'),
    ("wrong input name", _bad_input, grpc.StatusCode.INVALID_ARGUMENT, "Sent extra: {other}"),
    ("wrong dtype", _float_input, grpc.StatusCode.INVALID_ARGUMENT, "Expects arg 'examples' to be string"),
    ("not tf.Examples", lambda e: predict_request([b"garbage"]), grpc.StatusCode.INVALID_ARGUMENT,
     "examples: instance 0 is not a serialized tf.Example"),
    ("2-D examples", _two_d, grpc.StatusCode.INVALID_ARGUMENT,
     "examples must be a vector of serialized tf.Example strings, got shape [2, 1]"),
    ("scalar examples", lambda e: predict_request(e[0]), grpc.StatusCode.INVALID_ARGUMENT,
     "examples must be a vector of serialized tf.Example strings, got shape []"),
    ("NaN inside a tf.Example", _nan_example, grpc.StatusCode.INVALID_ARGUMENT,
     "examples: instance 1: feature 'bill_depth_mm' is nan; non-finite numbers are refused"),
    ("a huge declared shape", _huge_shape, grpc.StatusCode.INVALID_ARGUMENT, "more than 65536 elements"),
    ("a negative dimension", _negative_shape, grpc.StatusCode.INVALID_ARGUMENT, "negative dimension"),
    ("unknown version label", _label, grpc.StatusCode.INVALID_ARGUMENT,
     "Unrecognized servable version label: stable"),
    ("oversized", lambda e: predict_request(e * 5000), grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
]


@pytest.mark.parametrize("name, make, code, fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_status_codes_and_server_keeps_serving(stub, examples, name, make, code, fragment, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(make(examples), timeout=30)
    assert error.value.code() == code
    assert fragment in error.value.details()
    assert stub.Predict(predict_request(examples), timeout=30).outputs["classes"]
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING or rec.exc_info]  # no traceback


def test_unsupported_metadata_field_and_unimplemented_methods(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["weights"])
    request.model_spec.name = MODEL
    with pytest.raises(grpc.RpcError) as error:
        stub.GetModelMetadata(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as error:
        stub.Classify(classification_pb2.ClassificationRequest(), timeout=30)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
