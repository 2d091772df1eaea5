"""The Keras model and its hyperparameters: the file to edit to change the model.

`build_keras_model` gets the transformed features (`<name>_xf`: z-scored numbers,
vocabulary ids of categories) and returns an uncompiled Keras (tf_keras, Keras 2) model.
What trains it is models/training.py (`run_fn`, the Trainer's entry point); what exports
it with its serving signatures is models/export.py; what starts it from the serving
model's weights is models/warm_start.py (it expects the inputs in the order built here:
numeric features, then one one-hot block per categorical feature).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Tuple

import tensorflow as tf
import tf_keras as keras

from models import features as features_lib
from models.export import PREDICTIONS, PROBABILITIES


@dataclass(frozen=True)
class Hyperparameters:
    hidden_units: Tuple[int, ...] = (16, 16)
    learning_rate: float = 0.01  # Adam's
    batch_size: int = 64
    seed: int = 0  # weights and shuffling: the same data trains the same model


HYPERPARAMETERS = Hyperparameters()


def _layer_name(key: str, position: int) -> str:
    """Keras layer names allow fewer characters than column names ('price (€)'); inputs keep their keys."""
    if re.fullmatch(r"[A-Za-z0-9.][A-Za-z0-9_./-]*", key):
        return key
    return f"input_{position}_{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}"


def build_keras_model(features: features_lib.Features, vocab_sizes: Dict[str, int], outputs: int) -> keras.Model:
    """A small MLP over z-scored numeric features and one-hot categorical features.

    `vocab_sizes`: one-hot widths per categorical feature. `outputs`: the number of classes
    (softmax probabilities), or 1 for regression (a linear unit).
    """
    inputs, encoded = {}, []
    for name in features.numeric:
        key = features_lib.transformed_name(name)
        inputs[key] = keras.Input(shape=(), name=_layer_name(key, len(inputs)), dtype=tf.float32)
        encoded.append(keras.layers.Reshape((1,))(inputs[key]))
    for name in features.categorical:
        key = features_lib.transformed_name(name)
        inputs[key] = keras.Input(shape=(), name=_layer_name(key, len(inputs)), dtype=tf.int64)
        encoded.append(keras.layers.CategoryEncoding(num_tokens=vocab_sizes[name], output_mode="one_hot")(
            keras.layers.Reshape((1,))(inputs[key])))
    x = keras.layers.concatenate(encoded) if len(encoded) > 1 else encoded[0]
    for units in HYPERPARAMETERS.hidden_units:
        x = keras.layers.Dense(units, activation="relu")(x)
    if outputs == 1:
        out = keras.layers.Dense(1, name=PREDICTIONS)(x)
    else:
        out = keras.layers.Dense(outputs, activation="softmax", name=PROBABILITIES)(x)
    return keras.Model(inputs=inputs, outputs=out)
