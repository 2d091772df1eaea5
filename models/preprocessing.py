"""`preprocessing_fn` for Transform: impute, scale, and build vocabularies.

The feature kinds come from the input tensors' dtypes, which Transform derives
from the schema; the label and ignored columns come from the dataset config.
The same graph runs at training time and, inside the exported model, at serving.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

import tensorflow as tf
import tensorflow_transform as tft

from models.features import transformed_name

LABEL_VOCABULARY = "label"
# tf.Transform leaves empty strings out of vocabularies: a missing category lands
# in the out-of-vocabulary bucket, which the model learns like any other value.
MISSING_CATEGORY = ""


def vocabulary_name(feature: str) -> str:
    return f"{feature}_vocab"


def _dense(x, default) -> tf.Tensor:
    """A [batch] tensor from a dense [batch, 1] or sparse (optional) feature, missing -> default."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default_value=default)
    return tf.reshape(x, [-1])


def _as_float(x):
    if isinstance(x, tf.SparseTensor):
        return tf.SparseTensor(x.indices, tf.cast(x.values, tf.float32), x.dense_shape)
    return tf.cast(x, tf.float32)


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Dict[str, Any]) -> Dict[str, tf.Tensor]:
    label = custom_config["label"]
    ignored = set(custom_config.get("ignore_columns", ()))
    outputs = {}
    for name, tensor in inputs.items():
        if name in ignored:
            continue
        if name == label:
            outputs[name] = tft.compute_and_apply_vocabulary(
                _dense(tensor, MISSING_CATEGORY), vocab_filename=LABEL_VOCABULARY)
        elif tensor.dtype == tf.string:
            outputs[transformed_name(name)] = tft.compute_and_apply_vocabulary(
                _dense(tensor, MISSING_CATEGORY), num_oov_buckets=1, vocab_filename=vocabulary_name(name))
        else:
            values = _as_float(tensor)
            mean = tft.mean(values)
            outputs[transformed_name(name)] = tft.scale_to_z_score(_dense(values, mean))
    return outputs
