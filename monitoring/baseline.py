"""What a window of traffic is compared with: the training split's values and TFDV statistics.

Found through the MLMD lineage of the served version (the train split of the examples that
trained it, and StatisticsGen's statistics of them), or given as rows (CSV files, or rows in
memory for the benchmark), whose statistics are then computed the way a window's are.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List

from monitoring.feature_columns import read_rows, schema_types
from runs import lineage
from runs.store import MetadataConfig, StoreError


class BaselineError(LookupError):
    """No training data to compare with; the message says where it looked."""


@dataclass
class Baseline:
    """What a window is compared with: the training split's values and its TFDV statistics."""

    columns: Dict[str, Any]  # feature -> monitoring.feature_columns.FeatureColumn
    statistics: Any  # DatasetFeatureStatisticsList
    description: Dict[str, Any]


def lineage_baseline(metadata_config: MetadataConfig, version_dir: str, features) -> Baseline:
    """The train split of the examples that trained `version_dir`, and StatisticsGen's statistics of it."""
    import tensorflow_data_validation as tfdv

    from monitoring.training_examples import TrainingDataError, training_columns
    from runs.store import open_store

    try:
        found = lineage.training_statistics(open_store(metadata_config, readonly=True), version_dir)
        columns = training_columns(found.examples_uri, schema_types(features))
    except (StoreError, lineage.LineageError, TrainingDataError) as e:
        raise BaselineError(f"{e} (or pass --baseline_data)") from None
    # The training split: what the model learned from (eval and test rows only judged it).
    return Baseline(columns, tfdv.load_stats_binary(found.path), {
        "data": found.examples_uri, "statistics": found.path, "split": lineage.TRAIN_SPLIT,
        "source": f"the '{lineage.TRAIN_SPLIT}' split, through the MLMD lineage of PushedModel artifact "
                  f"{found.pushed_model_artifact_id}"})


def rows_baseline(rows: List[Dict[str, Any]], features, description: Dict[str, Any]) -> Baseline:
    """Training rows given directly; their TFDV statistics are computed here, as the window's are."""
    from monitoring.tfdv_check import statistics_of

    types = schema_types(features)
    columns, values = read_rows(rows, types)
    return Baseline(columns, statistics_of(values, types), description)


def csv_baseline(paths: List[str], features) -> Baseline:
    """Training rows as CSV files (as a dataset folder holds them)."""
    from serving.contract import FeatureError

    rows = []
    for path in paths:
        try:
            rows.extend(features.read_csv(path))
        except (OSError, FeatureError) as e:
            raise BaselineError(f"cannot read --baseline_data {path}: {e}") from None
    if not rows:
        raise BaselineError(f"--baseline_data {', '.join(paths)} holds no rows")
    return rows_baseline(rows, features, {
        "data": [os.path.abspath(p) for p in paths], "statistics": "computed from --baseline_data",
        "source": "--baseline_data " + ", ".join(paths)})
