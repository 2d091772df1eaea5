"""Training: `run_fn`, the Trainer's entry point (the pipeline refers to it as `models.training.run_fn`).

It reads the transformed examples, builds the model (models/model.py), warm starts it when
the pipeline passes a base model (models/warm_start.py), trains it and exports it with its
serving signatures and assets (models/export.py).
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging
from tfx_bsl.public import tfxio

from models import features as features_lib
from models.export import export, signatures, write_extra_assets
from models.model import HYPERPARAMETERS, build_keras_model
from models.preprocessing import vocabulary_name
from models.warm_start import warm_start_from

# tfxio defaults to 10,000 records, which costs seconds to fill before the first step.
SHUFFLE_BUFFER = 1024
# Regression targets are standardized for training from this many training batches.
LABEL_SCALE_BATCHES = 100


def train(model: keras.Model, dataset: tf.data.Dataset, steps: int, loss_fn: keras.losses.Loss,
          after_step: Optional[Callable[[int], bool]] = None) -> float:
    """Adam on `loss_fn` for `steps` batches; returns the last batch's loss.

    `after_step(n)` is called after step n (1-based) and stops training by returning True
    (benchmarks/continuous_speed.py counts the steps a model needs to reach a threshold).
    A plain loop instead of `model.fit`: fit's train function goes through autograph, which
    transpiles Keras itself and costs seconds before the first step (docs/performance.md,
    "Training and export"); this step function needs no autograph.
    """
    optimizer = keras.optimizers.Adam(HYPERPARAMETERS.learning_rate)

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


def _input_fn(file_pattern, data_accessor, tf_transform_output, label: str) -> tf.data.Dataset:
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=HYPERPARAMETERS.batch_size, label_key=label,
                                       shuffle_buffer_size=SHUFFLE_BUFFER),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


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

    keras.utils.set_random_seed(HYPERPARAMETERS.seed)
    model = build_keras_model(features, vocab_sizes(features, tf_transform_output), 1 if regression else len(classes))
    warm_start_from(fn_args, model, schema, tf_transform_output, features)
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
    write_extra_assets(fn_args.serving_model_dir, fn_args.schema_path, [features.label] + ignored,
                       fn_args.eval_files, tf_transform_output, features)
