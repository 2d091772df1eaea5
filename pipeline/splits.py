"""The three splits ExampleGen writes, and which component reads which.

Rows go to `train`, `eval` and `test` by a hash of each row (TFX's hash buckets), 70/15/15
unless dataset.yaml says otherwise (`splits: {train: 70, eval: 15, test: 15}`), so a row
stays in its split run after run and span after span. Transform analyses `train` only
(its vocabularies and scales never see a row the model is judged on) and transforms all
three; the Trainer (and a tuner) fits on `train` and stops early or picks
hyperparameters on `eval`; the Evaluator judges, and compares with the blessed model, on
`test` only: rows no choice was made on.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple

TRAIN, EVAL, TEST = "train", "eval", "test"
NAMES = (TRAIN, EVAL, TEST)
DEFAULT = ((TRAIN, 70), (EVAL, 15), (TEST, 15))
# A split expected to hold fewer rows than this is empty too often (hash buckets give each row a
# chance, not a quota: with n expected rows it stays empty about once in e**n runs).
MIN_EXPECTED_ROWS = 5

Splits = Tuple[Tuple[str, int], ...]


class SplitsError(ValueError):
    """dataset.yaml's `splits` is malformed; the message names the key and the fix."""


def parse(raw: Any) -> Splits:
    """`{train: 70, eval: 15, test: 15}` -> ((name, weight), ...) in train/eval/test order."""
    example = ", ".join(f"{name}: {weight}" for name, weight in DEFAULT)
    if not isinstance(raw, dict) or set(map(str, raw)) != set(NAMES):
        got = sorted(map(str, raw)) if isinstance(raw, dict) else repr(raw)
        raise SplitsError(f"splits must name exactly the three splits {list(NAMES)} with a weight each, got {got}: "
                          f"write e.g. splits: {{{example}}}")
    weights = {str(k): v for k, v in raw.items()}
    for name in NAMES:
        value = weights[name]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise SplitsError(f"splits.{name} must be a positive whole number (a weight, e.g. {dict(DEFAULT)[name]}), "
                              f"got {value!r}")
    return tuple((name, weights[name]) for name in NAMES)


def describe(splits: Splits) -> str:
    """'train 70%, eval 15%, test 15%'."""
    total = sum(w for _, w in splits)
    return ", ".join(f"{name} {100 * w / total:.3g}%" for name, w in splits)


def too_few_rows(splits: Splits, rows: int) -> Optional[str]:
    """Why `rows` labelled rows would leave a split empty too often, or None when each split can count on rows."""
    total = sum(w for _, w in splits)
    for name, weight in splits:
        expected = rows * weight / total
        if expected < MIN_EXPECTED_ROWS:
            needed = math.ceil(MIN_EXPECTED_ROWS * total / weight)
            return (f"the '{name}' split would get about {expected:.1f} of {rows} labelled rows "
                    f"({describe(splits)}; rows go to splits by hash, so it may well be empty): "
                    f"add rows (at least {needed}) or give '{name}' more weight in dataset.yaml's splits")
    return None
