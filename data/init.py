"""Start a dataset from one CSV file: `python -m data.init FILE.csv --label COLUMN [--task ...] [--name NAME]`.

Creates data/<name>/ with the CSV (a UTF-8 byte-order mark stripped), a dataset.yaml whose
every key is written out with a comment, and a schema.pbtxt as TFDV would infer it, prepared
for curation. The look at the data that fills them in:
- the task, from the label (data.tasks), unless --task says;
- evaluation bounds a useful model must reach: better than always predicting the most
  frequent class, or than always predicting the median;
- columns that are empty, dates, free text, look like identifiers (a different value in nearly
  every row) or leaks (they predict the label almost alone), put in ignore_columns with the
  reason; numbers written with thousands separators or currency signs refused with the fix
  (data.column_types decides what a column holds);
- integer columns that are categories (`categorical`): few values, and a name or values that say so;
- the schema: the label and ignored columns kept out of the SERVING environment, numeric
  ranges widened beyond what the data shows, NaN and infinity forbidden in float features,
  missing values allowed in every feature (an empty column need not appear at all), drift
  and skew comparators on; each feature's decision written as a comment above it.
Nothing is written unless every check passes; an existing folder is never touched.
"""
from __future__ import annotations

import argparse
import codecs
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

import numpy as np
import pandas as pd

from data import column_types, csv_checks, schema_draft, tasks
from runs import exit_codes

# A column with a different value in at least this share of rows looks like an identifier.
IDENTIFIER_SHARE = 0.95
# One feature that predicts the label this well on its own is probably derived from it: a
# binary label's AUC at least 0.95 (score |AUC - 0.5| * 2), a quantity's |correlation|, or
# the share of rows a category's majority class gets right (0 = no better than the majority).
LEAK_SCORES = {tasks.BINARY: 0.9, tasks.MULTICLASS: 0.98, tasks.REGRESSION: 0.98}
# A column with a value in fewer rows than this (or this share of them) carries no signal.
MIN_IDENTIFIER_VALUES = 20
NEARLY_EMPTY_SHARE = 0.01
MAX_REGRESSION_ERROR_SHARE = 0.05  # error metrics: this share of the baseline error


@dataclass
class Plan:
    """What the quick look decided, with a reason for each choice."""

    name: str
    label: str
    target: tasks.Target
    ignore: Dict[str, str] = field(default_factory=dict)  # column -> reason
    categorical: Dict[str, str] = field(default_factory=dict)
    kept_numeric: Dict[str, str] = field(default_factory=dict)  # integers with few values that stay quantities
    metric: str = ""
    bound: Optional[float] = None
    max_regression: Optional[float] = None
    bound_reason: str = ""


