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

    assert WARM_START_FILE == WARM_START_FILE
