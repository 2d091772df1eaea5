"""The Keras model and the exported signatures a server and the Evaluator rely on."""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from models import features as features_lib
from models import model as model_lib
from tests.conftest import PENGUINS
from tests.models.model_fixtures import CLASSES, CUSTOM_CONFIG, RAW_ROWS, schema, to_example


def _fresh_model(output):
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    return model_lib.build_keras_model(features, model_lib.vocab_sizes(features, output), len(CLASSES))


@pytest.fixture(scope="session")
def exported_dir(tmp_path_factory, tiny_transform):
    """A model trained briefly on the tiny dataset, saved with its signatures and raw schema as run_fn does."""
    rows, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    model = _fresh_model(output)
    batch = {k: np.array([r[k] for r in rows]) for k in rows[0] if k != "species"}
    dataset = tf.data.Dataset.from_tensors((batch, np.array([r["species"] for r in rows]))).repeat()
    model_lib.train(model, dataset, steps=60, loss_fn=model_lib.keras.losses.SparseCategoricalCrossentropy())
    assert model_lib.accuracy(model, dataset, steps=1) == 1.0  # memorised its 5 rows
    path = tmp_path_factory.mktemp("model")
    model_lib.export(model, str(path), model_lib.signatures(model, output, features, ["year"], CLASSES, None))
    (path / "assets.extra").mkdir()
    (path / "assets.extra" / "schema.pbtxt").write_text(open(os.path.join(PENGUINS, "schema.pbtxt")).read())
    return path, [w.numpy() for w in model.weights]


@pytest.fixture(scope="session")
def exported(exported_dir):
    return tf.saved_model.load(str(exported_dir[0])), CLASSES


def test_model_shape_follows_features_and_vocabularies(tiny_transform):
    _, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    model = model_lib.build_keras_model(features, model_lib.vocab_sizes(features, output), 3)
    assert sorted(model.input_names) == sorted(features_lib.transformed_name(n) for n in features.inputs)
    assert model.output_shape == (None, 3)
    assert model_lib.vocab_sizes(features, output) == {"island": 4, "sex": 3}  # vocabulary + OOV bucket


def test_serving_signature_takes_raw_examples_without_label(exported):
    loaded, classes = exported
    serve = loaded.signatures["serving_default"]
    assert set(serve.structured_input_signature[1]) == {"examples"}
    batch = tf.constant([to_example(r, include_label=False) for r in RAW_ROWS])
    out = serve(examples=batch)
    assert out["probabilities"].shape == (len(RAW_ROWS), len(classes))
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    predicted = [c.decode() for c in out["classes"].numpy()]
    assert set(predicted) <= set(classes)
    # argmax and the label vocabulary agree, so `classes` is the label of the top probability
    assert predicted == [classes[i] for i in out["probabilities"].numpy().argmax(axis=1)]
    # the exported graph (raw examples -> transform -> model) agrees with the trained model
    assert predicted == [r["species"] for r in RAW_ROWS]


def test_serving_signature_handles_missing_values(exported):
    loaded, _ = exported
    row = {k: v for k, v in RAW_ROWS[0].items() if k not in ("bill_length_mm", "sex")}
    out = loaded.signatures["serving_default"](examples=tf.constant([to_example(row, include_label=False)]))
    assert np.isfinite(out["probabilities"].numpy()).all()


def test_transform_signature_returns_transformed_label_for_the_evaluator(exported):
    loaded, classes = exported
    out = loaded.signatures["transform_features"](examples=tf.constant([to_example(r) for r in RAW_ROWS]))
    assert [classes[i] for i in out["species"].numpy()] == [r["species"] for r in RAW_ROWS]
    assert "island_xf" in out and "year_xf" not in out


def test_classification_signature_is_tf_servings_classify_contract(exported_dir, exported):
    """TF Serving's Classify runs a signature with the classify method name, input `inputs`,
    outputs `classes` and `scores` of shape [batch, classes]."""
    from serving.server.servable import read_signature_defs

    signature_def = read_signature_defs(str(exported_dir[0]))["classification"]
    assert signature_def.method_name == "tensorflow/serving/classify"
    assert set(signature_def.inputs) == {"inputs"} and set(signature_def.outputs) == {"classes", "scores"}
    assert read_signature_defs(str(exported_dir[0]))["serving_default"].method_name == "tensorflow/serving/predict"
    loaded, classes = exported
    batch = tf.constant([to_example(r, include_label=False) for r in RAW_ROWS])
    out = loaded.signatures["classification"](inputs=batch)
    assert out["classes"].numpy().tolist() == [[c.encode() for c in classes]] * len(RAW_ROWS)
    np.testing.assert_allclose(out["scores"].numpy(),
                               loaded.signatures["serving_default"](examples=batch)["probabilities"].numpy())


def test_a_regression_model_exports_tf_servings_regress_contract(tiny_transform, tmp_path):
    rows, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    model = model_lib.build_keras_model(features, model_lib.vocab_sizes(features, output), 1)
    model_lib.export(model, str(tmp_path), model_lib.signatures(model, output, features, ["year"], [], (10.0, 2.0)))
    from serving.server.servable import read_signature_defs

    defs = read_signature_defs(str(tmp_path))
    assert "classification" not in defs and defs["regression"].method_name == "tensorflow/serving/regress"
    assert set(defs["regression"].inputs) == {"inputs"} and set(defs["regression"].outputs) == {"outputs"}
    loaded = tf.saved_model.load(str(tmp_path))
    batch = tf.constant([to_example(r, include_label=False) for r in RAW_ROWS])
    np.testing.assert_allclose(loaded.signatures["regression"](inputs=batch)["outputs"].numpy(),
                               loaded.signatures["serving_default"](examples=batch)["predictions"].numpy())


