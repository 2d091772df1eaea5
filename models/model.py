"""The Keras model, its training (`run_fn` for the Trainer) and its serving signatures.

The exported SavedModel carries the Transform graph, so a server needs only raw
features:
- `serving_default`: serialized tf.Examples of raw features (no label) ->
  classification: `probabilities` [batch, classes] and `classes` [batch] (the predicted
  label); regression: `predictions` [batch];
- `transform_features`: serialized raw tf.Examples -> transformed features, which
  the Evaluator (TFMA) uses to get the transformed label;
- `classification` (or `regression`): the same model under TF Serving's Classify (Regress)
  contract: input `inputs`, outputs `classes` [batch, classes] and `scores` (`outputs`),
  with the method name those APIs look for;
and `assets.extra/schema.pbtxt`, the raw data schema the model was trained with, its
label and ignored columns marked as not sent to a served model (not in SERVING), beside
`assets.extra/tf_serving_warmup_requests` (models/warmup.py).
"""
from __future__ import annotations

import json
import os
import re
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
from absl import logging
import tensorflow_transform as tft
import tf_keras as keras
from tfx_bsl.public import tfxio

from google.protobuf import text_format

from models import features as features_lib
from models.preprocessing import vocabulary_name
from models.warmup import write_warmup_requests

BATCH_SIZE = 64
# tfxio defaults to 10,000 records, which costs seconds to fill before the first step.
SHUFFLE_BUFFER = 1024
HIDDEN_UNITS = (16, 16)
LEARNING_RATE = 0.01
SEED = 0
SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"
PROBABILITIES = "probabilities"
CLASSES = "classes"
PREDICTIONS = "predictions"
SERVING_ENVIRONMENT = "SERVING"
# TF Serving's Classify and Regress APIs run only signatures with these method names, input
# and output keys (tensorflow_serving/servables/tensorflow/classifier.cc, regressor.cc).
CLASSIFY_SIGNATURE = "classification"
REGRESS_SIGNATURE = "regression"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
API_INPUT = "inputs"
CLASSIFY_CLASSES = "classes"
CLASSIFY_SCORES = "scores"
REGRESS_OUTPUTS = "outputs"
# Regression targets are standardized for training from this many training batches.
LABEL_SCALE_BATCHES = 100
# The contract with servers (serving/contract.py states the serving side; a test keeps them equal).
EXAMPLES_INPUT = "examples"
EXTRA_ASSETS_DIR = "assets.extra"
SCHEMA_ASSET = "schema.pbtxt"
# What a warm start did, written beside the Trainer's logs (runs/results.py reads it).
WARM_START_FILE = "warm_start.json"


def _layer_name(key: str, position: int) -> str:
    """Keras layer names allow fewer characters than column names ('price (€)'); inputs keep their keys."""
    if re.fullmatch(r"[A-Za-z0-9.][A-Za-z0-9_./-]*", key):
        return key
    return f"input_{position}_{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}"


