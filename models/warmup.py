"""Warm-up requests shipped with the model: a few real rows, in TF Serving's own format.

TF Serving (`--enable_model_warmup`) replays `assets.extra/tf_serving_warmup_requests`,
a TFRecord file of `PredictionLog` records, before a version takes traffic, so the first
client does not pay for graph tracing and table initialisation. The Trainer only sees
transformed examples, so the raw rows are read back from them: vocabulary ids through the
vocabularies, z-scores through the scale the transform graph applies (missing numbers were
imputed with the mean and come back as it). Every value is written in the type the schema
gives its feature (the raw feature spec), whatever the vocabulary holds: a category coded as
floats (1.0, 2.0, as pandas writes integers with gaps) has a vocabulary of strings ("1") yet
must go back as a float, or the model's parser refuses the record and the version never loads.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from models import features as features_lib
from models.preprocessing import vocabulary_name

WARMUP_FILE = "tf_serving_warmup_requests"
WARMUP_ROWS = 4


def write_warmup_requests(extra_assets_dir: str, transformed_files: Sequence[str],
                          tf_transform_output: tft.TFTransformOutput, features: features_lib.Features,
                          signature_name: str, input_name: str, rows: int = WARMUP_ROWS) -> Optional[str]:
    """Writes one single-row Predict request per row and one with all of them; returns the path
    (None when there are no rows to take them from: TF Serving then loads without warm-up)."""
    examples = raw_examples(transformed_files, tf_transform_output, features, rows)
    if not examples:
        return None
    path = os.path.join(extra_assets_dir, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for batch in [[e] for e in examples] + [examples]:
            request = predict_pb2.PredictRequest()
            request.model_spec.signature_name = signature_name
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def raw_examples(transformed_files: Sequence[str], tf_transform_output: tft.TFTransformOutput,
                 features: features_lib.Features, rows: int) -> List[bytes]:
    """The first `rows` transformed examples turned back into serialized raw tf.Examples (no label)."""
    files = sorted(f for pattern in transformed_files for f in tf.io.gfile.glob(pattern))
    first = list(tf.data.TFRecordDataset(files, compression_type="GZIP").batch(rows).take(1))
    if not first:
        return []
    serialized = first[0]
    transformed = tf.io.parse_example(serialized, tf_transform_output.transformed_feature_spec())
    raw_spec = tf_transform_output.raw_feature_spec()
    mean, std = _numeric_scale(tf_transform_output, features, raw_spec)
    columns: Dict[str, list] = {}
    for name in features.numeric:
        values = transformed[features_lib.transformed_name(name)].numpy().astype(np.float64) * std[name] + mean[name]
        columns[name] = [round(float(v)) if raw_spec[name].dtype.is_integer else float(v) for v in values]
    for name in features.categorical:
        vocabulary = [_raw_value(v, raw_spec[name].dtype)
                      for v in tf_transform_output.vocabulary_by_name(vocabulary_name(name))]
        ids = transformed[features_lib.transformed_name(name)].numpy()
        columns[name] = [vocabulary[i] if 0 <= i < len(vocabulary) else None for i in ids]  # out of vocabulary: missing
    count = int(serialized.shape[0])
    return [_example({name: values[i] for name, values in columns.items()}, raw_spec) for i in range(count)]


def _raw_value(vocabulary_value, dtype: tf.dtypes.DType):
    """A vocabulary entry in its column's schema type: the vocabulary of a numeric category holds
    the numbers as preprocessing printed them ("3", "1.5"), which go back as int64 or float."""
    text = vocabulary_value.decode() if isinstance(vocabulary_value, bytes) else vocabulary_value
    if dtype.is_integer:
        return int(text)
    return float(text) if dtype.is_floating else text


PROBE = 2 ** 40  # far beyond any mean: probing at 0 and 1 loses the slope of a column such as a
# Unix timestamp (1.4e9), where float32 cannot tell x - mean at 0 from at 1.


def _numeric_scale(tf_transform_output: tft.TFTransformOutput, features: features_lib.Features, raw_spec):
    """(mean, std) per numeric feature, read off the transform graph at raw values 0 and PROBE."""
    probes = [_example({name: b"" if spec.dtype == tf.string else value for name, spec in raw_spec.items()}, raw_spec)
              for value in (0, PROBE)]
    # The layer, not transform_raw_features: it also runs a TF1-exported graph eagerly.
    z = tf_transform_output.transform_features_layer()(tf.io.parse_example(tf.constant(probes), raw_spec))
    mean, std = {}, {}
    for name in features.numeric:
        z0, z1 = (float(v) for v in z[features_lib.transformed_name(name)].numpy())
        std[name] = PROBE / (z1 - z0)
        mean[name] = -z0 * std[name]
    return mean, std


def _example(row: Dict[str, object], raw_spec) -> bytes:
    """A serialized tf.Example whose lists take each feature's type from the raw feature spec."""
    feature = {}
    for name, value in row.items():
        if value is None:
            continue
        dtype = raw_spec[name].dtype
        if dtype == tf.string:
            data = value if isinstance(value, bytes) else str(value).encode()
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
        elif dtype.is_integer:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
