"""Synthetic datasets shaped like a real one, at any size, optionally shifted.

Fits a simple per-class model to a dataset folder's CSV (class priors; per class,
the frequencies of each categorical column and a multivariate normal over the
numeric columns; each column's missing rate) and samples from it. The output is
a complete dataset folder (CSV + the source's dataset.yaml and schema.pbtxt), so
it runs with `local_runner.py --dataset OUT`.

    python -m data.generate --rows 100000 --out /tmp/penguins-100k
    python -m data.generate --rows 5000 --shift 1.5 --out /tmp/drifted   # drift demo
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
import yaml

from runs import exit_codes

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SOURCE = os.path.join(HERE, "penguins")
COPIED_FILES = ("dataset.yaml", "schema.pbtxt")
# Normal tails are clipped to the source's range plus this share of it each side:
# a million samples would otherwise include penguins no schema should accept.
SLACK = 0.05


@dataclass
class ClassModel:
    prior: float
    categorical: Dict[str, pd.Series]  # value -> probability
    mean: np.ndarray
    cov: np.ndarray


@dataclass
class DatasetModel:
    label: str
    label_values: List[str]
    classes: Dict[str, ClassModel]
    numeric: List[str]
    integer: List[str]
    categorical: List[str]
    marginal: Dict[str, pd.Series]  # other columns (e.g. year): value -> probability, label-independent
    missing: Dict[str, float]
    columns: List[str]
    rarest: Dict[str, str]  # categorical column -> its least frequent value in the source
    bounds: Dict[str, tuple]  # numeric column -> the source's range widened by 5% each side


def _read_source(folder: str):
    with open(os.path.join(folder, "dataset.yaml")) as f:
        label = yaml.safe_load(f)["label"]
    csvs = sorted(p for p in os.listdir(folder) if p.endswith(".csv"))
    if not csvs:
        raise FileNotFoundError(f"no CSV files in {folder}")
    frame = pd.concat([pd.read_csv(os.path.join(folder, p)) for p in csvs], ignore_index=True)
    if label not in frame.columns:
        raise ValueError(f"label column '{label}' is not in the CSV of {folder}")
    return label, frame


def fit(folder: str) -> DatasetModel:
    label, frame = _read_source(folder)
    frame = frame[frame[label].notna()]
    others = [c for c in frame.columns if c != label]
    numeric = [c for c in others if pd.api.types.is_numeric_dtype(frame[c]) and frame[c].nunique() > 5]
    integer = [c for c in numeric if np.allclose(frame[c].dropna() % 1, 0)]
    categorical = [c for c in others if c not in numeric and frame[c].dtype == object]
    marginal = {c: frame[c].dropna().value_counts(normalize=True)
                for c in others if c not in numeric and c not in categorical}
    classes = {}
    priors = frame[label].value_counts(normalize=True)
    for value, group in frame.groupby(label):
        complete = group[numeric].dropna()
        cov = np.cov(complete.to_numpy(dtype=float), rowvar=False) if len(complete) > 2 \
            else np.diag(frame[numeric].var().to_numpy())
        classes[value] = ClassModel(
            prior=float(priors[value]),
            categorical={c: group[c].dropna().value_counts(normalize=True) for c in categorical},
            mean=complete.mean().to_numpy(dtype=float),
            cov=np.atleast_2d(cov),
        )
    return DatasetModel(
        label=label, label_values=list(priors.index), classes=classes, numeric=numeric, integer=integer,
        categorical=categorical, marginal=marginal, missing={c: float(frame[c].isna().mean()) for c in others},
        columns=list(frame.columns),
        rarest={c: frame[c].value_counts().idxmin() for c in categorical},
        bounds={c: (frame[c].min() - SLACK * (frame[c].max() - frame[c].min()),
                    frame[c].max() + SLACK * (frame[c].max() - frame[c].min())) for c in numeric})


def sample(model: DatasetModel, rows: int, seed: int = 0, shift: float = 0.0,
           shift_features: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """`rows` rows from the fitted model.

    shift > 0 moves each shifted numeric feature by `shift` standard deviations
    and sets a `shift`/(1+shift) share of each shifted categorical column to the
    source's rarest value (both are what drift monitors should catch).
    """
    rng = np.random.default_rng(seed)
    shifted = set(shift_features) if shift_features else set(model.numeric) | set(model.categorical)
    unknown = shifted - set(model.numeric) - set(model.categorical)
    if unknown:
        raise ValueError(f"cannot shift {sorted(unknown)}: not numeric or categorical columns "
                         f"({model.numeric + model.categorical})")
    labels = rng.choice(model.label_values, size=rows, p=[model.classes[v].prior for v in model.label_values])
    frame = pd.DataFrame({model.label: labels})
    for column in model.numeric:
        frame[column] = 0.0
    for column in model.categorical:
        frame[column] = ""
    for value in model.label_values:
        idx = np.flatnonzero(labels == value)
        cm = model.classes[value]
        frame.loc[idx, model.numeric] = rng.multivariate_normal(cm.mean, cm.cov, size=len(idx), method="cholesky")
        for column in model.categorical:
            probs = cm.categorical[column]
            frame.loc[idx, column] = rng.choice(probs.index.to_numpy(), size=len(idx), p=probs.to_numpy())
    for column in model.numeric:
        frame[column] = frame[column].clip(*model.bounds[column])
    if shift > 0:
        for column in model.numeric:
            if column in shifted:
                frame[column] += shift * frame[column].std()
        for column in model.categorical:
            if column in shifted:
                frame.loc[rng.random(rows) < shift / (1 + shift), column] = model.rarest[column]
    for column in model.integer:
        frame[column] = frame[column].round().astype("Int64")
    for column, probs in model.marginal.items():
        frame[column] = rng.choice(probs.index.to_numpy(), size=rows, p=probs.to_numpy())
    for column, rate in model.missing.items():
        if rate > 0:
            frame.loc[rng.random(rows) < rate, column] = None
    return frame[model.columns]


def write_dataset(frame: pd.DataFrame, source: str, out: str) -> str:
    """A dataset folder at `out`: the CSV plus the source's config and schema. Refuses to overwrite."""
    if os.path.exists(out) and os.listdir(out):
        raise FileExistsError(f"{out} exists and is not empty; choose a new folder")
    os.makedirs(out, exist_ok=True)
    for name in COPIED_FILES:
        if os.path.exists(os.path.join(source, name)):
            shutil.copy(os.path.join(source, name), out)
    path = os.path.join(out, "data.csv")
    frame.to_csv(path, index=False, float_format="%.1f")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, required=True, help="number of rows to generate")
    parser.add_argument("--out", required=True, help="new dataset folder to write")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="dataset folder to imitate (default data/penguins)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shift", type=float, default=0.0,
                        help="distribution shift: numeric features move by this many standard deviations")
    parser.add_argument("--shift-features", nargs="+", metavar="COLUMN",
                        help="shift only these columns (default: every numeric and categorical column)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.rows <= 0:
        parser.error("--rows must be positive")
    try:
        model = fit(args.source)
        frame = sample(model, args.rows, args.seed, args.shift, args.shift_features)
        path = write_dataset(frame, args.source, args.out)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    print(f"wrote {len(frame)} rows to {path}")
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
