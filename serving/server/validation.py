"""Inputs that cannot give a trustworthy answer are refused before the model runs,
and outputs that are not numbers are never returned as an answer.

TF Serving hands a wrong-rank tensor or bytes that are not a tf.Example straight to
TensorFlow, whose error ("Graph execution error:") names neither the input nor the fix;
and a NaN fed to the model comes back as a confident class. The same checks run here
for REST, gRPC and the raw-feature form, because all three arrive as the same arrays.
"""
from __future__ import annotations

from typing import List, Mapping, Optional

import numpy as np
from tensorflow.core.framework import tensor_shape_pb2

from serving.raw_features import NON_FINITE_HINT, FeatureError, RawFeatures
from serving.server.errors import invalid_argument


def dims(shape: tensor_shape_pb2.TensorShapeProto) -> Optional[List[int]]:
    """A SignatureDef input's shape as a list (-1: any size); None for an unknown rank."""
    return None if shape.unknown_rank else [d.size for d in shape.dim]


def check_dims(name: str, value: np.ndarray, expected: Optional[List[int]], examples: bool) -> None:
    """The rank and every fixed dimension must match the SignatureDef's (`dims`, worked out once
    per signature; -1 matches any size)."""
    if expected is None:
        return
    got = value.shape
    if len(got) == len(expected) and all(e in (-1, g) for e, g in zip(expected, got)):
        return
    got = list(got)
    if examples:
        raise invalid_argument(f"{name} must be a vector of serialized tf.Example strings, got shape {got}")
    raise invalid_argument(f"input '{name}' must have shape {expected} (-1: any size), got shape {got}")


def check_input_values(name: str, value: np.ndarray, raw_features: RawFeatures, examples: bool) -> None:
    """Non-finite floats, in a float tensor or inside serialized tf.Examples, are refused."""
    if examples:
        try:
            raw_features.check_serialized(value.reshape(-1))
        except FeatureError as e:
            raise invalid_argument(f"{name}: {e}") from None
    elif value.dtype.kind == "f" and not np.isfinite(value).all():
        bad = value.reshape(-1)[~np.isfinite(value.reshape(-1))][0]
        raise invalid_argument(f"input '{name}' holds {bad}; {NON_FINITE_HINT}")


def check_outputs(outputs: Mapping[str, np.ndarray]) -> None:
    """A NaN or infinite score is never returned (a class derived from it would look confident)."""
    for key, value in outputs.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            row = int(np.argwhere(~np.isfinite(value))[0][0]) if value.ndim else 0
            raise invalid_argument(
                f"the model's output '{key}' is not finite for instance {row}, so no prediction is returned; "
                f"check that instance's inputs for extreme values")