def dataset_name(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_") or "dataset"


def copy_without_bom(source: str, target: str) -> bool:
    """Copy the CSV; True when a UTF-8 byte-order mark was stripped on the way."""
    with open(source, "rb") as f:
        had_bom = f.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8
        if not had_bom:
            f.seek(0)
        with open(target, "wb") as out:
            shutil.copyfileobj(f, out)
    return had_bom


@dataclass(frozen=True)
class Table:
    """The CSV read twice at C speed: every value as text, and with pandas' numeric columns as numbers."""

    text: pd.DataFrame
    typed: pd.DataFrame

    def numbers(self, column: str):
        """The column as numbers if every value is one (1.0 and 1 alike), else None."""
        typed = self.typed[column]
        return typed if typed.dtype.kind in "if" and typed.notna().any() else None


def read_table(path: str) -> Table:
    options = dict(keep_default_na=False, na_values=[""], encoding="utf-8-sig", low_memory=False)
    return Table(pd.read_csv(path, dtype=str, **options), pd.read_csv(path, **options))


def _leak_score(values, label, target: tasks.Target) -> float:
    """How well one column predicts the label alone: |AUC - 0.5| * 2 (binary), |r| (regression), purity."""
    present = values.notna() & label.notna()
    x, y = values[present], label[present]
    if len(x) < 10 or x.nunique() < 2:
        return 0.0
    if target.kind == tasks.REGRESSION:
        return float(abs(np.corrcoef(x.astype(float), y.astype(float))[0, 1])) if x.dtype != object else 0.0
    if x.dtype != object and target.kind == tasks.BINARY:
        positive = (y.map(lambda v: tasks.canonical_class(v, target_numeric(target))) == target.positive_class)
        ranks = x.rank()
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        if not n_pos or not n_neg:
            return 0.0
        auc = (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        return float(abs(auc - 0.5) * 2)
    if x.nunique() > len(x) / 10:
        return 0.0
    purity = pd.DataFrame({"x": x, "y": y}).value_counts().groupby(level=0).max().sum() / len(y)
    majority = y.value_counts().iloc[0] / len(y)
    return float((purity - majority) / (1 - majority)) if majority < 1 else 0.0


def target_numeric(target: tasks.Target) -> bool:
    return all(csv_checks.as_number(c) is not None for c in target.classes)


def plan(table: Table, name: str, label: str, target: tasks.Target, ignore: Sequence[str],
         source: str = "the CSV") -> Plan:
    """Ignored, categorical and evaluation choices from a quick look at the data (`source` names it in errors)."""
    result = Plan(name=name, label=label, target=target)
    for column in ignore:
        result.ignore[column] = "named with --ignore"
    for column in table.text.columns:
        if column == label or column in result.ignore:
            continue
        reason = _ignore_reason(table, column, label, target, source)
        if reason:
            result.ignore[column] = reason
            continue
        numbers = table.numbers(column)
        if numbers is not None and bool((numbers.dropna() % 1 == 0).all()):
            category = column_types.category_reason(column, numbers)
            if category:
                result.categorical[column] = category
            elif column_types.few_integers(numbers):
                result.kept_numeric[column] = (f"integer with {numbers.nunique()} distinct values, but neither its "
                                               "name nor its values say category")
    if len(result.ignore) == len(table.text.columns) - 1:
        reasons = "; ".join(f"{c}: {why}" for c, why in result.ignore.items())
        raise csv_checks.DataError(f"{source}: no column is left to learn '{label}' from ({reasons})")
    _evaluation(result, table.text[label].dropna())
    return result


def _ignore_reason(table: Table, column: str, label: str, target: tasks.Target, source: str) -> Optional[str]:
    """Why a column is not a feature (empty, a date, text, an identifier, a leak), or None."""
    values = table.text[column]
    present = int(values.notna().sum())
    if present == 0:
        return "empty: no value in any row"
    if present < NEARLY_EMPTY_SHARE * len(values):
        return f"nearly empty: a value in {present} of {len(values)} rows"
    if present < MIN_IDENTIFIER_VALUES:
        return f"too few values to learn from: {present} (at least {MIN_IDENTIFIER_VALUES} needed)"
    numbers = table.numbers(column)
    numeric = numbers is not None
    if not numeric:
        column_types.check_numbers_as_text(source, column, values)
        reason = column_types.date_reason(values) if column_types.is_date(values) \
            else column_types.free_text_reason(values)
        if reason:
            return reason
    distinct = values.nunique()
    if distinct >= IDENTIFIER_SHARE * present and (not numeric or bool((numbers.dropna() % 1 == 0).all())):
        return f"looks like an identifier: {distinct} distinct values in {present} rows"
    if not numeric:
        reason = column_types.mostly_distinct_reason(values, present)
        if reason:
            return reason
    leak = _leak_score(numbers if numeric else values, table.text[label], target)
    if leak >= LEAK_SCORES[target.kind]:
        return f"may leak the label: it predicts '{label}' almost alone (score {leak:.2f} of 1)"
    return None


def _evaluation(result: Plan, label) -> None:
    kind = result.target.kind
    result.metric = tasks.DEFAULT_METRIC[kind]
    if kind == tasks.REGRESSION:
        values = label.astype(float)
        baseline = float((values - values.median()).abs().mean())
        result.bound = schema_draft.significant(0.9 * baseline)
        result.max_regression = schema_draft.significant(MAX_REGRESSION_ERROR_SHARE * baseline)
        result.bound_reason = (f"10% below {baseline:.4g}, the error of always predicting the median "
                               f"{values.median():.4g}")
        return
    result.max_regression = tasks.UNIT_INTERVAL_MAX_REGRESSION
    if kind == tasks.BINARY:
        result.bound = 0.67
        result.bound_reason = "a third of the way from chance (0.5) to perfect (1.0)"
        return
    shares = label.value_counts(normalize=True)
    majority = float(shares.iloc[0])
    result.bound = round(majority + (1 - majority) / 3, 2)
    result.bound_reason = (f"a third of the way from always predicting '{shares.index[0]}' "
                           f"({majority:.2f}) to perfect (1.0)")


def _yaml_list(items: Dict[str, str], indent: str = "  ") -> str:
    if not items:
        return " []\n"
    return "\n" + "".join(f"{indent}- {json.dumps(k, ensure_ascii=False)}  # {reason}\n" for k, reason in items.items())


def dataset_yaml(p: Plan, csv_name: str, task_given: bool) -> str:
    target = p.target
    metric = tasks.find_metric(p.metric)
    task_note = "given with --task" if task_given else f"inferred: {target.reason}"
    lines = [
        f"# Written by python -m data.init from {csv_name}; every key is explained. Edit freely.",
        "# Dataset name: the pipeline is called <name>-pipeline.",
        f"name: {p.name}",
        "# The column to predict.",
        f"label: {json.dumps(p.label, ensure_ascii=False)}",
        f"# classification or regression ({task_note}); leave it out to infer it at every run.",
        f"task: {target.task}",
    ]
    if target.kind == tasks.BINARY:
        lines += ["# The class AUC, precision and recall are computed for (binary classification only).",
                  f"positive_class: {json.dumps(target.positive_class, ensure_ascii=False)}"]
    lines += [
        "# The served model's name: outputs/serving_model/<model_name>/<version>/.",
        f"model_name: {p.name}",
        "# Columns of the CSV that are not model features (a served model accepts and drops them);",
        "# remove a column from the list to make it a feature again.",
        f"ignore_columns:{_yaml_list(p.ignore)}".rstrip("\n"),
        "# Integer columns (also written 1.0, 2.0) that are categories, not quantities: a vocabulary",
        "# instead of scaling. Integers stay quantities unless few values and a name or values say category.",
    ] + [f"# Kept as quantities (add here to make a category): {json.dumps(c, ensure_ascii=False)}, {why}."
         for c, why in p.kept_numeric.items()] + [
        f"categorical:{_yaml_list(p.categorical)}".rstrip("\n"),
        "# Evaluation is reported overall and for each value of these columns.",
        "slice_by: []",
        "# When a trained model is good enough to push.",
        "evaluation:",
        f"  # {', '.join(m.name for m in tasks.METRICS if target.kind in m.kinds)} fit this task; "
        f"{metric.name}: {metric.direction}.",
        f"  metric: {p.metric}",
        f"  # A candidate is blessed only if {p.metric} is {'at least' if metric.higher_is_better else 'at most'}"
        " this value on the test split:",
        f"  # {p.bound_reason}.",
        f"  {metric.bound_key}: {p.bound}",
        "  # ... and at most this much worse than the model currently served (in the metric's unit).",
        f"  max_regression: {p.max_regression}",
    ]
    return "\n".join(lines) + "\n"


def create(csv_path: str, label: str, task: Optional[str], name: Optional[str], data_dir: str,
           ignore: Sequence[str] = (), out=sys.stdout) -> str:
    """Build the dataset folder beside its destination, then move it into place; returns its path."""
    name = name or dataset_name(csv_path)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise csv_checks.DataError(f"--name {name!r}: use lower-case letters, digits, '_' and '-' "
                                  "(it names the served model)")
    destination = os.path.join(data_dir, name)
    if os.path.exists(destination):
        raise csv_checks.DataError(f"{destination} already exists: choose another --name, or remove it first")
    if not os.path.isfile(csv_path):
        raise csv_checks.DataError(f"{csv_path}: no such file")
    # Every check reads the user's file, so every message names it; the copy is made once they pass.
    profile = csv_checks.scan([csv_path], label, csv_checks.COMMAND_LINE, bom_allowed=True)
    if profile.non_finite:
        column, where = next(iter(profile.non_finite.items()))
        raise csv_checks.DataError(f"column '{column}' has the non-finite value {where}: leave unknown values "
                                  "empty (an empty field is a missing value)")
    missing = [c for c in ignore if c not in profile.columns]
    if missing:
        raise csv_checks.DataError(f"--ignore names columns not in {csv_path}: {missing}")
    table = read_table(csv_path)
    if table.numbers(label) is None:
        column_types.check_numbers_as_text(csv_path, label, table.text[label])
    target = tasks.resolve(profile.label, task, fixes=csv_checks.COMMAND_LINE)
    the_plan = plan(table, name, label, target, ignore, csv_path)
    os.makedirs(data_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{name}-", dir=data_dir)
    try:
        copy = os.path.join(staging, os.path.basename(csv_path) if csv_path.endswith(".csv") else f"{name}.csv")
        stripped = copy_without_bom(csv_path, copy)
        with open(os.path.join(staging, "dataset.yaml"), "w", encoding="utf-8") as f:
            f.write(dataset_yaml(the_plan, os.path.basename(csv_path), bool(task)))
        with open(os.path.join(staging, "schema.pbtxt"), "w", encoding="utf-8") as f:
            f.write(schema_draft.schema_text(schema_draft.infer_schema(table, the_plan), the_plan))
        os.rename(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _report(the_plan, profile, destination, stripped, out)
    return destination


def _report(p: Plan, profile: csv_checks.DataProfile, destination: str, stripped: bool, out) -> None:
    print(f"Created {destination}/ from {profile.rows} rows: the CSV, dataset.yaml and schema.pbtxt", file=out)
    if stripped:
        print("  the UTF-8 byte-order mark at the start of the file was left out of the copy", file=out)
    print(f"  task: {p.target.kind} of '{p.label}'"
          + (f" (inferred: {p.target.reason})" if p.target.reason else ""), file=out)
    if profile.label.missing:
        print(f"  {profile.label.missing} rows have no '{p.label}' value: runs leave them out", file=out)
    for column, reason in p.ignore.items():
        print(f"  ignore_columns: {column} ({reason})", file=out)
    for column, reason in p.categorical.items():
        print(f"  categorical: {column} ({reason})", file=out)
    if p.kept_numeric:
        print(f"  numeric: {', '.join(p.kept_numeric)} (integers with few values, but neither name nor values say "
              "category; list any of them under categorical in dataset.yaml to change that)", file=out)
    metric = tasks.find_metric(p.metric)
    print(f"  evaluation: {p.metric} {'>=' if metric.higher_is_better else '<='} {p.bound} ({p.bound_reason})",
          file=out)
    print(f"Review {destination}/dataset.yaml and schema.pbtxt, then run:", file=out)
    print(f'  make run ARGS="--dataset {destination}"', file=out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", help="the CSV file (a header row, then one row per example)")
    parser.add_argument("--label", required=True, help="the column to predict")
    parser.add_argument("--task", choices=tasks.TASKS, help="default: inferred from the label column")
    parser.add_argument("--name", help="dataset and model name (default: from the file name)")
    parser.add_argument("--ignore", action="append", default=[], metavar="COLUMN",
                        help="a column that is not a feature (repeatable); identifiers and leaks are found anyway")
    parser.add_argument("--data-dir", default="data", help="where the dataset folder goes (default: data)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        create(args.csv, args.label, args.task, args.name, args.data_dir, args.ignore)
    except csv_checks.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
