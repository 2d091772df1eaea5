"""Warm start: a new model begins from the serving model's weights when they mean the same thing.

The continuous loop retrains on a moving window of spans; starting from the model that
serves today needs fewer steps than starting from scratch, as long as every weight is
copied to the input, unit and output it was trained for.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Tuple

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging

from models import features as features_lib
from models.export import EXTRA_ASSETS_DIR, SCHEMA_ASSET
from models.model import LINEAR, Hyperparameters
from models.preprocessing import vocabulary_name

# What a warm start did, written beside the Trainer's logs (runs/results.py reads it).
WARM_START_FILE = "warm_start.json"
# The hyperparameters a model was built with, shipped in its assets.extra (TF Serving ignores the folder).
HYPERPARAMETERS_ASSET = "hyperparameters.json"


def vocabulary_values(tf_transform_output: tft.TFTransformOutput, name: str) -> List[str]:
    """A vocabulary tf.Transform computed, as strings, most frequent first."""
    return [v.decode() if isinstance(v, bytes) else v for v in tf_transform_output.vocabulary_by_name(name)]


def _feature_types(schema) -> Dict[str, int]:
    return {f.name: f.type for f in schema.feature}


def _base_vocabulary(base_model_dir: str, name: str) -> Optional[List[str]]:
    """A vocabulary as the base model exported it in its assets/ (None when it has none)."""
    path = os.path.join(base_model_dir, "assets", name)
    return tf.io.gfile.GFile(path).read().splitlines() if tf.io.gfile.exists(path) else None


def _positions(old: List[str], new: List[str]) -> List[Optional[int]]:
    """For each value of `new`, its index in `old` (None: a value the base model never saw)."""
    index = {value: i for i, value in enumerate(old)}
    return [index.get(value) for value in new]


def _vocabulary_note(name: str, old: List[str], new: List[str]) -> Optional[str]:
    if old == new:
        return None
    added, gone = len(set(new) - set(old)), len(set(old) - set(new))
    return f"{name}: " + ", ".join(p for p in ((f"+{added} new" if added else ""), (f"-{gone} gone" if gone else ""),
                                                ("reordered" if not added and not gone else "")) if p)


def warm_start(model: keras.Model, base_model_dir: str, schema, tf_transform_output: tft.TFTransformOutput,
               features: features_lib.Features, hparams: Optional[Hyperparameters] = None) -> Tuple[bool, str]:
    """Loads the base model's weights into `model` when it was trained on the same features.

    Same raw features (names and types, from the schema each model ships), the same model
    family and hidden layers (`hparams` against the hyperparameters the base model ships,
    then every layer's shape) and the same outputs (classes come from the dataset's
    configuration, in a fixed order). Vocabularies may differ: tf.Transform orders them by
    frequency, so a new window of spans can swap two values or add one. Each one-hot input
    row of every layer that reads the inputs therefore takes the base model's weights of the
    same value; a value the base model never saw keeps its fresh weights. Otherwise the model
    keeps all its fresh weights.
    """
    base_schema = os.path.join(base_model_dir, EXTRA_ASSETS_DIR, SCHEMA_ASSET)
    if not tf.io.gfile.exists(base_schema):
        return False, f"{base_model_dir} ships no {EXTRA_ASSETS_DIR}/{SCHEMA_ASSET}"
    before, now = _feature_types(features_lib.load_schema(base_schema)), _feature_types(schema)
    if before != now:
        changed = sorted(set(before.items()) ^ set(now.items()))
        return False, f"the features changed ({', '.join(sorted({name for name, _ in changed}))})"
    family = _family_change(base_model_dir, hparams)
    if family:
        return False, family
    layers = [layer for layer in model.layers if layer.weights]
    try:
        reader = tf.train.load_checkpoint(os.path.join(base_model_dir, "variables", "variables"))
        old = [[reader.get_tensor(f"layer_with_weights-{i}/{kind}/.ATTRIBUTES/VARIABLE_VALUE")
                for kind in ("kernel", "bias")] for i in range(len(layers))]
        if reader.has_tensor(f"layer_with_weights-{len(layers)}/kernel/.ATTRIBUTES/VARIABLE_VALUE"):
            raise ValueError("the base model has more layers")
    except (ValueError, tf.errors.OpError) as e:
        return False, f"the base model's weights do not fit this model: {str(e).splitlines()[0][:160]}"
    new = [[w.numpy() for w in layer.weights] for layer in layers]
    rows: List[Optional[int]] = list(range(len(features.numeric)))  # numeric inputs come first, as built
    notes, offset = [], len(features.numeric)
    for name in features.categorical:
        vocabulary = vocabulary_name(name)
        base, current = _base_vocabulary(base_model_dir, vocabulary), vocabulary_values(tf_transform_output, vocabulary)
        if base is None:
            return False, f"the base model ships no {vocabulary} vocabulary"
        notes.append(_vocabulary_note(vocabulary, base, current))
        # The one-hot block: the vocabulary, then its out-of-vocabulary bucket.
        rows += [offset + p if p is not None else None for p in _positions(base, current)] + [offset + len(base)]
        offset += len(base) + 1
    # The layers that read the inputs (a DNN's first layer, a linear model's or the wide part's
    # output) take the base rows value by value; every other layer must match in shape.
    reads_inputs = [_reads_inputs(layer) for layer in layers]
    if old[-1][0].shape[-1] != new[-1][0].shape[-1]:
        return False, "the outputs changed (a different number of classes)"
    if any(o[0].shape != ((offset,) + n[0].shape[1:] if reads else n[0].shape) or reads and n[0].shape[0] != len(rows)
           for reads, o, n in zip(reads_inputs, old, new)):
        return False, "the base model's layers do not match this model's (the model code changed)"
    for i, reads in enumerate(reads_inputs):
        if reads:
            kernel = new[i][0]
            for j, r in enumerate(rows):
                if r is not None:
                    kernel[j] = old[i][0][r]
            new[i] = [kernel, old[i][1]]
        else:
            new[i] = old[i]
    for layer, weights in zip(layers, new):
        layer.set_weights(weights)
    changed = [n for n in notes if n]
    return True, "features unchanged" + (f"; weights matched by value ({'; '.join(changed)})" if changed else "")


def _reads_inputs(layer: keras.layers.Layer) -> bool:
    """Whether a layer's kernel has one row per model input (the concatenated numbers and one-hot blocks)."""
    source = layer.input
    history = None if isinstance(source, list) else getattr(source, "_keras_history", None)
    return history is not None and isinstance(
        history.layer, (keras.layers.Concatenate, keras.layers.Reshape, keras.layers.CategoryEncoding))


