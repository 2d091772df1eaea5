"""The Keras model: its inputs follow the features, its output the task."""
import tensorflow as tf

from models import features as features_lib
from models.model import build_keras_model
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
    assert model.layers[-1].get_config()["activation"] == "linear"


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
