"""Fixtures shared by the serving tests."""
import os
import shutil

import pytest
from google.protobuf import text_format

from tests.conftest import PENGUINS

REGRESSION_MODEL = "mass"


@pytest.fixture(scope="session")
def regression_base_path(tiny_transform, tmp_path_factory):
    """The base path of an untrained regression model (version 1) exported as the Trainer exports
    one, raw schema included: its serving signature has a single output, as every regression
    model's does. Untrained is enough: the APIs must agree with the model, not be accurate."""
    from models import export
    from models import features as features_lib
    from models import model as model_lib
    from models.training import vocab_sizes
    from tests.models.model_fixtures import CUSTOM_CONFIG, schema

    _, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    model = model_lib.build_keras_model(features, vocab_sizes(features, output), 1)
    version = tmp_path_factory.mktemp("regress") / REGRESSION_MODEL / "1"
    export.export(model, str(version), export.signatures(model, output, features, ["year"], [], (4000.0, 800.0)))
    (version / "assets.extra").mkdir()
    (version / "assets.extra" / "schema.pbtxt").write_text(text_format.MessageToString(
        export.serving_schema(os.path.join(PENGUINS, "schema.pbtxt"), ["species", "year"])))
    return str(version.parent)


@pytest.fixture(scope="session")
def optional_regression_base_path(regression_base_path, tmp_path_factory):
    """The regression model with every feature optional in its shipped schema, as data.init writes
    schemas, under an output folder's serving_model/ (<output>/serving_model/mass)."""
    from serving import contract

    base = tmp_path_factory.mktemp("optional") / "serving_model" / REGRESSION_MODEL
    shutil.copytree(regression_base_path, base)
    path = contract.schema_path(str(base / "1"))
    schema = contract.load_schema(path)
    for feature in schema.feature:
        feature.ClearField("presence")
        feature.ClearField("value_count")
    with open(path, "w") as f:
        f.write(text_format.MessageToString(schema))
    return str(base)
