"""Warm-up requests: real rows read back from transformed examples, in TF Serving's PredictionLog format."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from models import export, features
from models.model import build_keras_model
from models.training import vocab_sizes
from models.warmup import WARMUP_FILE, write_warmup_requests
from tests.models.model_fixtures import CLASSES, CUSTOM_CONFIG, RAW_ROWS, analyze_and_transform, schema


def _transformed_file(rows, path):
    """The transformed rows as the Trainer gets them: GZIP TFRecords of tf.Examples."""
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for row in rows:
            feature = {}
            for name, value in row.items():
                if np.issubdtype(np.asarray(value).dtype, np.integer):
                    feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
                else:
                    feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return str(path)


def test_warmup_file_holds_the_real_rows_as_predict_requests(tiny_transform, tmp_path):
    rows, output = tiny_transform
    feats = features.from_custom_config(schema(), CUSTOM_CONFIG)
    path = write_warmup_requests(str(tmp_path), [_transformed_file(rows, tmp_path / "t.gz")], output, feats,
                                 "serving_default", "examples", rows=3)
    assert path == str(tmp_path / WARMUP_FILE)
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]
    batches = [tf.make_ndarray(log.predict_log.request.inputs["examples"]) for log in logs]
    assert [len(b) for b in batches] == [1, 1, 1, 3]
    assert all(log.predict_log.request.model_spec.signature_name == "serving_default" for log in logs)
    mean_bill = np.mean([r["bill_length_mm"] for r in RAW_ROWS if r["bill_length_mm"] is not None])
    for serialized, raw in zip(batches[-1], RAW_ROWS):
        got = tf.train.Example.FromString(serialized).features.feature
        assert "species" not in got and "year" not in got  # no label, no ignored column
        assert got["island"].bytes_list.value == [raw["island"].encode()]
        assert list(got["sex"].bytes_list.value) == ([raw["sex"].encode()] if raw["sex"] else [])
        assert got["flipper_length_mm"].int64_list.value == [raw["flipper_length_mm"]]
        expected_bill = raw["bill_length_mm"] if raw["bill_length_mm"] is not None else mean_bill
        assert got["bill_length_mm"].float_list.value[0] == pytest.approx(expected_bill, rel=1e-4)


def test_an_integer_column_used_as_categories_goes_back_as_integers(tmp_path):
    """Its vocabulary holds strings ("181"); the model parses the column as int64."""
    config = {**CUSTOM_CONFIG, "categorical": ["flipper_length_mm"]}
    rows, output = analyze_and_transform(str(tmp_path), config)
    feats = features.from_custom_config(schema(), config)
    assert "flipper_length_mm" in feats.categorical
    path = write_warmup_requests(str(tmp_path), [_transformed_file(rows, tmp_path / "t.gz")], output, feats,
                                 "serving_default", "examples", rows=len(RAW_ROWS))
    last = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)][-1]
    examples = tf.make_ndarray(last.predict_log.request.inputs["examples"])
    assert [list(tf.train.Example.FromString(e).features.feature["flipper_length_mm"].int64_list.value)
            for e in examples] == [[r["flipper_length_mm"]] for r in RAW_ROWS]


def test_categories_coded_as_floats_integers_and_strings_go_back_in_their_schema_type(tmp_path):
    """The vocabulary of each holds strings ("18", "181", "Dream"); the records must hold what the
    schema says (FLOAT, INT, BYTES), as pandas writes an integer column with gaps as 18.0. The exported
    model parses every record: a string for a FLOAT feature would fail its load."""
    raw_rows = [{**row, "bill_depth_mm": float(round(row["bill_depth_mm"]))} for row in RAW_ROWS]
    config = {**CUSTOM_CONFIG, "categorical": ["bill_depth_mm", "flipper_length_mm"]}
    rows, output = analyze_and_transform(str(tmp_path), config, raw_rows)
    feats = features.from_custom_config(schema(), config)
    assert {"bill_depth_mm", "flipper_length_mm", "island"} <= set(feats.categorical)
    path = write_warmup_requests(str(tmp_path), [_transformed_file(rows, tmp_path / "t.gz")], output, feats,
                                 "serving_default", "examples", rows=len(raw_rows))
    requests = [prediction_log_pb2.PredictionLog.FromString(r.numpy()).predict_log.request
                for r in tf.data.TFRecordDataset(path)]
    for serialized, raw in zip(tf.make_ndarray(requests[-1].inputs["examples"]), raw_rows):
        got = tf.train.Example.FromString(serialized).features.feature
        assert list(got["bill_depth_mm"].float_list.value) == [raw["bill_depth_mm"]]
        assert list(got["flipper_length_mm"].int64_list.value) == [raw["flipper_length_mm"]]
        assert list(got["island"].bytes_list.value) == [raw["island"].encode()]
    model = build_keras_model(feats, vocab_sizes(feats, output), len(CLASSES))
    export.export(model, str(tmp_path / "model"), export.signatures(model, output, feats, ["year"], CLASSES, None))
    serve = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"]
    for request in requests:  # what a server's warm-up replays
        batch = tf.make_ndarray(request.inputs["examples"])
        assert serve(examples=tf.constant(batch))["probabilities"].shape[0] == len(batch)


def test_a_column_far_from_zero_such_as_a_timestamp_comes_back(tmp_path):
    """Unix seconds (about 1.4e9, a few minutes apart): float32 cannot tell the graph's output at 0
    from its output at 1, so the scale is read off far from the mean (the taxi data's trip_start_timestamp)."""
    raw_rows = [{**row, "body_mass_g": 1400269500 + 300 * i} for i, row in enumerate(RAW_ROWS)]
    rows, output = analyze_and_transform(str(tmp_path), CUSTOM_CONFIG, raw_rows)
    feats = features.from_custom_config(schema(), CUSTOM_CONFIG)
    path = write_warmup_requests(str(tmp_path), [_transformed_file(rows, tmp_path / "t.gz")], output, feats,
                                 "serving_default", "examples", rows=len(raw_rows))
    last = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)][-1]
    got = [tf.train.Example.FromString(e).features.feature["body_mass_g"].int64_list.value[0]
           for e in tf.make_ndarray(last.predict_log.request.inputs["examples"])]
    # the transform graph computes in float32: ~1e-7 of 1.4e9 is what the model itself sees
    assert got == pytest.approx([r["body_mass_g"] for r in raw_rows], rel=2e-7)


def test_no_rows_means_no_warmup_file(tiny_transform, tmp_path):
    _, output = tiny_transform
    feats = features.from_custom_config(schema(), CUSTOM_CONFIG)
    empty = _transformed_file([], tmp_path / "empty.gz")
    assert write_warmup_requests(str(tmp_path), [empty], output, feats, "serving_default", "examples") is None
    assert not (tmp_path / WARMUP_FILE).exists()
