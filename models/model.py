"""The Keras model, its training (`run_fn` for the Trainer) and its serving signatures.

The exported SavedModel carries the Transform graph, so a server needs only raw
features:
- `serving_default`: serialized tf.Examples of raw features (no label) ->
  `probabilities` [batch, classes] and `classes` [batch] (the predicted label);
- `transform_features`: serialized raw tf.Examples -> transformed features, which
  the Evaluator (TFMA) uses to get the transformed label;
and `assets.extra/schema.pbtxt`, the raw data schema the model was trained with, beside
`assets.extra/tf_serving_warmup_requests` (models/warmup.py).
"""
from __future__ import annotations

import os
from typing import Dict, List

import tensorflow as tf
from absl import logging
import tensorflow_transform as tft
import tf_keras as keras
from tfx_bsl.public import tfxio

from models import features as features_lib
from models.preprocessing import LABEL_VOCABULARY, vocabulary_name
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
# The contract with servers (serving/contract.py states the serving side; a test keeps them equal).
EXAMPLES_INPUT = "examples"
EXTRA_ASSETS_DIR = "assets.extra"
SCHEMA_ASSET = "schema.pbtxt"


def build_keras_model(features: features_lib.Features, vocab_sizes: Dict[str, int], num_classes: int) -> keras.Model:
    """A small MLP over z-scored numeric features and one-hot categorical features."""
    inputs, encoded = {}, []
    for name in features.numeric:
        key = features_lib.transformed_name(name)
        inputs[key] = keras.Input(shape=(), name=key, dtype=tf.float32)
        encoded.append(keras.layers.Reshape((1,))(inputs[key]))
    for name in features.categorical:
        key = features_lib.transformed_name(name)
        inputs[key] = keras.Input(shape=(), name=key, dtype=tf.int64)
        encoded.append(keras.layers.CategoryEncoding(num_tokens=vocab_sizes[name], output_mode="one_hot")(
            keras.layers.Reshape((1,))(inputs[key])))
    x = keras.layers.concatenate(encoded) if len(encoded) > 1 else encoded[0]
    for units in HIDDEN_UNITS:
        x = keras.layers.Dense(units, activation="relu")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name=PROBABILITIES)(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def train(model: keras.Model, dataset: tf.data.Dataset, steps: int) -> float:
    """Adam on sparse cross-entropy for `steps` batches; returns the last batch's loss.

    A plain loop instead of `model.fit`: fit's train function goes through
    autograph, which transpiles Keras itself and costs 10+ s before the first
    step; this step function needs no autograph.
    """
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    @tf.function(autograph=False)
    def step(features, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(features, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    loss = float("nan")
    for features, labels in dataset.take(steps):
        loss = float(step(features, labels))
    return loss


def accuracy(model: keras.Model, dataset: tf.data.Dataset, steps: int) -> float:
    predict = tf.function(lambda features: model(features, training=False), autograph=False)
    correct = total = 0
    for features, labels in dataset.take(steps):
        predicted = tf.argmax(predict(features), axis=1)
        correct += int(tf.reduce_sum(tf.cast(predicted == tf.cast(tf.reshape(labels, [-1]), tf.int64), tf.int32)))
        total += int(tf.size(labels))
    return correct / max(total, 1)


def vocab_sizes(features: features_lib.Features, tf_transform_output: tft.TFTransformOutput) -> Dict[str, int]:
    """One-hot widths: vocabulary plus the out-of-vocabulary bucket."""
    return {name: tf_transform_output.vocabulary_size_by_name(vocabulary_name(name)) + 1
            for name in features.categorical}


def label_vocabulary(tf_transform_output: tft.TFTransformOutput) -> List[str]:
    return [v.decode() if isinstance(v, bytes) else v
            for v in tf_transform_output.vocabulary_by_name(LABEL_VOCABULARY)]


def _input_fn(file_pattern, data_accessor, tf_transform_output, label: str) -> tf.data.Dataset:
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=BATCH_SIZE, label_key=label, shuffle_buffer_size=SHUFFLE_BUFFER),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


def _signatures(model: keras.Model, tf_transform_output: tft.TFTransformOutput, label: str, classes: List[str]):
    model.tft_layer = tf_transform_output.transform_features_layer()
    class_table = tf.constant(classes)

    raw_spec = tf_transform_output.raw_feature_spec()
    serving_spec = {k: v for k, v in raw_spec.items() if k != label}

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name=EXAMPLES_INPUT)], autograph=False)
    def serve_examples(serialized):
        raw = tf.io.parse_example(serialized, serving_spec)
        transformed = model.tft_layer(raw)
        transformed.pop(label, None)
        probabilities = model(transformed)
        return {PROBABILITIES: probabilities,
                CLASSES: tf.gather(class_table, tf.argmax(probabilities, axis=1))}

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name=EXAMPLES_INPUT)], autograph=False)
    def transform_features(serialized):
        raw = tf.io.parse_example(serialized, raw_spec)
        return model.tft_layer(raw)

    return {SERVING_SIGNATURE: serve_examples.get_concrete_function(),
            TRANSFORM_SIGNATURE: transform_features.get_concrete_function()}


def export(model: keras.Model, path: str, tf_transform_output: tft.TFTransformOutput, label: str,
           classes: List[str]) -> None:
    """SavedModel with both signatures. save_traces=False: servers and TFMA use the
    signatures, and tracing every layer's call for Keras reloading cost ~6 s."""
    model.save(path, save_format="tf", save_traces=False,
               signatures=_signatures(model, tf_transform_output, label, classes))


def run_fn(fn_args) -> None:
    """Trainer entry point (TFX passes FnArgs)."""
    custom_config = fn_args.custom_config or {}
    features = features_lib.from_custom_config(features_lib.load_schema(fn_args.schema_path), custom_config)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    classes = label_vocabulary(tf_transform_output)

    train_data = _input_fn(fn_args.train_files, fn_args.data_accessor, tf_transform_output, features.label)
    eval_data = _input_fn(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, features.label)
    eval_steps = max(1, fn_args.eval_steps or 1)

    keras.utils.set_random_seed(SEED)
    model = build_keras_model(features, vocab_sizes(features, tf_transform_output), len(classes))
    loss = train(model, train_data, fn_args.train_steps)
    logging.info("Trained %d steps: last batch loss %.4f, accuracy on %d eval batches %.4f",
                 fn_args.train_steps, loss, eval_steps, accuracy(model, eval_data, eval_steps))
    export(model, fn_args.serving_model_dir, tf_transform_output, features.label, classes)
    # TF Serving ignores assets.extra (but for warm-up requests); servers and
    # monitors read the raw schema here to build tf.Examples from plain JSON.
    extra = os.path.join(fn_args.serving_model_dir, EXTRA_ASSETS_DIR)
    tf.io.gfile.makedirs(extra)
    tf.io.gfile.copy(fn_args.schema_path, os.path.join(extra, SCHEMA_ASSET), overwrite=True)
    write_warmup_requests(extra, fn_args.eval_files, tf_transform_output, features, SERVING_SIGNATURE, EXAMPLES_INPUT)
