"""The Keras model and its hyperparameters: the file to edit to change the model.

`build_keras_model` gets the transformed features (`<name>_xf`: z-scored numbers,
vocabulary ids of categories) and returns an uncompiled Keras (tf_keras, Keras 2) model
of the family `Hyperparameters.model_type` names. What trains it is models/training.py
(`run_fn`, the Trainer's entry point); what searches the hyperparameters is
models/tuning.py (the Tuner's); what exports it with its serving signatures is
models/export.py; what starts it from the serving model's weights is
models/warm_start.py (it expects the inputs in the order built here: numeric features,
then one one-hot block per categorical feature).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Tuple

import tensorflow as tf
import tf_keras as keras

from models import features as features_lib
from models.export import PREDICTIONS, PROBABILITIES

LINEAR, DNN, WIDE_AND_DEEP = "linear", "dnn", "wide_and_deep"
MODEL_TYPES = (LINEAR, DNN, WIDE_AND_DEEP)


@dataclass(frozen=True)
class Hyperparameters:
    """What training needs besides the data; the Tuner searches these (models/tuning.py)."""

    # linear: inputs -> output; dnn: hidden layers; wide_and_deep: both, summed. The default: the one
    # family within 5% of the better scikit-learn baseline on every benchmarked dataset
    # (docs/model.md, "Measured"): the linear part fits near-linear data, the deep part the rest.
    model_type: str = WIDE_AND_DEEP
    hidden_units: Tuple[int, ...] = (16, 16)  # the DNN's (and wide-and-deep's deep part's) layers
    learning_rate: float = 0.01  # Adam's
    dropout: float = 0.0  # after each hidden layer
    l2: float = 0.0  # on every kernel
    batch_size: int = 64
    seed: int = 0  # weights and shuffling: the same data trains the same model

    def __post_init__(self):
        problems = [problem for problem in (
            self.model_type not in MODEL_TYPES and f"model_type must be one of {MODEL_TYPES}, not {self.model_type!r}",
            (not self.hidden_units or any(u <= 0 for u in self.hidden_units)) and self.model_type != LINEAR
            and f"hidden_units must be positive layer widths, not {list(self.hidden_units)}",
            not self.learning_rate > 0 and f"learning_rate must be positive, not {self.learning_rate}",
            not 0 <= self.dropout < 1 and f"dropout must be in [0, 1), not {self.dropout}",
            not self.l2 >= 0 and f"l2 must be zero or positive, not {self.l2}",
            not self.batch_size > 0 and f"batch_size must be positive, not {self.batch_size}",
        ) if problem]
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "Hyperparameters":
        """From a name -> value mapping (a Tuner's best values, a `--hparams` file); missing names keep defaults.

        `num_layers` and `units` (how a tuner searches depth and width) stand for
        `hidden_units` = (units,) * num_layers.
        """
        values = dict(values)
        known = {f.name for f in dataclasses.fields(cls)}
        if "num_layers" in values or "units" in values:
            layers, units = int(values.pop("num_layers", 2)), int(values.pop("units", 16))
            values.setdefault("hidden_units", (units,) * layers)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown hyperparameters {unknown}; known ones are "
                             f"{sorted(known | {'num_layers', 'units'})}")
        defaults = cls()
        typed = {}
        for name, value in values.items():
            default = getattr(defaults, name)
            try:
                typed[name] = (tuple(int(v) for v in value) if isinstance(default, tuple)
                               else type(default)(value))
            except (TypeError, ValueError):
                raise ValueError(f"hyperparameter {name}: expected {type(default).__name__}, got {value!r}") from None
        return cls(**typed)

    def to_values(self) -> Dict[str, Any]:
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in dataclasses.asdict(self).items()}


HYPERPARAMETERS = Hyperparameters()


def _layer_name(key: str, position: int) -> str:
    """Keras layer names allow fewer characters than column names ('price (€)'); inputs keep their keys."""
    if re.fullmatch(r"[A-Za-z0-9.][A-Za-z0-9_./-]*", key):
        return key
    return f"input_{position}_{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}"


def build_keras_model(features: features_lib.Features, vocab_sizes: Dict[str, int], outputs: int,
                      hparams: Hyperparameters = HYPERPARAMETERS) -> keras.Model:
    """A linear model, an MLP, or both summed (wide and deep), over z-scored numbers and one-hot categories.

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
    regularizer = keras.regularizers.L2(hparams.l2) if hparams.l2 else None
    parts = []
    if hparams.model_type in (DNN, WIDE_AND_DEEP):
        deep = x
        for units in hparams.hidden_units:
            deep = keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer)(deep)
            if hparams.dropout:
                deep = keras.layers.Dropout(hparams.dropout, seed=hparams.seed)(deep)
        parts.append(deep)
    if hparams.model_type in (LINEAR, WIDE_AND_DEEP):
        parts.append(x)
    logits = [keras.layers.Dense(outputs, kernel_regularizer=regularizer)(part) for part in parts]
    out = keras.layers.Add()(logits) if len(logits) > 1 else logits[0]
    if outputs == 1:
        return keras.Model(inputs=inputs, outputs=keras.layers.Identity(name=PREDICTIONS)(out))
    return keras.Model(inputs=inputs, outputs=keras.layers.Softmax(name=PROBABILITIES)(out))
