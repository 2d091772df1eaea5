"""Training: `run_fn`, the Trainer's entry point (the pipeline refers to it as `models.training.run_fn`).

It reads the transformed examples, builds the model (models/model.py), warm starts it when
the pipeline passes a base model (models/warm_start.py), trains it in epochs until the eval
loss stops improving (models/epochs.py) and exports it with its serving signatures and assets
(models/export.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging
from tfx_bsl.public import tfxio

from models import epochs
from models import features as features_lib
from models.export import export, signatures, write_extra_assets
from models.model import HYPERPARAMETERS, Hyperparameters, build_keras_model
from models.preprocessing import vocabulary_name
from models.warm_start import warm_start_from, write_hyperparameters

# tfxio defaults to 10,000 records, which costs seconds to fill before the first step.
SHUFFLE_BUFFER = 1024
# Regression targets are standardized for training from this many training batches.
LABEL_SCALE_BATCHES = 100


def train(model: keras.Model, dataset: tf.data.Dataset, steps: int, loss_fn: keras.losses.Loss,
          after_step: Optional[Callable[[int], bool]] = None,
          learning_rate: float = HYPERPARAMETERS.learning_rate) -> float:
    """Adam on `loss_fn` for `steps` batches; returns the last batch's loss.

    `after_step(n)` is called after step n (1-based) and stops training by returning True
    (benchmarks/continuous_speed.py counts the steps a model needs to reach a threshold).
    A plain loop instead of `model.fit`: fit's train function goes through autograph, which
    transpiles Keras itself and costs seconds before the first step (docs/performance.md,
    "Training and export"); this step function needs no autograph.
    """
    step = epochs.step_function(model, keras.optimizers.Adam(learning_rate), loss_fn)
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


def hyperparameters(fn_args) -> Hyperparameters:
    """The Trainer's hyperparameters: the Tuner's best (or a `--hparams` file's) when the pipeline passes them.

    TFX hands them over as keras_tuner's HyperParameters config ({"space": ..., "values": ...}).
    """
    given = getattr(fn_args, "hyperparameters", None) or {}
    return Hyperparameters.from_values(given.get("values", given))


@dataclass
class TrainingData:
    """What one run trains on, ready for any hyperparameters (the Trainer trains once, the Tuner per trial)."""

    features: features_lib.Features
    schema: Any
    tf_transform_output: tft.TFTransformOutput
    regression: bool
    classes: List[str]
    train_files: List[str]
    eval_files: List[str]
    data_accessor: Any
    train_steps: int
    eval_steps: int

    @classmethod
    def from_fn_args(cls, fn_args) -> "TrainingData":
        custom_config = fn_args.custom_config or {}
        schema = features_lib.load_schema(fn_args.schema_path)
        return cls(features=features_lib.from_custom_config(schema, custom_config), schema=schema,
                   tf_transform_output=tft.TFTransformOutput(fn_args.transform_output),
                   regression=custom_config.get("task") == features_lib.REGRESSION,
                   classes=list(custom_config.get("classes", ())),
                   train_files=fn_args.train_files, eval_files=fn_args.eval_files,
                   data_accessor=fn_args.data_accessor, train_steps=fn_args.train_steps,
                   eval_steps=max(1, fn_args.eval_steps or 1))

    def dataset(self, files: List[str], batch_size: int, repeat: bool = True) -> tf.data.Dataset:
        return _input_fn(files, self.data_accessor, self.tf_transform_output, self.features.label, batch_size,
                         repeat)


@dataclass
class Fitted:
    model: keras.Model
    # The best epoch's on the eval split (NaN if never finite), in the loss the model trained on
    # (the standardized target's squared error for regression).
    eval_loss: float
    scale: Optional[Tuple[float, float]]  # a regression target's (mean, standard deviation)
    training: Optional[epochs.TrainingRecord] = None  # epochs, steps, why it stopped


def fit(data: TrainingData, hparams: Hyperparameters, base_model_fn_args=None) -> Fitted:
    """Builds one model with `hparams`, trains it until the eval loss stops improving; its best weights kept."""
    keras.utils.set_random_seed(hparams.seed)
    model = build_keras_model(data.features, vocab_sizes(data.features, data.tf_transform_output),
                              1 if data.regression else len(data.classes), hparams)
    if base_model_fn_args is not None:
        warm_start_from(base_model_fn_args, model, data.schema, data.tf_transform_output, data.features, hparams)
    train_data = data.dataset(data.train_files, hparams.batch_size)
    epoch_steps = max(epochs.MIN_EPOCH_STEPS, epochs.count_batches(
        data.dataset(data.train_files, hparams.batch_size, repeat=False), epochs.EPOCH_STEPS))
    eval_data = data.dataset(data.eval_files, hparams.batch_size, repeat=False).take(data.eval_steps)
    if data.regression:
        scale = label_scale(train_data)
        center, spread = scale
        train_data = train_data.map(lambda f, y: (f, (y - center) / spread))
        eval_data = eval_data.map(lambda f, y: (f, (y - center) / spread))
        loss_fn = keras.losses.MeanSquaredError()
    else:
        scale, loss_fn = None, keras.losses.SparseCategoricalCrossentropy()
    eval_data = eval_data.cache()  # the same eval rows after every epoch, read once
    record = epochs.fit_epochs(model, iter(train_data), epochs.loss_on(model, eval_data, loss_fn), loss_fn,
                               hparams.learning_rate, data.train_steps, epoch_steps)
    logging.info("Trained a %s model: %s", hparams.model_type, record.to_json())
    return Fitted(model, record.best_eval_loss, scale, record)


def _input_fn(file_pattern, data_accessor, tf_transform_output, label: str, batch_size: int,
              repeat: bool = True) -> tf.data.Dataset:
    """Batches of (transformed features, label), shuffled; repeated forever, or one pass."""
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=label, num_epochs=None if repeat else 1,
                                       shuffle_buffer_size=SHUFFLE_BUFFER),
        tf_transform_output.transformed_metadata.schema,
    )


def run_fn(fn_args) -> None:
    """Trainer entry point (TFX passes FnArgs)."""
    custom_config = fn_args.custom_config or {}
    data = TrainingData.from_fn_args(fn_args)
    hparams = hyperparameters(fn_args)
    fitted = fit(data, hparams, base_model_fn_args=fn_args)
    if fn_args.model_run_dir:
        fitted.training.write(fn_args.model_run_dir)
    if not data.regression:
        eval_data = data.dataset(data.eval_files, hparams.batch_size, repeat=False)
        logging.info("Accuracy on at most %d eval batches %.4f", data.eval_steps,
                     accuracy(fitted.model, eval_data, data.eval_steps))
    ignored = list(custom_config.get("ignore_columns", ()))
    export(fitted.model, fn_args.serving_model_dir,
           signatures(fitted.model, data.tf_transform_output, data.features, ignored, data.classes, fitted.scale))
    write_extra_assets(fn_args.serving_model_dir, fn_args.schema_path, [data.features.label] + ignored,
                       fn_args.eval_files, data.tf_transform_output, data.features)
    write_hyperparameters(fn_args.serving_model_dir, hparams)