def build_keras_model(features: features_lib.Features, vocab_sizes: Dict[str, int], outputs: int) -> keras.Model:
    """A small MLP over z-scored numeric features and one-hot categorical features.

    `outputs`: the number of classes (softmax probabilities), or 1 for regression (a linear unit).
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
    for units in HIDDEN_UNITS:
        x = keras.layers.Dense(units, activation="relu")(x)
    if outputs == 1:
        out = keras.layers.Dense(1, name=PREDICTIONS)(x)
    else:
        out = keras.layers.Dense(outputs, activation="softmax", name=PROBABILITIES)(x)
    return keras.Model(inputs=inputs, outputs=out)


def train(model: keras.Model, dataset: tf.data.Dataset, steps: int, loss_fn: keras.losses.Loss,
          after_step: Optional[Callable[[int], bool]] = None) -> float:
    """Adam on `loss_fn` for `steps` batches; returns the last batch's loss.

    `after_step(n)` is called after step n (1-based) and stops training by returning True
    (benchmarks/continuous_speed.py counts the steps a model needs to reach a threshold).
    A plain loop instead of `model.fit`: fit's train function goes through
    autograph, which transpiles Keras itself and costs 10+ s before the first
    step; this step function needs no autograph.
    """
    optimizer = keras.optimizers.Adam(LEARNING_RATE)

    @tf.function(autograph=False)
    def step(features, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(features, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    loss = float("nan")
    for n, (features, labels) in enumerate(dataset.take(steps), start=1):
        loss = float(step(features, labels))
        if after_step is not None and after_step(n):
            break
    return loss


def accuracy(model: keras.Model, dataset: tf.data.Dataset, steps: int) -> float:
    predict = tf.function(lambda features: model(features, training=False), autograph=False)
    correct = total = 0
    for features, labels in dataset.take(steps):
        predicted = tf.argmax(predict(features), axis=1)
        correct += int(tf.reduce_sum(tf.cast(predicted == tf.cast(tf.reshape(labels, [-1]), tf.int64), tf.int32)))
        total += int(tf.size(labels))
    return correct / max(total, 1)


def label_scale(dataset: tf.data.Dataset, batches: int = LABEL_SCALE_BATCHES) -> Tuple[float, float]:
    """(mean, standard deviation) of a regression target, from the first training batches."""
    values = np.concatenate([np.reshape(labels.numpy(), [-1]) for _, labels in dataset.take(batches)])
    spread = float(np.std(values))
    return float(np.mean(values)), spread if spread > 0 else 1.0


def vocab_sizes(features: features_lib.Features, tf_transform_output: tft.TFTransformOutput) -> Dict[str, int]:
    """One-hot widths: vocabulary plus the out-of-vocabulary bucket."""
    return {name: tf_transform_output.vocabulary_size_by_name(vocabulary_name(name)) + 1
            for name in features.categorical}


def vocabulary_values(tf_transform_output: tft.TFTransformOutput, name: str) -> List[str]:
    """A vocabulary tf.Transform computed, as strings, most frequent first."""
    return [v.decode() if isinstance(v, bytes) else v for v in tf_transform_output.vocabulary_by_name(name)]


def _input_fn(file_pattern, data_accessor, tf_transform_output, label: str) -> tf.data.Dataset:
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=BATCH_SIZE, label_key=label, shuffle_buffer_size=SHUFFLE_BUFFER),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


def signatures(model: keras.Model, tf_transform_output: tft.TFTransformOutput, features: features_lib.Features,
                ignored: List[str], classes: List[str], scale: Optional[Tuple[float, float]]):
    """serving_default parses only what the model takes: the label and ignored columns are not sent."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()
    serving_spec = {k: v for k, v in raw_spec.items() if k != features.label and k not in ignored}

    if scale is None:
        class_table = tf.constant(classes)

        def outputs(transformed):
            probabilities = model(transformed)
            return {PROBABILITIES: probabilities, CLASSES: tf.gather(class_table, tf.argmax(probabilities, axis=1))}

        def api_outputs(transformed):
            scores = model(transformed)
            return {CLASSIFY_SCORES: scores,
                    CLASSIFY_CLASSES: tf.tile(class_table[tf.newaxis, :], [tf.shape(scores)[0], 1])}
    else:
        center, spread = scale

        def outputs(transformed):
            return {PREDICTIONS: tf.reshape(model(transformed), [-1]) * spread + center}

        def api_outputs(transformed):
            return {REGRESS_OUTPUTS: outputs(transformed)[PREDICTIONS]}

    def served(serialized):
        transformed = model.tft_layer(tf.io.parse_example(serialized, serving_spec))
        transformed.pop(features.label, None)
        return transformed

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name=EXAMPLES_INPUT)], autograph=False)
    def serve_examples(serialized):
        return outputs(served(serialized))

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name=API_INPUT)], autograph=False)
    def serve_api(serialized):
        return api_outputs(served(serialized))

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name=EXAMPLES_INPUT)], autograph=False)
    def transform_features(serialized):
        raw = tf.io.parse_example(serialized, raw_spec)
        return model.tft_layer(raw)

    return {SERVING_SIGNATURE: serve_examples.get_concrete_function(),
            TRANSFORM_SIGNATURE: transform_features.get_concrete_function(),
            (CLASSIFY_SIGNATURE if scale is None else REGRESS_SIGNATURE): serve_api.get_concrete_function()}


