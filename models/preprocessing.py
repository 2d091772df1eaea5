"""`preprocessing_fn` for Transform: impute, scale, build vocabularies, encode the label.

The feature kinds come from the input tensors' dtypes, which Transform derives from the
schema, and from the dataset config (label, ignored columns, integer columns that are
categories, the task and its classes). The same graph runs at training time and,
inside the exported model, at serving.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Sequence

import tensorflow as tf
import tensorflow_transform as tft

from models.features import REGRESSION, transformed_name

# tf.Transform leaves empty strings out of vocabularies: a missing category lands
# in the out-of-vocabulary bucket, which the model learns like any other value.
MISSING_CATEGORY = ""
# Categories beyond the most frequent ones share the out-of-vocabulary bucket with
# values never seen in training, so a high-cardinality column stays small and any
# value is served.
MAX_VOCABULARY = 1000


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


def _finite(x) -> tf.SparseTensor:
    """Only the finite values: NaN and infinity (where a schema lets them in) count as missing."""
    if isinstance(x, tf.SparseTensor):
        return tf.sparse.retain(x, tf.math.is_finite(x.values))
    indices = tf.where(tf.math.is_finite(x))
    return tf.SparseTensor(indices, tf.gather_nd(x, indices), tf.shape(x, out_type=tf.int64))


def _text(x):
    """Categories as strings: integer codes and numeric labels the way TensorFlow prints them (1.0 -> '1')."""
    def convert(values):
        if values.dtype == tf.string:
            return values
        return tf.strings.as_string(values, shortest=True) if values.dtype.is_floating else tf.strings.as_string(values)

    if isinstance(x, tf.SparseTensor):
        return tf.SparseTensor(x.indices, convert(x.values), x.dense_shape)
    return convert(x)


def encode_label(tensor, task: str, classes: Sequence[str]) -> tf.Tensor:
    """Regression: the number. Classification: the index of the class in `classes` (-1 if missing)."""
    if task == REGRESSION:
        return _dense(_as_float(tensor), float("nan"))
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(list(classes)), tf.range(len(classes), dtype=tf.int64)),
        default_value=-1)
    return table.lookup(_dense(_text(tensor), MISSING_CATEGORY))


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Dict[str, Any]) -> Dict[str, tf.Tensor]:
    label = custom_config["label"]
    ignored = set(custom_config.get("ignore_columns", ()))
    categorical = set(custom_config.get("categorical", ()))
    outputs = {}
    for name, tensor in inputs.items():
        if name in ignored:
            continue
        if name == label:
            outputs[name] = encode_label(tensor, custom_config["task"], custom_config.get("classes", ()))
        elif tensor.dtype == tf.string or name in categorical:
            outputs[transformed_name(name)] = tft.compute_and_apply_vocabulary(
                _dense(_text(tensor), MISSING_CATEGORY), top_k=MAX_VOCABULARY, num_oov_buckets=1,
                vocab_filename=vocabulary_name(name))
        else:
            values = _finite(_as_float(tensor))
            outputs[transformed_name(name)] = tft.scale_to_z_score(_dense(values, tft.mean(values)))
    return outputs
