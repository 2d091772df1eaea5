"""Training in epochs: early stopping keeps the best weights, train_steps caps it, a plateau lowers the rate."""
import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from models import epochs


def _line_model():
    """y = w * x, starting at w = 0."""
    inputs = keras.Input(shape=(1,), name="x")
    return keras.Model(inputs, keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")(inputs))


def _batches(slope):
    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(-1, 1)
    return tf.data.Dataset.from_tensors(({"x": x}, slope * x)).repeat()


def _recording(model, slope):
    """The eval loss on y = slope * x, and the weights each evaluation saw."""
    loss = epochs.loss_on(model, _batches(slope).take(1), keras.losses.MeanSquaredError())
    seen = []
    return (lambda: seen.append(model.get_weights()[0].copy()) or loss()), seen


def test_training_stops_when_the_eval_loss_rises_and_keeps_the_best_weights():
    """Train on y = 2x, judge on y = x: the eval loss falls while w nears 1, then rises as w goes on to 2."""
    model = _line_model()
    evaluate, seen = _recording(model, 1.0)
    record = epochs.fit_epochs(model, iter(_batches(2.0)), evaluate, keras.losses.MeanSquaredError(),
                               learning_rate=0.05, max_steps=10_000, epoch_steps=2, patience=3)
    assert record.stopped == epochs.EARLY and record.steps < 10_000
    assert record.epochs == record.best_epoch + 3  # patience: three epochs without a better loss
    assert 0 < record.best_epoch and record.eval_losses[record.best_epoch] == min(record.eval_losses)
    assert record.best_eval_loss == min(record.eval_losses)
    assert np.array_equal(model.get_weights()[0], seen[record.best_epoch])  # restored, not the last
    assert not np.array_equal(seen[-1], seen[record.best_epoch])
    assert model.get_weights()[0][0, 0] == pytest.approx(1.0, abs=0.15)


def test_train_steps_caps_training_that_still_improves():
    model = _line_model()
    evaluate, _ = _recording(model, 2.0)
    record = epochs.fit_epochs(model, iter(_batches(2.0)), evaluate, keras.losses.MeanSquaredError(),
                               learning_rate=0.001, max_steps=7, epoch_steps=3)
    assert (record.steps, record.epochs, record.stopped) == (7, 3, epochs.CAP)  # the last epoch cut to 1 step
    assert record.best_epoch == 3


def test_a_plateau_goes_back_to_the_best_weights_at_half_the_rate_until_patience_runs_out():
    """The eval loss never improves, so epoch 0's w = 0 stays the best; Adam's steps (about the rate) show the rate."""
    model = _line_model()
    weights = []
    record = epochs.fit_epochs(model, iter(_batches(2.0)), lambda: weights.append(model.get_weights()[0][0, 0]) or 1.0,
                               keras.losses.MeanSquaredError(), learning_rate=0.1, max_steps=1000, epoch_steps=1,
                               patience=6, plateau_epochs=2)
    assert record.learning_rates == pytest.approx([0.1, 0.05, 0.025])
    assert (record.epochs, record.stopped) == (6, epochs.EARLY)
    assert weights == pytest.approx([0, 0.1, 0.2, 0.05, 0.1, 0.025, 0.05], rel=0.1)


def test_without_an_eval_loss_training_runs_to_the_cap_and_reports_nan():
    """An empty eval split gives no loss to judge by: stopping at once would ship the initial weights."""
    model = _line_model()
    record = epochs.fit_epochs(model, iter(_batches(2.0)), lambda: float("nan"), keras.losses.MeanSquaredError(),
                               learning_rate=0.1, max_steps=100, epoch_steps=1, patience=2)
    assert math.isnan(record.best_eval_loss) and (record.stopped, record.steps) == (epochs.CAP, 100)
    assert model.get_weights()[0][0, 0] == pytest.approx(2.0, abs=0.2)  # trained, not reset


def test_a_loss_that_turns_nan_stops_training_on_the_best_weights():
    model = _line_model()
    losses = iter([1.0, 0.5] + [float("nan")] * 10)
    record = epochs.fit_epochs(model, iter(_batches(2.0)), lambda: next(losses), keras.losses.MeanSquaredError(),
                               learning_rate=0.1, max_steps=100, epoch_steps=1, patience=2)
    assert (record.best_epoch, record.best_eval_loss, record.stopped) == (1, 0.5, epochs.EARLY)


def test_count_batches_stops_at_the_limit():
    data = tf.data.Dataset.range(10).batch(3)
    assert (epochs.count_batches(data, 100), epochs.count_batches(data, 2)) == (4, 2)


def test_the_training_file_name_is_the_one_runs_reads(tmp_path):
    from runs import results

    assert results.TRAINING_FILE == epochs.TRAINING_FILE
    epochs.TrainingRecord(epochs=3, steps=12, epoch_steps=4, best_epoch=2, best_eval_loss=0.25,
                          stopped=epochs.EARLY, learning_rates=[0.01, 0.005]).write(str(tmp_path))

    class Run:
        uri = str(tmp_path)

    assert results.read_training({"model_run": [Run()]}) == (
        "3 epochs (12 steps of 4 per epoch), stopped early (eval loss no longer improving); best eval loss 0.2500 "
        "at epoch 2 (its weights kept); learning rate 0.01 -> 0.005")
