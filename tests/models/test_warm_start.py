"""Warm start copies a weight only to the input, unit and output it was trained for."""
import os
import shutil

import numpy as np
import pytest

from models import features as features_lib
from models.warm_start import WARM_START_FILE, warm_start
from tests.conftest import PENGUINS
from tests.models.model_fixtures import CUSTOM_CONFIG, fresh_model, schema


def test_warm_start_loads_the_base_weights_when_features_and_vocabularies_are_unchanged(exported_dir,
                                                                                       tiny_transform):
    path, base_weights = exported_dir
    _, output = tiny_transform
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    model = fresh_model(output)
    assert warm_start(model, str(path), schema(), output, features) == (True, "features unchanged")
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
    model = fresh_model(output)
    fresh = [w.numpy() for w in model.weights]
    loaded, why = warm_start(model, str(base), schema(), output,
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
    model = fresh_model(output)
    loaded, why = warm_start(model, str(base), schema(), output, features)
    assert loaded and "island_vocab: reordered" in why
    # The kernels that read the inputs (the deep part's first, the wide part's): numeric rows, then island's block.
    width = model.weights[0].shape[0]
    numeric, n = len(features.numeric), len(vocabulary)
    for weight, base_weight in zip(model.weights, exported_dir[1]):
        value = weight.numpy()
        if value.ndim == 2 and value.shape[0] == width:
            assert np.array_equal(value[:numeric], base_weight[:numeric])
            for j in range(n):
                assert np.array_equal(value[numeric + j], base_weight[numeric + n - 1 - j])
            assert np.array_equal(value[numeric + n], base_weight[numeric + n])  # the out-of-vocabulary row
        else:
            assert np.array_equal(value, base_weight)
    assert sum(w.shape[0] == width for w in model.weights if len(w.shape) == 2) == 2  # wide and deep


def test_the_warm_start_file_name_is_the_one_runs_reads():
    from runs import results

    assert results.WARM_START_FILE == WARM_START_FILE


def _family_model(tiny_transform, hparams):
    from models.model import build_keras_model
    from models.training import vocab_sizes

    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    return build_keras_model(features, vocab_sizes(features, tiny_transform[1]), 3, hparams)


def _saved(model, exported_dir, hparams, path):
    """`model` saved as the Trainer saves it, with the base export's assets and its hyperparameters."""
    from models.warm_start import write_hyperparameters

    model.save(str(path), save_format="tf", save_traces=False)
    shutil.rmtree(path / "assets", ignore_errors=True)
    shutil.copytree(exported_dir[0] / "assets", path / "assets")
    shutil.copytree(exported_dir[0] / "assets.extra", path / "assets.extra")
    if hparams is not None:
        write_hyperparameters(str(path), hparams)
    return path


@pytest.mark.parametrize("model_type", ["linear", "dnn", "wide_and_deep"])
def test_warm_start_loads_every_model_family_from_its_own_kind(exported_dir, tiny_transform, tmp_path, model_type):
    from models.model import Hyperparameters

    hparams = Hyperparameters(model_type=model_type, hidden_units=(8, 4))
    base = _family_model(tiny_transform, hparams)
    path = _saved(base, exported_dir, hparams, tmp_path / "base")
    model = _family_model(tiny_transform, Hyperparameters(model_type=model_type, hidden_units=(8, 4), seed=1))
    loaded, why = warm_start(model, str(path), schema(), tiny_transform[1],
                             features_lib.from_custom_config(schema(), CUSTOM_CONFIG), hparams)
    assert loaded, why
    assert all(np.array_equal(w.numpy(), b.numpy()) for w, b in zip(model.weights, base.weights))


@pytest.mark.parametrize("base_type, new_type, hidden, reason", [
    ("dnn", "linear", (8, 4), "the model family changed (dnn -> linear)"),
    ("linear", "wide_and_deep", (8, 4), "the model family changed (linear -> wide_and_deep)"),
    ("wide_and_deep", "dnn", (8, 4), "the model family changed (wide_and_deep -> dnn)"),
    ("dnn", "dnn", (8,), "the hidden layers changed ([8, 4] -> [8])"),
])
def test_warm_start_refuses_a_base_model_whose_layers_do_not_line_up(exported_dir, tiny_transform, tmp_path,
                                                                      base_type, new_type, hidden, reason):
    from models.model import Hyperparameters

    base_hparams = Hyperparameters(model_type=base_type, hidden_units=(8, 4))
    features = features_lib.from_custom_config(schema(), CUSTOM_CONFIG)
    for shipped in (base_hparams, None):  # without the shipped hyperparameters, the layer shapes still refuse
        path = _saved(_family_model(tiny_transform, base_hparams), exported_dir, shipped,
                      tmp_path / f"base-{shipped is None}")
        hparams = Hyperparameters(model_type=new_type, hidden_units=hidden)
        model = _family_model(tiny_transform, hparams)
        fresh = [w.numpy() for w in model.weights]
        loaded, why = warm_start(model, str(path), schema(), tiny_transform[1], features, hparams)
        assert not loaded
        assert reason in why if shipped else ("do not match" in why or "do not fit" in why), why
        assert all(np.array_equal(w.numpy(), f) for w, f in zip(model.weights, fresh))
