"""The exported signatures a server and the Evaluator rely on, and the schema shipped beside them."""
import numpy as np
import tensorflow as tf

from models import export
from models import features as features_lib
from models.model import build_keras_model
from models.training import vocab_sizes
from tests.models.model_fixtures import CUSTOM_CONFIG, RAW_ROWS, schema, to_example


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
    model = build_keras_model(features, vocab_sizes(features, output), 1)
    export.export(model, str(tmp_path), export.signatures(model, output, features, ["year"], [], (10.0, 2.0)))
    from serving.server.servable import read_signature_defs

    defs = read_signature_defs(str(tmp_path))
    assert "classification" not in defs and defs["regression"].method_name == "tensorflow/serving/regress"
    assert set(defs["regression"].inputs) == {"inputs"} and set(defs["regression"].outputs) == {"outputs"}
    loaded = tf.saved_model.load(str(tmp_path))
    batch = tf.constant([to_example(r, include_label=False) for r in RAW_ROWS])
    np.testing.assert_allclose(loaded.signatures["regression"](inputs=batch)["outputs"].numpy(),
                               loaded.signatures["serving_default"](examples=batch)["predictions"].numpy())


def test_shipped_schema_marks_label_and_ignored_columns_as_not_served(tmp_path):
    from tests.conftest import PENGUINS

    path = tmp_path / "schema.pbtxt"
    path.write_text(open(f"{PENGUINS}/schema.pbtxt").read().replace('  not_in_environment: "SERVING"\n', ""))
    shipped = export.serving_schema(str(path), ["species", "year"])
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
