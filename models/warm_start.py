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
from models.preprocessing import vocabulary_name

# What a warm start did, written beside the Trainer's logs (runs/results.py reads it).
WARM_START_FILE = "warm_start.json"


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
               features: features_lib.Features) -> Tuple[bool, str]:
    """Loads the base model's weights into `model` when it was trained on the same features.

    Same raw features (names and types, from the schema each model ships), the same hidden
    layers and the same outputs (classes come from the dataset's configuration, in a fixed
    order). Vocabularies may differ: tf.Transform orders them by frequency, so a new window
    of spans can swap two values or add one. Each one-hot input row therefore takes the base
    model's weights of the same value; a value the base model never saw keeps its fresh
    weights. Otherwise the model keeps all its fresh weights.
    """
    base_schema = os.path.join(base_model_dir, EXTRA_ASSETS_DIR, SCHEMA_ASSET)
    if not tf.io.gfile.exists(base_schema):
        return False, f"{base_model_dir} ships no {EXTRA_ASSETS_DIR}/{SCHEMA_ASSET}"
    before, now = _feature_types(features_lib.load_schema(base_schema)), _feature_types(schema)
    if before != now:
        changed = sorted(set(before.items()) ^ set(now.items()))
        return False, f"the features changed ({', '.join(sorted({name for name, _ in changed}))})"
    layers = [layer for layer in model.layers if layer.weights]
    try:
        reader = tf.train.load_checkpoint(os.path.join(base_model_dir, "variables", "variables"))
        old = [[reader.get_tensor(f"layer_with_weights-{i}/{kind}/.ATTRIBUTES/VARIABLE_VALUE")
                for kind in ("kernel", "bias")] for i in range(len(layers))]
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
    if offset != old[0][0].shape[0] or len(rows) != new[0][0].shape[0] or any(
            o[0].shape != n[0].shape for o, n in zip(old[1:-1], new[1:-1])):
        return False, "the base model's layers do not match this model's (the model code changed)"
    if old[-1][0].shape != new[-1][0].shape:
        return False, "the outputs changed (a different number of classes)"
    for j, r in enumerate(rows):
        if r is not None:
            new[0][0][j] = old[0][0][r]
    new[0][1] = old[0][1]
    new[1:] = old[1:]
    for layer, weights in zip(layers, new):
        layer.set_weights(weights)
    changed = [n for n in notes if n]
    return True, "features unchanged" + (f"; weights matched by value ({'; '.join(changed)})" if changed else "")


def warm_start_from(fn_args, model: keras.Model, schema, tf_transform_output: tft.TFTransformOutput,
                    features: features_lib.Features) -> Optional[Dict[str, object]]:
    """Warm starts from fn_args.base_model (the serving model, when the pipeline asks) and records the outcome."""
    if not fn_args.base_model:
        return None
    loaded, reason = warm_start(model, fn_args.base_model, schema, tf_transform_output, features)
    logging.info("Warm start from %s: %s (%s)", fn_args.base_model, "loaded" if loaded else "skipped", reason)
    record = {"base_model": fn_args.base_model, "loaded": loaded, "reason": reason}
    if fn_args.model_run_dir:
        tf.io.gfile.makedirs(fn_args.model_run_dir)
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, WARM_START_FILE), "w") as f:
            f.write(json.dumps(record))
    return record
