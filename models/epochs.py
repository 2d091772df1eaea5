"""Training in epochs: stop when the eval loss stops improving, keep the best weights, lower the rate on a plateau.

A fixed number of steps under-fits large data and over-fits small data; judging the model
on the eval split after every epoch lets one default serve both. `train_steps` stays a cap,
so a run can never train longer than asked. The measurements behind the constants are in
docs/performance.md ("Model quality").
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, List, Optional

import tensorflow as tf
import tf_keras as keras

# An epoch is one pass over the training rows, but at least MIN_EPOCH_STEPS batches and at most
# EPOCH_STEPS: small data is not judged after a handful of steps (a loss that has barely moved
# would stop it too soon), large data is judged every EPOCH_STEPS steps, often enough to stop in time.
MIN_EPOCH_STEPS = 25
EPOCH_STEPS = 200
# Epochs without a better eval loss before training stops (the best weights are restored).
PATIENCE = 6
# Epochs without a better eval loss before training goes back to the best weights and goes on
# with the learning rate multiplied by PLATEAU_FACTOR (again after as many more): a smaller step
# can find the improvement a large one skips.
PLATEAU_EPOCHS = 2
PLATEAU_FACTOR = 0.5
# A loss better by less than this fraction of the best one is not an improvement.
MIN_IMPROVEMENT = 1e-3
# What training did, written beside the Trainer's logs (runs/results.py reads it).
TRAINING_FILE = "training.json"
EARLY, CAP = "early stopping", "cap"


@dataclass
class TrainingRecord:
    """What one training did: the run summary and the report show it."""

    epochs: int = 0
    steps: int = 0
    epoch_steps: int = 0
    best_epoch: int = 0  # 0: the weights training started from stayed the best (a warm start)
    best_eval_loss: float = float("nan")
    stopped: str = CAP  # EARLY: the eval loss stopped improving; CAP: train_steps reached
    learning_rates: List[float] = field(default_factory=list)  # the first, then each after a plateau
    eval_losses: List[float] = field(default_factory=list)  # before training, then after each epoch

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def write(self, folder: str) -> None:
        tf.io.gfile.makedirs(folder)
        with tf.io.gfile.GFile(os.path.join(folder, TRAINING_FILE), "w") as f:
            f.write(self.to_json())


def step_function(model: keras.Model, optimizer: keras.optimizers.Optimizer,
                  loss_fn: keras.losses.Loss) -> Callable:
    """One optimizer step on a batch; returns its loss (regularization included).

    No autograph: fit's train function goes through it, which transpiles Keras itself and
    costs seconds before the first step (docs/performance.md, "Training and export").
    """
    @tf.function(autograph=False)
    def step(features, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(features, training=True)) + tf.add_n(model.losses or [0.0])
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    return step


def loss_on(model: keras.Model, dataset: tf.data.Dataset, loss_fn: keras.losses.Loss) -> Callable[[], float]:
    """A function giving the model's loss over `dataset` now, weighted by batch size (NaN when empty).

    The prediction is traced once, not once per epoch.
    """
    predict = tf.function(lambda features: model(features, training=False), autograph=False)

    def loss() -> float:
        total = count = 0.0
        for features, labels in dataset:
            n = float(tf.size(labels))
            total, count = total + float(loss_fn(labels, predict(features))) * n, count + n
        return total / count if count else float("nan")

    return loss


def count_batches(dataset: tf.data.Dataset, limit: int) -> int:
    """Batches in one pass of `dataset` (not repeated), counting no further than `limit`."""
    return int(dataset.take(limit).reduce(0, lambda n, _: n + 1))


def _improved(loss: float, best: float) -> bool:
    return math.isfinite(loss) and (not math.isfinite(best) or loss < best - MIN_IMPROVEMENT * abs(best))


def fit_epochs(model: keras.Model, batches: Iterator, evaluate: Callable[[], float], loss_fn: keras.losses.Loss,
               learning_rate: float, max_steps: int, epoch_steps: int, patience: int = PATIENCE,
               plateau_epochs: int = PLATEAU_EPOCHS) -> TrainingRecord:
    """Adam on `batches` for epochs of `epoch_steps` until `evaluate()` stops improving or `max_steps` ran.

    After `plateau_epochs` epochs without a better loss, training restarts from the best
    weights at a lower rate. The model ends with the weights of its best epoch (the starting
    weights count as epoch 0, so a warm start that training only makes worse is kept). Without
    a finite eval loss before training (nothing to judge by), it trains to `max_steps`.
    """
    optimizer = keras.optimizers.Adam(learning_rate)
    step = step_function(model, optimizer, loss_fn)
    record = TrainingRecord(epoch_steps=epoch_steps, learning_rates=[learning_rate])
    best, best_weights, since_best = evaluate(), model.get_weights(), 0
    record.eval_losses.append(best)
    if not math.isfinite(best):  # no eval rows to judge by (an empty eval split): train to the cap
        patience = plateau_epochs = max_steps + 1
        best = float("inf")
    while record.steps < max_steps:
        for _ in range(min(epoch_steps, max_steps - record.steps)):
            step(*next(batches))
            record.steps += 1
        record.epochs += 1
        loss = evaluate()
        record.eval_losses.append(loss)
        if _improved(loss, best):
            best, best_weights, since_best, record.best_epoch = loss, model.get_weights(), 0, record.epochs
            continue
        since_best += 1
        if since_best >= patience:
            record.stopped = EARLY
            break
        if since_best % plateau_epochs == 0:
            model.set_weights(best_weights)
            rate = record.learning_rates[-1] * PLATEAU_FACTOR
            optimizer.learning_rate.assign(rate)
            record.learning_rates.append(rate)
    if math.isfinite(best):
        model.set_weights(best_weights)
    record.best_eval_loss = best if math.isfinite(best) else float("nan")
    return record

