"""TF Serving's gRPC API, implemented on the generated `tensorflow_serving.apis` stubs.

PredictionService.Predict and GetModelMetadata, ModelService.GetModelStatus: the
official Python client (`prediction_service_pb2_grpc.PredictionServiceStub`) works
against this server unchanged. Classify, Regress, MultiInference and
HandleReloadConfigRequest answer UNIMPLEMENTED (the generated base class does).
Predict sends the request's id as `x-request-id` in the response's initial metadata.
"""
from __future__ import annotations

import logging
import time
from concurrent import futures
from typing import Optional

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.contract import REQUEST_ID_HEADER
from serving.server import api_protos
from serving.server.core import ServingCore, request_id
from serving.server.errors import ServingError, invalid_argument

log = logging.getLogger(__name__)


def _version_of(model_spec) -> Optional[int]:
    if model_spec.HasField("version"):
        return model_spec.version.value
    if model_spec.version_label:
        raise ServingError("UNIMPLEMENTED", "Version labels are not supported by this server; use a version number")
    return None


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, core: ServingCore):
        self.core = core

    def Predict(self, request, context):  # noqa: N802 - generated API name
        started = time.perf_counter()
        rid = request_id(dict(context.invocation_metadata()).get(REQUEST_ID_HEADER))
        context.send_initial_metadata(((REQUEST_ID_HEADER, rid),))
        try:
            with self.core.track(model=request.model_spec.name, api="predict", entrypoint="grpc",
                                 request_id=rid) as scope:
                servable = self.core.resolve(scope, _version_of(request.model_spec),
                                             request.model_spec.signature_name)
                try:
                    inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
                except (TypeError, ValueError) as e:
                    raise invalid_argument(f"Malformed input TensorProto: {e}") from None
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

    def GetModelMetadata(self, request, context):  # noqa: N802 - generated API name
        try:
            with self.core.track(model=request.model_spec.name, api="metadata", entrypoint="grpc") as scope:
                servable = self.core.resolve(scope, _version_of(request.model_spec))
                return api_protos.metadata_response(servable, list(request.metadata_field))
        except ServingError as e:
            context.abort(e.grpc_code, e.message)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, core: ServingCore):
        self.core = core

    def GetModelStatus(self, request, context):  # noqa: N802 - generated API name
        try:
            with self.core.track(model=request.model_spec.name, api="status", entrypoint="grpc"):
                states = self.core.models.states(request.model_spec.name, _version_of(request.model_spec))
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
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(core), self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(core), self._server)
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"could not bind the gRPC server to {host}:{port}")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 5.0) -> None:
        self._server.stop(grace).wait()
