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
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
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
        stub.MultiInference(inference_pb2.MultiInferenceRequest(), timeout=30)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED


def classify_request(examples, context=None, signature_name="classification"):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = signature_name
    target = request.input.example_list_with_context if context is not None else request.input.example_list
    if context is not None:
        target.context.CopyFrom(context)
    for serialized in examples:
        target.examples.add().ParseFromString(serialized)
    return request


def test_classify_answers_per_class_labels_and_scores_like_predict(stub, examples):
    response, call = stub.Classify.with_call(classify_request(examples), timeout=30)
    assert dict(call.initial_metadata())["x-request-id"]
    predicted = stub.Predict(predict_request(examples), timeout=30)
    probabilities = tf.make_ndarray(predicted.outputs["probabilities"])
    assert response.model_spec.signature_name == "classification"
    assert len(response.result.classifications) == len(ROWS)
    for classification, row in zip(response.result.classifications, probabilities):
        assert [c.label for c in classification.classes] == ["Adelie", "Chinstrap", "Gentoo"]
        np.testing.assert_allclose([c.score for c in classification.classes], row, atol=1e-6)


def test_classify_with_a_context_equals_the_merged_examples(stub, server):
    features = server.models.current.raw_features
    shared = {k: v for k, v in ROWS[0].items() if k != "sex"}
    context = features.to_example(shared)
    partial = [example_pb2.Example(), example_pb2.Example()]
    partial[0].features.feature["sex"].bytes_list.value.append(b"female")
    partial[1].features.feature["island"].bytes_list.value.append(b"Biscoe")
    merged = features.serialize([{**shared, "sex": "female"}, {**shared, "island": "Biscoe"}])
    with_context = stub.Classify(classify_request([e.SerializeToString() for e in partial], context), timeout=30)
    alone = stub.Classify(classify_request(merged), timeout=30)
    assert with_context.result == alone.result


@pytest.mark.parametrize("request_of, fragment", [
    (lambda examples: classify_request(examples, signature_name=""), "Was: tensorflow/serving/predict"),
    (lambda examples: classification_pb2.ClassificationRequest(model_spec={"name": MODEL,
                                                                           "signature_name": "classification"}),
     "Input is empty"),
])
def test_classify_mistakes_are_invalid_argument(stub, examples, request_of, fragment):
    with pytest.raises(grpc.RpcError) as error:
        stub.Classify(request_of(examples), timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and fragment in error.value.details()


def test_regress_on_a_classifier_names_what_is_missing(stub, examples):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = "classification"
    for serialized in examples:
        request.input.example_list.examples.add().ParseFromString(serialized)
    with pytest.raises(grpc.RpcError) as error:
        stub.Regress(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "this model has no regression signature" in error.value.details()
