"""One loaded model version: its signatures, their SignatureDefs, and a checked call.

TF Serving validates a Predict request against the SignatureDef before running it
(input names, dtypes, output filter); doing the same here turns client mistakes into
INVALID_ARGUMENT instead of a TensorFlow stack trace.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from serving import contract
from serving.contract import SAVED_MODEL_FILE, SERVING_SIGNATURE
from serving.raw_features import RawFeatures
from serving.server import validation, warmup
from serving.server.errors import ServingError, invalid_argument


_STRING = tf.string.as_datatype_enum


@dataclass(frozen=True)
class SignatureInfo:
    """What every request's check reads of a SignatureDef, worked out once per version:
    reading the proto per request cost more than the check itself."""

    inputs: Dict[str, meta_graph_pb2.TensorInfo]
    dims: Dict[str, Optional[List[int]]]
    outputs: FrozenSet[str]
    takes_examples: bool  # the only input is a string tensor (serialized tf.Examples)

    @classmethod
    def of(cls, signature: meta_graph_pb2.SignatureDef) -> "SignatureInfo":
        inputs = dict(signature.inputs)
        return cls(inputs, {k: validation.dims(v.tensor_shape) for k, v in inputs.items()},
                   frozenset(signature.outputs),
                   len(inputs) == 1 and next(iter(inputs.values())).dtype == _STRING)


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
        self.raw_features = RawFeatures.from_file(contract.schema_path(path))
        self._infos = {name: SignatureInfo.of(d) for name, d in self.signature_defs.items() if name in self._functions}

    def signature_def(self, signature_name: str) -> meta_graph_pb2.SignatureDef:
        name = signature_name or SERVING_SIGNATURE
        if name not in self._infos:
            raise invalid_argument(f'Serving signature name: "{name}" not found in signature def')
        return self.signature_defs[name]

    def info(self, signature_name: str) -> SignatureInfo:
        """The signature's cached SignatureInfo; INVALID_ARGUMENT for an unknown name."""
        info = self._infos.get(signature_name or SERVING_SIGNATURE)
        if info is None:
            self.signature_def(signature_name)  # raises
        return info

    def signatures_with_method(self, *methods: str) -> List[str]:
        """Names of the callable signatures whose SignatureDef has one of these method names."""
        return sorted(name for name, d in self.signature_defs.items()
                      if d.method_name in methods and name in self._functions)

    def takes_examples(self, signature_name: str) -> bool:
        """True when the signature's only input is a string tensor (serialized tf.Examples)."""
        return self.info(signature_name).takes_examples

    def prepare(self, signature_name: str, inputs: Mapping[str, np.ndarray], output_filter: Iterable[str] = ()
                ) -> Tuple[str, Dict[str, "tf.Tensor | np.ndarray"], List[str]]:
        """Checks a request against the signature: (signature name, inputs for `call`, outputs wanted).
        Raises ServingError for inputs that do not fit it."""
        name = signature_name or SERVING_SIGNATURE
        info = self.info(name)
        expected = info.inputs.keys()
        if expected != inputs.keys():
            sent = set(inputs)
            raise invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
                f"Missing but required: {{{','.join(sorted(expected - sent))}}}.")
        wanted = list(output_filter)
        unknown = [o for o in wanted if o not in info.outputs]
        if unknown:
            raise invalid_argument(f"output tensor alias not found in signature: {unknown[0]} "
                                   f"Outputs expected to be in the set {{{','.join(sorted(info.outputs))}}}.")
        examples = info.takes_examples
        for key, value in inputs.items():
            validation.check_dims(key, value, info.dims[key], examples)
        if examples:  # checked to be bytes, kept as numpy: a batch converts to a tensor once, not per request
            key, value = next(iter(inputs.items()))
            if value.dtype.kind not in "OSU":
                raise invalid_argument(f"Expects arg '{key}' to be string but {value.dtype} is provided")
            validation.check_input_values(key, value, self.raw_features, examples)
            return name, {key: value if value.dtype == object else np.asarray(value, dtype=object)}, wanted
        tensors = {key: self._to_tensor(key, value, info.inputs[key].dtype) for key, value in inputs.items()}
        for key, value in inputs.items():
            validation.check_input_values(key, value, self.raw_features, examples)
        return name, tensors, wanted

    def call(self, name: str, tensors: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        """One TensorFlow call of a prepared request (or of a batch of them)."""
        try:
            return dict(self._functions[name](**tensors))
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
            raise invalid_argument(_tf_message(e)) from None
        except UnicodeDecodeError:  # TensorFlow quoting undecodable input bytes in its message
            raise invalid_argument("an input could not be parsed (its bytes are not what the signature takes)") from None
        except tf.errors.OpError as e:
            raise ServingError("INTERNAL", _tf_message(e)) from None

    @staticmethod
    def finish(outputs: Mapping[str, "tf.Tensor | np.ndarray"], wanted: Sequence[str]) -> Dict[str, np.ndarray]:
        """The outputs asked for, as numpy; never a non-finite score."""
        arrays = {key: value if isinstance(value, np.ndarray) else value.numpy()
                  for key, value in outputs.items() if not wanted or key in wanted}
        validation.check_outputs(arrays)
        return arrays

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray],
            output_filter: Iterable[str] = ()) -> Dict[str, np.ndarray]:
        """prepare + call + finish, unbatched."""
        name, tensors, wanted = self.prepare(signature_name, inputs, output_filter)
        return self.finish(self.call(name, tensors), wanted)

    def warm_up(self) -> None:
        """Replays the version's warm-up records, then runs the default signature once on a
        schema-made example and checks it answers one row per example.

        The first calls pay the tracing and table-initialisation cost, so they are paid
        here rather than by a client; and a version that cannot predict fails here,
        before the server switches to it.
        """
        for number, request in enumerate(warmup.read_requests(self.path), start=1):
            inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
            try:
                self.run(request.model_spec.signature_name, inputs, request.output_filter)
            except ServingError as e:
                raise ValueError(f"warm-up record {number} failed: {e.message}") from None
        signature = self.signature_def(SERVING_SIGNATURE)
        if not self.takes_examples(SERVING_SIGNATURE):
            return
        batch = [self.raw_features.to_example(self.raw_features.sample_row()).SerializeToString()]
        outputs = self.run(SERVING_SIGNATURE, {next(iter(signature.inputs)): np.array(batch, dtype=object)})
        for name in self.signatures_with_method(contract.CLASSIFY_METHOD, contract.REGRESS_METHOD):
            if set(self.signature_defs[name].inputs) == {contract.API_INPUT}:  # their first call here too
                outputs.update({f"{name}/{k}": v for k, v in self.run(
                    name, {contract.API_INPUT: np.array(batch, dtype=object)}).items()})
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


_TF_NOISE = ("Graph execution error", "Detected at node", "<stack traces unavailable>", "[[", "[Op:")


def _tf_message(error: Exception) -> str:
    """The line of a TensorFlow error that says what is wrong, not "Graph execution error:"."""
    message = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(_TF_NOISE)]
    return (useful or lines or [type(error).__name__])[0]
