"""TF Serving's gRPC API, implemented on the generated `tensorflow_serving.apis` stubs.

PredictionService.Predict, Classify, Regress and GetModelMetadata, ModelService.GetModelStatus
(a ModelSpec may name a version or a `version_label` of the model config file): the official
Python client (`prediction_service_pb2_grpc.PredictionServiceStub`) works against this server
unchanged. MultiInference and HandleReloadConfigRequest answer UNIMPLEMENTED (the generated
base class does). Predict, Classify and Regress send the request's id as `x-request-id` in the
response's initial metadata.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from typing import Optional

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.contract import REQUEST_ID_HEADER
from serving.server import api_protos, classify_regress
from serving.server.core import ServingCore, request_id
from serving.server.errors import ServingError, invalid_argument

log = logging.getLogger(__name__)


def _version_of(model_spec) -> Optional[int]:
    return model_spec.version.value if model_spec.HasField("version") else None


def _to_array(key: str, proto, max_elements: int) -> np.ndarray:
    """TensorProto -> ndarray. A proto may declare a large shape with one value that numpy
    would repeat to fill it: such a shape is refused before any memory is taken."""
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise invalid_argument(f"Malformed input TensorProto '{key}': negative dimension in shape {dims}")
    if int(np.prod(dims, dtype=object)) > max_elements:
        raise invalid_argument(f"Input '{key}' declares shape {dims}, more than {max_elements} elements "
                               f"(server flag --max_request_bytes)")
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError) as e:
        raise invalid_argument(f"Malformed input TensorProto '{key}': {e}") from None


def _send_request_id(context) -> str:
    """The caller's x-request-id (or a new one), sent back before the answer."""
    rid = request_id(dict(context.invocation_metadata()).get(REQUEST_ID_HEADER))
    context.send_initial_metadata(((REQUEST_ID_HEADER, rid),))
    return rid


def _serialized_examples(inputs) -> list:
    """An Input's examples, each merged over the context if there is one: a feature of the
    example wins over the context's, as with TF Serving (which parses context + example bytes)."""
    kind = inputs.WhichOneof("kind")
    if kind == "example_list":
        return [e.SerializeToString() for e in inputs.example_list.examples]
    if kind == "example_list_with_context":
        listed = inputs.example_list_with_context
        merged = []
        for example in listed.examples:
            one = example_pb2.Example()
            one.CopyFrom(listed.context)
            for name, feature in example.features.feature.items():
                one.features.feature[name].CopyFrom(feature)
            merged.append(one.SerializeToString())
        return merged
    raise invalid_argument("Input is empty: set input.example_list or input.example_list_with_context")


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, core: ServingCore, max_elements: int):
        self.core = core
        self.max_elements = max_elements

    def Predict(self, request, context):  # noqa: N802 - generated API name
        started = time.perf_counter()
        rid = _send_request_id(context)
        try:
            with self.core.track(model=request.model_spec.name, api="predict", entrypoint="grpc",
                                 request_id=rid) as scope:
                servable = self.core.resolve(scope, _version_of(request.model_spec),
                                             request.model_spec.signature_name, request.model_spec.version_label)
                inputs = {key: _to_array(key, proto, self.max_elements) for key, proto in request.inputs.items()}
                outputs = self.core.predict(scope, servable, inputs, output_filter=list(request.output_filter),
                                            started=started)
                response = predict_pb2.PredictResponse()
                response.model_spec.name = servable.name
                response.model_spec.version.value = servable.version
                response.model_spec.signature_name = scope.signature
                for key, value in outputs.items():
                    response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
                return response
        except ServingError as e:
            context.abort(e.grpc_code, e.message)

    def Classify(self, request, context):  # noqa: N802 - generated API name
        return self._classify_regress(classify_regress.CLASSIFY, request, context)

    def Regress(self, request, context):  # noqa: N802 - generated API name
        return self._classify_regress(classify_regress.REGRESS, request, context)

    def _classify_regress(self, api: str, request, context):
        started = time.perf_counter()
        rid = _send_request_id(context)
        try:
            with self.core.track(model=request.model_spec.name, api=api, entrypoint="grpc", request_id=rid) as scope:
                spec = request.model_spec
                servable = self.core.resolve(scope, _version_of(spec), spec.signature_name, spec.version_label)
                classify_regress.check_signature(servable, spec.signature_name, api)
                outputs = self.core.predict(scope, servable, classify_regress.inputs(
                    _serialized_examples(request.input)), started=started)
                if api == classify_regress.CLASSIFY:
                    response = classification_pb2.ClassificationResponse()
                    for classes in classify_regress.classifications(outputs):
                        classification = response.result.classifications.add()
                        for label, score in classes:
                            entry = classification.classes.add()
                            if label is not None:
                                entry.label = label
                            if score is not None:
                                entry.score = score
                else:
                    response = regression_pb2.RegressionResponse()
                    for value in classify_regress.regressions(outputs):
                        response.result.regressions.add().value = value
                response.model_spec.name = servable.name
                response.model_spec.version.value = servable.version
                response.model_spec.signature_name = scope.signature
                return response
        except ServingError as e:
            context.abort(e.grpc_code, e.message)

    def GetModelMetadata(self, request, context):  # noqa: N802 - generated API name
        try:
            with self.core.track(model=request.model_spec.name, api="metadata", entrypoint="grpc") as scope:
                servable = self.core.resolve(scope, _version_of(request.model_spec),
                                             label=request.model_spec.version_label)
                return api_protos.metadata_response(servable, list(request.metadata_field))
        except ServingError as e:
            context.abort(e.grpc_code, e.message)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, core: ServingCore):
        self.core = core

    def GetModelStatus(self, request, context):  # noqa: N802 - generated API name
        try:
            with self.core.track(model=request.model_spec.name, api="status", entrypoint="grpc"):
                spec = request.model_spec
                states = self.core.models.states(spec.name, _version_of(spec), spec.version_label)
                return api_protos.status_response(states)
        except ServingError as e:
            context.abort(e.grpc_code, e.message)


class GrpcServer:
    def __init__(self, core: ServingCore, host: str, port: int, max_request_bytes: int, workers: int = 16):
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
            options=[("grpc.max_receive_message_length", max_request_bytes),
                     ("grpc.max_send_message_length", -1),
                     ("grpc.so_reuseport", 0)])
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(core, max_request_bytes), self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(core), self._server)
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"could not bind the gRPC server to {host}:{port}")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float) -> threading.Event:
        """Refuses new calls at once; calls in flight have `grace` seconds. Set when done."""
        return self._server.stop(grace)
