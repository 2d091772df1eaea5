"""Warm-up records: TF Serving's `assets.extra/tf_serving_warmup_requests`, read as it reads them.

The file is a TFRecord file of `PredictionLog` protos. TF Serving replays at most 1,000
records before a version serves and fails the load if one fails; this server does the
same for Predict records. Classify, Regress and MultiInference records are skipped with a
warning (this server answers those APIs UNIMPLEMENTED), so a file written for TF Serving
never keeps a model from loading here.
"""
from __future__ import annotations

import logging
import os
from typing import List

import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from serving import contract

log = logging.getLogger(__name__)

MAX_RECORDS = 1000  # TF Serving's kMaxNumRecords


def read_requests(version_dir: str) -> List[predict_pb2.PredictRequest]:
    """The Predict requests of a version's warm-up file (empty when it ships none)."""
    path = contract.warmup_path(version_dir)
    if not os.path.isfile(path):
        return []
    requests, skipped = [], {}
    try:
        for number, record in enumerate(tf.data.TFRecordDataset(path).take(MAX_RECORDS + 1)):
            if number == MAX_RECORDS:
                raise ValueError(f"{path}: more than {MAX_RECORDS} warm-up records (TF Serving's limit)")
            entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            kind = entry.WhichOneof("log_type")
            if kind == "predict_log":
                requests.append(entry.predict_log.request)
            else:
                skipped[kind] = skipped.get(kind, 0) + 1
    except tf.errors.OpError as e:
        raise ValueError(f"{path} is not a TFRecord file of PredictionLog records: {e.message}") from None
    if skipped:
        log.warning("%s: skipped %s (only Predict warm-up records are replayed here)", path,
                    ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items())))
    return requests
