"""The training split's values, read back from the tf.Examples ExampleGen wrote.

The drift tests compare a window with the data a version was trained on, not with its
histogram. ExampleGen keeps that data as gzipped TFRecord files of tf.Examples under
`<examples uri>/Split-train/`; they are parsed in batches by TensorFlow (a million rows in
seconds), only the features the model is served with.
"""
from __future__ import annotations

import glob
import os
from typing import Dict, List, Mapping

from tensorflow_metadata.proto.v0 import schema_pb2

from monitoring.feature_columns import FeatureColumn, columns_from_value_lists
from runs.lineage import TRAIN_SPLIT

_BATCH = 8192


class TrainingDataError(LookupError):
    """The training split's files are gone or unreadable."""


def split_files(examples_uri: str, split: str = TRAIN_SPLIT) -> List[str]:
    files = sorted(f for f in glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")) if os.path.isfile(f))
    if not files:
        raise TrainingDataError(f"no files of the '{split}' split under {examples_uri}")
    return files


def read_examples(files: List[str], schema_types: Mapping[str, int]) -> Dict[str, FeatureColumn]:
    """TFRecord files of tf.Examples (gzipped if named *.gz) -> one column per feature."""
    import tensorflow as tf

    dtypes = {schema_pb2.BYTES: tf.string, schema_pb2.INT: tf.int64, schema_pb2.FLOAT: tf.float32}
    spec = {name: tf.io.RaggedFeature(dtypes[t]) for name, t in schema_types.items()}
    compression = "GZIP" if all(f.endswith(".gz") for f in files) else ""
    value_lists: Dict[str, list] = {name: [] for name in schema_types}
    dataset = tf.data.TFRecordDataset(files, compression_type=compression).batch(_BATCH)
    try:
        for batch in dataset.map(lambda records: tf.io.parse_example(records, spec)):
            for name in schema_types:
                value_lists[name].extend(batch[name].to_list())
    except tf.errors.OpError as e:
        raise TrainingDataError(f"cannot read the training examples {files[0]}...: {e.message}") from None
    return columns_from_value_lists(value_lists, schema_types)


def training_columns(examples_uri: str, schema_types: Mapping[str, int]) -> Dict[str, FeatureColumn]:
    return read_examples(split_files(examples_uri), schema_types)
