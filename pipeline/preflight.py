"""The data checked against the run's configuration, before the pipeline is built.

Every runner calls `check` first: it scans the dataset's CSV files (data.csv_checks),
settles the task and the classes from the label (data.tasks), checks that the metric
fits them, stops "NaN"/"inf" strings in numeric columns that the schema in force
does not allow, and data too small to fill every split (TFX writes an empty split, and
Transform then fails with "The input metadata is empty"). A problem is a ConfigError
with one line, raised before anything is written. A clean result gives the config with
the task and classes filled in.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import List, Optional, Tuple

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from data import csv_checks, tasks
from pipeline import splits
from pipeline.config import SCHEMA_FILE, ConfigError, PipelineConfig
from pipeline.tuning_config import check_values


@dataclass(frozen=True)
class DataCheck:
    """What the pre-flight check learned, for the console."""

    rows: int
    unlabelled: int
    target: tasks.Target
    task_given: bool

    def lines(self, config: PipelineConfig) -> List[str]:
        dataset = config.dataset
        task = f"{self.target.kind} of '{dataset.label}'"
        if self.target.positive_class is not None:
            task += f", positive class '{self.target.positive_class}'"
        elif self.target.task == tasks.CLASSIFICATION:
            task += f", {len(self.target.classes)} classes"
        if not self.task_given:
            task += f" (inferred: {self.target.reason}; set task: in dataset.yaml to choose)"
        out = [f"Task: {task}", f"Blessed if: {dataset.evaluation.describe()}"]
        if self.unlabelled:
            out.append(f"Label: {self.dropped_text(dataset.label)}")
        return out

    def dropped_text(self, label: str) -> str:
        return (f"{self.unlabelled} of {self.rows} rows have no '{label}' value; "
                "they are left out of training and evaluation")


def _schema(config: PipelineConfig):
    """The curated schema, or None when the run infers one."""
    if config.schema_mode != "curated":
        return None
    with open(config.dataset.schema_path) as f:
        try:
            return text_format.Parse(f.read(), schema_pb2.Schema())
        except text_format.ParseError as e:
            raise ConfigError(f"{config.dataset.schema_path} is not a valid schema: {e}") from None


def _non_finite_refusal(column: str, where: csv_checks.Where, schema) -> Optional[str]:
    """Why a NaN/inf value in a numeric column cannot go on, or None when the schema allows it."""
    fix = "leave unknown values empty (an empty field is a missing value)"
    if schema is None:
        return (f"column '{column}' has the non-finite value {where}: {fix}; only a curated schema that "
                "allows NaN/inf for the column accepts such values (see docs/own-data.md)")
    feature = next((f for f in schema.feature if f.name == column), None)
    if feature is None:
        return None  # not in the schema: the anomaly gate names the new column
    if feature.type != schema_pb2.FLOAT:
        return (f"column '{column}' has the non-finite value {where}, but the schema declares it a whole number: "
                f"{fix}")
    nan = csv_checks.NONFINITE.fullmatch(where.text).group(1).lower() == "nan"
    disallowed = feature.float_domain.disallow_nan if nan else feature.float_domain.disallow_inf
    if not disallowed:
        return None
    key = "disallow_nan" if nan else "disallow_inf"
    return (f"column '{column}' has the non-finite value {where}, which the schema forbids "
            f"(float_domain {{ {key}: true }}): {fix}, or set {key}: false for it in {SCHEMA_FILE} "
            "to let the model treat it as missing")


def _split_refusal(config: PipelineConfig, labelled_in) -> Optional[str]:
    """Why a split would likely be empty; each span is split on its own, so each span of the window counts."""
    dataset = config.dataset
    if not dataset.spanned:
        return splits.too_few_rows(dataset.splits, sum(labelled_in.values()))
    for span in dataset.window():
        folder = dataset.span_folder(span)
        rows = sum(n for path, n in labelled_in.items() if os.path.dirname(path) == folder)
        refusal = splits.too_few_rows(dataset.splits, rows)
        if refusal:
            return f"span {span}: {refusal}"
    return None


def check(config: PipelineConfig) -> Tuple[PipelineConfig, DataCheck]:
    """(the config with task and classes settled, what was learned); ConfigError with one line."""
    dataset = config.dataset
    try:
        profile = csv_checks.scan(dataset.csv_files, dataset.label)
        target = tasks.resolve(profile.label, dataset.task or None, dataset.positive_class or None)
        metric = dataset.evaluation.metric or tasks.DEFAULT_METRIC[target.kind]
        tasks.check_metric_fits(metric, target)
    except csv_checks.DataError as e:
        raise ConfigError(str(e)) from None
    evaluation = dataclasses.replace(dataset.evaluation, metric=metric)
    evaluation.validate(target.task)
    check_values(config.tuning)
    schema = _schema(config)
    for column, where in profile.non_finite.items():
        refusal = _non_finite_refusal(column, where, schema)
        if refusal:
            raise ConfigError(refusal)
    refusal = _split_refusal(config, profile.labelled_in)
    if refusal:
        raise ConfigError(refusal)
    checked = dataclasses.replace(dataset, task=target.task, classes=target.classes, evaluation=evaluation)
    result = DataCheck(rows=profile.rows, unlabelled=profile.label.missing, target=target,
                       task_given=bool(dataset.task))
    return dataclasses.replace(config, dataset=checked), result
