"""A tiny raw dataset and its tf.Transform output, shared by the model tests."""
import os
import tempfile

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import schema_utils

from models import features
from models.model import build_keras_model
from models.preprocessing import preprocessing_fn
from models.training import vocab_sizes
from tests.conftest import PENGUINS

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
CUSTOM_CONFIG = {"label": "species", "ignore_columns": ["year"], "task": "classification", "classes": CLASSES}
RAW_ROWS = [
    {"species": "Adelie", "island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
     "flipper_length_mm": 181, "body_mass_g": 3750, "sex": "male", "year": 2007},
    {"species": "Adelie", "island": "Dream", "bill_length_mm": None, "bill_depth_mm": 17.4,
     "flipper_length_mm": 186, "body_mass_g": 3800, "sex": None, "year": 2007},
    {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 46.1, "bill_depth_mm": 13.2,
     "flipper_length_mm": 211, "body_mass_g": 4500, "sex": "female", "year": 2008},
    {"species": "Chinstrap", "island": "Dream", "bill_length_mm": 50.0, "bill_depth_mm": 19.5,
     "flipper_length_mm": 196, "body_mass_g": 3900, "sex": "male", "year": 2009},
    {"species": "Gentoo", "island": "Biscoe", "bill_length_mm": 50.5, "bill_depth_mm": 15.9,
     "flipper_length_mm": 225, "body_mass_g": 5400, "sex": "male", "year": 2009},
]


def schema():
    return features.load_schema(os.path.join(PENGUINS, "schema.pbtxt"))


def fresh_model(tf_transform_output):
    """An untrained classifier of the tiny dataset's species, as run_fn builds one."""
    config_features = features.from_custom_config(schema(), CUSTOM_CONFIG)
    return build_keras_model(config_features, vocab_sizes(config_features, tf_transform_output), len(CLASSES))


def raw_feature_spec():
    return schema_utils.schema_as_feature_spec(schema()).feature_spec


def to_example(row, include_label=True) -> bytes:
    feature = {}
    for name, value in row.items():
        if value is None or (name == "species" and not include_label):
            continue
        if isinstance(value, str):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, float):
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        else:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def analyze_and_transform(output_dir: str, custom_config=None, raw_rows=None):
    """Analyzes raw_rows (default RAW_ROWS) with preprocessing_fn and writes the transform graph to output_dir.

    Returns (transformed rows, TFTransformOutput); the rows come from applying the
    written graph, the same one the exported model embeds.
    """
    raw_rows = raw_rows or RAW_ROWS
    metadata = tft.DatasetMetadata.from_feature_spec(raw_feature_spec())
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=output_dir)):
        decoded = pipeline | beam.Create([
            {k: [] if v is None else [v.encode() if isinstance(v, str) else v] for k, v in row.items()}
            for row in raw_rows])
        transform_fn = (decoded, metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing_fn(inputs, custom_config or CUSTOM_CONFIG))
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
        _ = metadata | tft_beam.WriteMetadata(
            os.path.join(output_dir, tft.TFTransformOutput.RAW_METADATA_DIR), pipeline)
    output = tft.TFTransformOutput(output_dir)
    parsed = tf.io.parse_example(tf.constant([to_example(r) for r in raw_rows]), raw_feature_spec())
    transformed = output.transform_raw_features(parsed, drop_unused_features=True)
    rows = [{k: v.numpy()[i] for k, v in transformed.items()} for i in range(len(raw_rows))]
    return rows, output