def hyperparameters_path(model_dir: str) -> str:
    return os.path.join(model_dir, EXTRA_ASSETS_DIR, HYPERPARAMETERS_ASSET)


def write_hyperparameters(serving_model_dir: str, hparams: Hyperparameters) -> None:
    """Ships the hyperparameters with the model, so a later warm start can tell a family change from a code change."""
    with tf.io.gfile.GFile(hyperparameters_path(serving_model_dir), "w") as f:
        f.write(json.dumps(hparams.to_values(), sort_keys=True))


def _family_change(base_model_dir: str, hparams: Optional[Hyperparameters]) -> Optional[str]:
    """Why the base model's layers cannot line up with this model's, from the hyperparameters both were built with."""
    path = hyperparameters_path(base_model_dir)
    if hparams is None or not tf.io.gfile.exists(path):
        return None
    try:
        base = Hyperparameters.from_values(json.loads(tf.io.gfile.GFile(path).read()))
    except ValueError:
        return None  # written by other model code: the layer shapes decide
    if base.model_type != hparams.model_type:
        return f"the model family changed ({base.model_type} -> {hparams.model_type})"
    if base.model_type != LINEAR and base.hidden_units != hparams.hidden_units:
        return (f"the hidden layers changed ({list(base.hidden_units)} -> {list(hparams.hidden_units)}), "
                f"so the {base.model_type} weights do not line up")
    return None


def warm_start_from(fn_args, model: keras.Model, schema, tf_transform_output: tft.TFTransformOutput,
                    features: features_lib.Features,
                    hparams: Optional[Hyperparameters] = None) -> Optional[Dict[str, object]]:
    """Warm starts from fn_args.base_model (the serving model, when the pipeline asks) and records the outcome."""
    if not fn_args.base_model:
        return None
    loaded, reason = warm_start(model, fn_args.base_model, schema, tf_transform_output, features, hparams)
    logging.info("Warm start from %s: %s (%s)", fn_args.base_model, "loaded" if loaded else "skipped", reason)
    record = {"base_model": fn_args.base_model, "loaded": loaded, "reason": reason}
    if fn_args.model_run_dir:
        tf.io.gfile.makedirs(fn_args.model_run_dir)
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, WARM_START_FILE), "w") as f:
            f.write(json.dumps(record))
    return record