def test_regression_model_has_one_linear_output(tiny_transform):
    _, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    model = model_lib.build_keras_model(features, model_lib.vocab_sizes(features, output), 1)
    assert model.output_shape == (None, 1)
    assert model.layers[-1].get_config()["activation"] == "linear"


def test_awkward_column_names_make_valid_layers():
    schema_proto = features_lib.schema_pb2.Schema()
    for name, kind in (("Art", features_lib.schema_pb2.BYTES), ("Blüten-Länge (cm)", features_lib.schema_pb2.FLOAT),
                       ("petal width/cm", features_lib.schema_pb2.FLOAT), ("zone code", features_lib.schema_pb2.INT)):
        schema_proto.feature.add(name=name, type=kind)
    features = features_lib.from_schema(schema_proto, "Art", categorical_columns=["zone code"])
    assert features.categorical == ("zone code",)
    model = model_lib.build_keras_model(features, {"zone code": 4}, 3)
    assert sorted(model.input_names) != [] and model.output_shape == (None, 3)
    # called with the transformed names as keys, whatever the layers are called
    out = model({"Blüten-Länge (cm)_xf": tf.constant([0.1]), "petal width/cm_xf": tf.constant([0.2]),
                 "zone code_xf": tf.constant([1], tf.int64)})
    assert out.shape == (1, 3)


def test_shipped_schema_marks_label_and_ignored_columns_as_not_served(tmp_path):
    from tests.conftest import PENGUINS

    path = tmp_path / "schema.pbtxt"
    path.write_text(open(f"{PENGUINS}/schema.pbtxt").read().replace('  not_in_environment: "SERVING"\n', ""))
    shipped = model_lib.serving_schema(str(path), ["species", "year"])
    not_served = {f.name for f in shipped.feature if "SERVING" in f.not_in_environment}
    assert not_served == {"species", "year"}
    assert list(shipped.default_environment) == ["TRAINING", "SERVING"]


def test_serving_signature_does_not_need_ignored_columns(exported):
    loaded, _ = exported
    row = {k: v for k, v in RAW_ROWS[0].items() if k != "year"}
    out = loaded.signatures["serving_default"](examples=tf.constant([to_example(row, include_label=False)]))
    assert out["classes"].numpy()[0].decode() == RAW_ROWS[0]["species"]


def test_a_value_never_seen_in_training_is_served(exported):
    loaded, classes = exported
    row = {**RAW_ROWS[0], "island": "Atlantis"}
    out = loaded.signatures["serving_default"](examples=tf.constant([to_example(row, include_label=False)]))
    assert np.isfinite(out["probabilities"].numpy()).all() and out["classes"].numpy()[0].decode() in classes


def test_warm_start_loads_the_base_weights_when_features_and_vocabularies_are_unchanged(exported_dir,
                                                                                       tiny_transform):
    path, base_weights = exported_dir
    _, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    model = _fresh_model(output)
    assert model_lib.warm_start(model, str(path), schema(), output, features) == (True, "features unchanged")
    assert all(np.array_equal(w.numpy(), b) for w, b in zip(model.weights, base_weights))


@pytest.mark.parametrize("change, reason", [
    (lambda p: (p / "assets.extra" / "schema.pbtxt").write_text(
        open(os.path.join(PENGUINS, "schema.pbtxt")).read().replace('name: "sex"', 'name: "gender"')),
     "the features changed (gender, sex)"),
    (lambda p: (p / "assets" / "island_vocab").write_text("Torgersen\n"),
     "the base model's layers do not match this model's"),
    (lambda p: shutil.rmtree(p / "assets.extra"), "ships no assets.extra/schema.pbtxt"),
])
def test_warm_start_is_skipped_when_a_weight_would_mean_something_else(exported_dir, tiny_transform, tmp_path,
                                                                       change, reason):
    base = tmp_path / "base"
    shutil.copytree(exported_dir[0], base)
    change(base)
    _, output = tiny_transform
    model = _fresh_model(output)
    fresh = [w.numpy() for w in model.weights]
    loaded, why = model_lib.warm_start(model, str(base), schema(), output,
                                       features_lib.from_custom_config(schema(), CUSTOM_CONFIG))
    assert not loaded and reason in why
    assert all(np.array_equal(w.numpy(), f) for w, f in zip(model.weights, fresh))


def test_warm_start_matches_weights_by_value_when_a_vocabulary_is_reordered(exported_dir, tiny_transform, tmp_path):
    """tf.Transform orders vocabularies by frequency: a new window can swap two values."""
    base = tmp_path / "base"
    shutil.copytree(exported_dir[0], base)
    vocabulary = (base / "assets" / "island_vocab").read_text().splitlines()
    (base / "assets" / "island_vocab").write_text("\n".join(reversed(vocabulary)) + "\n")
    _, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    model = _fresh_model(output)
    loaded, why = model_lib.warm_start(model, str(base), schema(), output, features)
    assert loaded and "island_vocab: reordered" in why
    first = exported_dir[1][0]  # the base model's first kernel: numeric rows, then island's one-hot block
    numeric, n = len(features.numeric), len(vocabulary)
    kernel = model.weights[0].numpy()
    assert np.array_equal(kernel[:numeric], first[:numeric])
    for j in range(n):
        assert np.array_equal(kernel[numeric + j], first[numeric + n - 1 - j])
    assert np.array_equal(kernel[numeric + n], first[numeric + n])  # the out-of-vocabulary row
    assert all(np.array_equal(w.numpy(), b) for w, b in zip(model.weights[2:], exported_dir[1][2:]))


def test_the_warm_start_file_name_is_the_one_runs_reads():
    from runs.results import WARM_START_FILE

    assert model_lib.WARM_START_FILE == WARM_START_FILE
