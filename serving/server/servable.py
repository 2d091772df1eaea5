"""One loaded model version: its signatures, their SignatureDefs, and a checked call.

TF Serving validates a Predict request against the SignatureDef before running it
(input names, dtypes, output filter); doing the same here turns client mistakes into
INVALID_ARGUMENT instead of a TensorFlow stack trace.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, Mapping, Optional

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from serving import contract
from serving.contract import SAVED_MODEL_FILE, SERVING_SIGNATURE
from serving.raw_features import RawFeatures
from serving.server.errors import ServingError, invalid_argument


def read_signature_defs(version_dir: str) -> Dict[str, meta_graph_pb2.SignatureDef]:
    """SignatureDefs of the 'serve' MetaGraph, read from saved_model.pb like TF Serving does."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(version_dir, SAVED_MODEL_FILE), "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        if contract.SERVE_TAG in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ValueError(f"{version_dir}: no MetaGraph tagged '{contract.SERVE_TAG}'")


class Servable:
    """A model version loaded in this process, ready to serve."""

    def __init__(self, name: str, version: int, path: str):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = read_signature_defs(path)
        self._loaded = tf.saved_model.load(path, tags=[contract.SERVE_TAG])
        self._functions = dict(self._loaded.signatures)
        schema_path = contract.schema_path(path)
        self.raw_features: Optional[RawFeatures] = (
            RawFeatures.from_file(schema_path) if os.path.exists(schema_path) else None)

    def signature_def(self, signature_name: str) -> meta_graph_pb2.SignatureDef:
        name = signature_name or SERVING_SIGNATURE
        if name not in self._functions or name not in self.signature_defs:
            raise invalid_argument(f'Serving signature name: "{name}" not found in signature def')
        return self.signature_defs[name]

    def takes_examples(self, signature_name: str) -> bool:
        """True when the signature's only input is a string tensor (serialized tf.Examples)."""
        inputs = self.signature_def(signature_name).inputs
        return len(inputs) == 1 and next(iter(inputs.values())).dtype == tf.string.as_datatype_enum

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray],
            output_filter: Iterable[str] = ()) -> Dict[str, np.ndarray]:
        """Calls the signature; raises ServingError for inputs that do not fit it."""
        name = signature_name or SERVING_SIGNATURE
        signature = self.signature_def(name)
        expected, sent = set(signature.inputs), set(inputs)
        if expected != sent:
            raise invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
                f"Missing but required: {{{','.join(sorted(expected - sent))}}}.")
        wanted = list(output_filter)
        unknown = [o for o in wanted if o not in signature.outputs]
        if unknown:
            raise invalid_argument(f"output tensor alias not found in signature: {unknown[0]} "
                                   f"Outputs expected to be in the set {{{','.join(sorted(signature.outputs))}}}.")
        tensors = {key: self._to_tensor(key, value, signature.inputs[key].dtype) for key, value in inputs.items()}
        try:
            outputs = self._functions[name](**tensors)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
            raise invalid_argument(_first_line(e)) from None
        except tf.errors.OpError as e:
            raise ServingError("INTERNAL", _first_line(e)) from None
        return {key: value.numpy() for key, value in outputs.items() if not wanted or key in wanted}

    def warm_up(self) -> None:
        """Runs the default signature once on a schema-made example.

        The first call pays the tracing and table-initialisation cost, so it is paid
        here rather than by a client; and a version that cannot predict fails here,
        before the server switches to it.
        """
        signature = self.signature_def(SERVING_SIGNATURE)
        if not self.takes_examples(SERVING_SIGNATURE):
            return
        batch = [self.raw_features.to_example(self.raw_features.sample_row()).SerializeToString()] \
            if self.raw_features else []
        outputs = self.run(SERVING_SIGNATURE, {next(iter(signature.inputs)): np.array(batch, dtype=object)})
        for key, value in outputs.items():
            if value.shape[:1] != (len(batch),):
                raise ValueError(f"output '{key}' has shape {value.shape} for a batch of {len(batch)}")

    @staticmethod
    def _to_tensor(key: str, value: np.ndarray, dtype_enum: int) -> tf.Tensor:
        dtype = tf.dtypes.as_dtype(dtype_enum)
        try:
            return tf.constant(value, dtype=dtype)
        except (TypeError, ValueError, tf.errors.InvalidArgumentError):
            got = getattr(value, "dtype", type(value).__name__)
            raise invalid_argument(
                f"Expects arg '{key}' to be {dtype.name} but {got} is provided") from None


def _first_line(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error)
    return message.strip().splitlines()[0] if message.strip() else type(error).__name__
