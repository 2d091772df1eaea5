"""The Keras model: its inputs follow the features, its output the task."""
import pytest
import tensorflow as tf
import tf_keras as keras

from models import features as features_lib
from models.model import Hyperparameters, build_keras_model
from models.training import vocab_sizes
from tests.models.model_fixtures import CUSTOM_CONFIG, schema


def test_model_shape_follows_features_and_vocabularies(tiny_transform):
    _, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    model = build_keras_model(features, vocab_sizes(features, output), 3)
    assert sorted(model.input_names) == sorted(features_lib.transformed_name(n) for n in features.inputs)
    assert model.output_shape == (None, 3)
    assert vocab_sizes(features, output) == {"island": 4, "sex": 3}  # vocabulary + OOV bucket


def test_regression_model_has_one_linear_output(tiny_transform):
    _, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    model = build_keras_model(features, vocab_sizes(features, output), 1)
    assert model.output_shape == (None, 1)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense[-1].get_config()["activation"] == "linear"
    assert not any(isinstance(layer, keras.layers.Softmax) for layer in model.layers)


@pytest.mark.parametrize("model_type, dense_layers", [("linear", 1), ("dnn", 3), ("wide_and_deep", 4)])
def test_the_model_family_follows_the_hyperparameters(tiny_transform, model_type, dense_layers):
    _, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    hparams = Hyperparameters(model_type=model_type, hidden_units=(8, 4), dropout=0.1, l2=0.01)
    model = build_keras_model(features, vocab_sizes(features, output), 3, hparams)
    assert sum(isinstance(layer, keras.layers.Dense) for layer in model.layers) == dense_layers
    assert model.output_shape == (None, 3)
    assert len(model.losses) == dense_layers  # one L2 penalty per kernel


def test_hyperparameters_from_values_read_depth_and_width_and_refuse_unknown_names():
    hparams = Hyperparameters.from_values({"model_type": "linear", "num_layers": 3, "units": 32, "learning_rate": "0.1"})
    assert hparams.hidden_units == (32, 32, 32) and hparams.learning_rate == 0.1
    assert Hyperparameters.from_values(hparams.to_values()) == hparams
    with pytest.raises(ValueError, match="unknown hyperparameters \\['lerning_rate'\\]"):
        Hyperparameters.from_values({"lerning_rate": 0.1})
    with pytest.raises(ValueError, match="model_type must be one of"):
        Hyperparameters.from_values({"model_type": "forest"})
    with pytest.raises(ValueError, match="dropout must be in"):
        Hyperparameters(dropout=1.0)


def test_awkward_column_names_make_valid_layers():
    schema_proto = features_lib.schema_pb2.Schema()
    for name, kind in (("Art", features_lib.schema_pb2.BYTES), ("Blüten-Länge (cm)", features_lib.schema_pb2.FLOAT),
                       ("petal width/cm", features_lib.schema_pb2.FLOAT), ("zone code", features_lib.schema_pb2.INT)):
        schema_proto.feature.add(name=name, type=kind)
    features = features_lib.from_schema(schema_proto, "Art", categorical_columns=["zone code"])
    assert features.categorical == ("zone code",)
    model = build_keras_model(features, {"zone code": 4}, 3)
    assert sorted(model.input_names) != [] and model.output_shape == (None, 3)
    # called with the transformed names as keys, whatever the layers are called
    out = model({"Blüten-Länge (cm)_xf": tf.constant([0.1]), "petal width/cm_xf": tf.constant([0.2]),
                 "zone code_xf": tf.constant([1], tf.int64)})
    assert out.shape == (1, 3)
