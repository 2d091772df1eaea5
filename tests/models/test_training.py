"""The training loop run_fn uses: it fits, it stops when asked, it standardizes a regression target."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from models.training import accuracy, label_scale, train
from tests.models.model_fixtures import fresh_model


def test_training_fits_the_tiny_dataset(trained):
    model, dataset = trained
    assert accuracy(model, dataset, steps=1) == 1.0  # memorised its 5 rows


def test_after_step_stops_training_early(trained, tiny_transform):
    _, dataset = trained
    steps = []
    train(fresh_model(tiny_transform[1]), dataset, steps=60, loss_fn=keras.losses.SparseCategoricalCrossentropy(),
          after_step=lambda n: steps.append(n) or n == 3)
    assert steps == [1, 2, 3]


def test_label_scale_is_the_targets_mean_and_spread():
    labels = tf.data.Dataset.from_tensor_slices(({"x": [0.0] * 4}, [1.0, 2.0, 3.0, 4.0])).batch(2)
    assert label_scale(labels) == pytest.approx((2.5, float(np.std([1, 2, 3, 4]))))


def test_a_constant_target_keeps_its_scale():
    labels = tf.data.Dataset.from_tensor_slices(({"x": [0.0] * 3}, [7.0, 7.0, 7.0])).batch(3)
    assert label_scale(labels) == (7.0, 1.0)
