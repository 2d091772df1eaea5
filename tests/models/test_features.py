"""The feature definition is derived from the schema and the dataset config, not listed by hand."""
import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

from models import features
from pipeline.config import DatasetConfig
from tests.conftest import PENGUINS


def test_penguins_features_from_curated_schema():
    dataset = DatasetConfig.load(PENGUINS)
    f = features.from_custom_config(features.load_schema(dataset.schema_path), dataset.custom_config())
    assert f.label == "species"
    assert f.numeric == ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
    assert f.categorical == ("island", "sex")
    assert "year" not in f.inputs and "species" not in f.inputs


def test_kinds_follow_schema_types():
    schema = schema_pb2.Schema()
    for name, kind in (("y", schema_pb2.BYTES), ("a", schema_pb2.FLOAT), ("b", schema_pb2.INT),
                       ("c", schema_pb2.BYTES)):
        schema.feature.add(name=name, type=kind)
    f = features.from_schema(schema, label="y")
    assert (f.numeric, f.categorical) == (("a", "b"), ("c",))


def test_label_must_be_in_schema():
    schema = schema_pb2.Schema()
    schema.feature.add(name="a", type=schema_pb2.FLOAT)
    with pytest.raises(ValueError, match="label 'y' is not a feature of the schema"):
        features.from_schema(schema, label="y")


def test_label_alone_is_not_a_model():
    schema = schema_pb2.Schema()
    schema.feature.add(name="y", type=schema_pb2.BYTES)
    schema.feature.add(name="id", type=schema_pb2.INT)
    with pytest.raises(ValueError, match="no features besides the label"):
        features.from_schema(schema, label="y", ignore_columns=["id"])
