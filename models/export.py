"""The exported SavedModel: its serving signatures and the assets servers read beside it.

The SavedModel carries the Transform graph, so a server needs only raw features:
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

import os
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from google.protobuf import text_format

from models import features as features_lib
from models.warmup import write_warmup_requests

SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"
# Output keys of serving_default; the model's output layer carries the same name.
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
# The contract with servers (serving/contract.py states the serving side; a test keeps them equal).
EXAMPLES_INPUT = "examples"
EXTRA_ASSETS_DIR = "assets.extra"
SCHEMA_ASSET = "schema.pbtxt"


def signatures(model: keras.Model, tf_transform_output: tft.TFTransformOutput, features: features_lib.Features,
               ignored: List[str], classes: List[str], scale: Optional[Tuple[float, float]]):
    """serving_default parses only what the model takes: the label and ignored columns are not sent.

    `scale`: (mean, standard deviation) a regression model's standardized output is mapped
    back with; None for a classifier, whose `classes` name the probabilities' columns.
    """
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
    signatures, and tracing every layer's call for Keras reloading costs seconds
    (docs/performance.md, "Training and export")."""
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


def write_extra_assets(serving_model_dir: str, schema_path: str, not_served: List[str],
                       transformed_files: Sequence[str], tf_transform_output: tft.TFTransformOutput,
                       features: features_lib.Features) -> None:
    """The raw schema and the warm-up requests, in assets.extra of an exported model.

    TF Serving ignores assets.extra (but for warm-up requests); servers and monitors read
    the raw schema here to build tf.Examples from plain JSON.
    """
    extra = os.path.join(serving_model_dir, EXTRA_ASSETS_DIR)
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, SCHEMA_ASSET), "w") as f:
        f.write(text_format.MessageToString(serving_schema(schema_path, not_served)))
    write_warmup_requests(extra, transformed_files, tf_transform_output, features, SERVING_SIGNATURE, EXAMPLES_INPUT)