def export(model: keras.Model, path: str, signatures) -> None:
    """SavedModel with the signatures. save_traces=False: servers and TFMA use the
    signatures, and tracing every layer's call for Keras reloading cost ~6 s."""
    model.save(path, save_format="tf", save_traces=False, signatures=signatures)
    _set_method_names(path, {CLASSIFY_SIGNATURE: CLASSIFY_METHOD, REGRESS_SIGNATURE: REGRESS_METHOD})


def _set_method_names(path: str, methods: Dict[str, str]) -> None:
    """Keras writes every signature as a predict signature; TF Serving's Classify and Regress
    find theirs by method name, which only saved_model.pb records (loading ignores it)."""
    from tensorflow.core.protobuf import saved_model_pb2

    pb = os.path.join(path, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(pb, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        for name, method in methods.items():
            if name in meta_graph.signature_def:
                meta_graph.signature_def[name].method_name = method
    with tf.io.gfile.GFile(pb, "wb") as f:
        f.write(saved_model.SerializeToString())


def serving_schema(schema_path: str, not_served: List[str]):
    """The raw schema, with the label and ignored columns marked as not in the SERVING environment.

    Servers accept those columns in a CSV-shaped request and drop them; anything else unknown is an error.
    """
    schema = features_lib.load_schema(schema_path)
    for environment in ("TRAINING", SERVING_ENVIRONMENT):
        if environment not in schema.default_environment:
            schema.default_environment.append(environment)
    for feature in schema.feature:
        if feature.name in not_served and SERVING_ENVIRONMENT not in feature.not_in_environment:
            feature.not_in_environment.append(SERVING_ENVIRONMENT)
    return schema


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


def _warm_start_from(fn_args, model: keras.Model, schema, tf_transform_output: tft.TFTransformOutput,
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


def run_fn(fn_args) -> None:
    """Trainer entry point (TFX passes FnArgs)."""
    custom_config = fn_args.custom_config or {}
    schema = features_lib.load_schema(fn_args.schema_path)
    features = features_lib.from_custom_config(schema, custom_config)
    ignored = list(custom_config.get("ignore_columns", ()))
    regression = custom_config.get("task") == features_lib.REGRESSION
    classes = list(custom_config.get("classes", ()))
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)

    train_data = _input_fn(fn_args.train_files, fn_args.data_accessor, tf_transform_output, features.label)
    eval_data = _input_fn(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, features.label)
    eval_steps = max(1, fn_args.eval_steps or 1)

    keras.utils.set_random_seed(SEED)
    model = build_keras_model(features, vocab_sizes(features, tf_transform_output), 1 if regression else len(classes))
    _warm_start_from(fn_args, model, schema, tf_transform_output, features)
    if regression:
        scale = label_scale(train_data)
        center, spread = scale
        standardized = train_data.map(lambda f, y: (f, (y - center) / spread))
        loss = train(model, standardized, fn_args.train_steps, keras.losses.MeanSquaredError())
        logging.info("Trained %d steps: last batch loss (standardized target) %.4f", fn_args.train_steps, loss)
    else:
        scale = None
        loss = train(model, train_data, fn_args.train_steps, keras.losses.SparseCategoricalCrossentropy())
        logging.info("Trained %d steps: last batch loss %.4f, accuracy on %d eval batches %.4f",
                     fn_args.train_steps, loss, eval_steps, accuracy(model, eval_data, eval_steps))
    export(model, fn_args.serving_model_dir,
           signatures(model, tf_transform_output, features, ignored, classes, scale))
    # TF Serving ignores assets.extra (but for warm-up requests); servers and
    # monitors read the raw schema here to build tf.Examples from plain JSON.
    extra = os.path.join(fn_args.serving_model_dir, EXTRA_ASSETS_DIR)
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, SCHEMA_ASSET), "w") as f:
        f.write(text_format.MessageToString(serving_schema(fn_args.schema_path, [features.label] + ignored)))
    write_warmup_requests(extra, fn_args.eval_files, tf_transform_output, features, SERVING_SIGNATURE, EXAMPLES_INPUT)
