"""Warm-up records: the exported model ships them, the server replays them before a version serves."""
import logging
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from serving import contract
from serving.server import warmup
from serving.server.servable import Servable
from serving.server.versions import ModelVersions

MODEL = "penguins"


def write_records(version_dir, logs):
    path = contract.warmup_path(str(version_dir))
    (version_dir / contract.EXTRA_ASSETS_DIR).mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())


def predict_log(examples, input_name="examples"):
    request = predict_pb2.PredictRequest()
    request.inputs[input_name].CopyFrom(tf.make_tensor_proto(examples, dtype=tf.string))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def test_other_record_types_are_skipped_with_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING)  # a pipeline run earlier in the session quietens the root logger
    classify = prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog())
    write_records(tmp_path, [classify, predict_log([b"x"]), classify])
    [request] = warmup.read_requests(str(tmp_path))
    assert tf.make_ndarray(request.inputs["examples"]).tolist() == [b"x"]
    assert "skipped 2 classify_log (only Predict warm-up records are replayed here)" in caplog.text


def test_no_file_means_no_records_and_a_corrupt_file_is_named(tmp_path):
    assert warmup.read_requests(str(tmp_path)) == []
    (tmp_path / contract.EXTRA_ASSETS_DIR).mkdir()
    with open(contract.warmup_path(str(tmp_path)), "wb") as f:
        f.write(b"not a tfrecord file at all")
    with pytest.raises(ValueError, match="is not a TFRecord file of PredictionLog records"):
        warmup.read_requests(str(tmp_path))


def test_the_pushed_model_ships_real_rows_and_they_are_replayed_before_it_serves(pushed_version, monkeypatch):
    path, version = pushed_version
    requests = warmup.read_requests(str(path / str(version)))
    batches = [tf.make_ndarray(r.inputs["examples"]).tolist() for r in requests]
    assert [len(b) for b in batches] == [1, 1, 1, 1, 4]  # one row each, then all of them together
    assert all(r.model_spec.signature_name == contract.SERVING_SIGNATURE for r in requests)
    example = tf.train.Example.FromString(batches[-1][0]).features.feature
    assert example["island"].bytes_list.value and example["body_mass_g"].ListFields()  # real feature values
    calls = []
    real_run = Servable.run

    def spy(self, signature_name, inputs, output_filter=()):
        calls.append((self.version, [bytes(b) for b in np.asarray(next(iter(inputs.values()))).reshape(-1)]))
        return real_run(self, signature_name, inputs, output_filter)

    monkeypatch.setattr(Servable, "run", spy)
    models = ModelVersions(MODEL, str(path))
    models.poll()
    assert models.current.version == version
    assert [rows for _, rows in calls[:len(batches)]] == batches  # the records first, in order


def test_a_version_whose_warmup_fails_is_skipped_and_the_old_one_keeps_serving(pushed_version, caplog):
    caplog.set_level(logging.INFO)
    path, version = pushed_version
    shutil.copytree(path / str(version), path / str(version + 1))
    write_records(path / str(version + 1), [predict_log([b"x"], input_name="wrong")])
    models = ModelVersions(MODEL, str(path))
    models.poll()
    assert models.current.version == version
    [state] = models.states(MODEL, version + 1)
    assert state.state == "END" and state.error_message.startswith("not loaded: failed to load: ")
    assert "warm-up record 1 failed: input size does not match signature" in state.error_message
