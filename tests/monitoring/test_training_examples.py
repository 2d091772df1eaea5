"""The training split read back from ExampleGen's gzipped TFRecords of tf.Examples."""
import os

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

from monitoring.training_examples import TrainingDataError, read_examples, training_columns
from serving.raw_features import RawFeatures  # to write the examples the monitor reads
from tests.conftest import PENGUINS


def write_split(folder, rows, features):
    os.makedirs(folder)
    with tf.io.TFRecordWriter(os.path.join(folder, "data_tfrecord-00000-of-00001.gz"), "GZIP") as writer:
        for data in features.serialize(rows):
            writer.write(data)


def test_the_train_split_is_read_as_columns(tmp_path):
    features = RawFeatures.from_file(os.path.join(PENGUINS, "schema.pbtxt"))
    rows = features.read_csv(os.path.join(PENGUINS, "penguins.csv"))
    write_split(str(tmp_path / "Split-train"), rows, features)
    write_split(str(tmp_path / "Split-eval"), rows[:5], features)
    types = {name: spec.type for name, spec in features.specs.items()}
    columns = training_columns(str(tmp_path), types)
    assert set(columns) == set(types)
    assert all(column.rows == len(rows) for column in columns.values())
    assert columns["sex"].missing == sum(r["sex"] is None for r in rows)
    assert sorted(set(columns["island"].values)) == ["Biscoe", "Dream", "Torgersen"]
    assert columns["bill_length_mm"].values[0] == pytest.approx(39.1, abs=1e-5)


def test_a_missing_or_corrupt_split_is_one_error(tmp_path):
    with pytest.raises(TrainingDataError, match="no files of the 'train' split"):
        training_columns(str(tmp_path), {"x": schema_pb2.FLOAT})
    bad = tmp_path / "Split-train" / "data.gz"
    bad.parent.mkdir()
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(TrainingDataError, match="cannot read the training examples"):
        read_examples([str(bad)], {"x": schema_pb2.FLOAT})
