"""A model trained briefly on the tiny dataset and exported as run_fn exports it, shared by the models tests."""
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from models import export
from models import features as features_lib
from models.training import train
from tests.conftest import PENGUINS
from tests.models.model_fixtures import CLASSES, CUSTOM_CONFIG, fresh_model, schema


@pytest.fixture(scope="session")
def trained(tiny_transform):
    """(model, dataset): 60 steps on the tiny dataset's 5 rows, one batch repeated."""
    rows, output = tiny_transform
    model = fresh_model(output)
    batch = {k: np.array([r[k] for r in rows]) for k in rows[0] if k != "species"}
    dataset = tf.data.Dataset.from_tensors((batch, np.array([r["species"] for r in rows]))).repeat()
    train(model, dataset, steps=60, loss_fn=keras.losses.SparseCategoricalCrossentropy())
    return model, dataset


@pytest.fixture(scope="session")
def exported_dir(trained, tiny_transform, tmp_path_factory):
    """The trained model saved with its signatures and raw schema as run_fn does: (path, its weights)."""
    model, _ = trained
    _, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    path = tmp_path_factory.mktemp("model")
    export.export(model, str(path), export.signatures(model, output, features, ["year"], CLASSES, None))
    (path / "assets.extra").mkdir()
    (path / "assets.extra" / "schema.pbtxt").write_text(open(os.path.join(PENGUINS, "schema.pbtxt")).read())
    return path, [w.numpy() for w in model.weights]


@pytest.fixture(scope="session")
def exported(exported_dir):
    return tf.saved_model.load(str(exported_dir[0])), CLASSES
