"""Which splits each component read, from the execution properties TFX records in ML Metadata.

Transform's `splits_config` (the splits it analyses, those it transforms), the Trainer's (and a
Tuner's) `train_args` and `eval_args`, the Evaluator's `example_splits`. A property left empty
means TFX's default, named here as TFX applies it: Transform analyses `train` and transforms
every split, the Trainer trains on `train` and evaluates on `eval`, the Evaluator judges on `eval`.
Cached executions record the same properties, so a cached run reads the same.
"""
from __future__ import annotations

import json
from typing import Dict, List

from runs import metadata

EVERY_SPLIT = "every split"


def _recorded(execution, name: str):
    value = metadata.custom_property(execution, name)
    return json.loads(value) if value not in (None, "", "null") else None


def splits_read(execution) -> Dict[str, List[str]]:
    """{use: [split, ...]}, e.g. {'analyze': ['train'], 'transform': ['train', 'eval', 'test']}; {} for others."""
    if execution is None:
        return {}
    names = set(execution.custom_properties)
    if "eval_config" in names:
        return {"evaluate": _recorded(execution, "example_splits") or ["eval"]}
    if "train_args" in names or "eval_args" in names:
        return {"train": (_recorded(execution, "train_args") or {}).get("splits") or ["train"],
                "eval": (_recorded(execution, "eval_args") or {}).get("splits") or ["eval"]}
    if "force_tf_compat_v1" in names:  # Transform's own property
        config = _recorded(execution, "splits_config") or {}
        return {"analyze": config.get("analyze") or ["train"], "transform": config.get("transform") or [EVERY_SPLIT]}
    return {}


def text(read: Dict[str, List[str]]) -> str:
    """'analyze: train; transform: train, eval, test' ('' when the component reads no named split)."""
    return "; ".join(f"{use}: {', '.join(splits)}" for use, splits in read.items())


def evaluated_on(store, evaluation_artifact) -> List[str]:
    """The splits the Evaluator judged a ModelEvaluation on (a cached one links to the execution that made it)."""
    producer = metadata.producer_execution(store, evaluation_artifact.id)
    return splits_read(producer).get("evaluate", [])


def evaluated_text(splits: List[str], examples) -> str:
    """'test (52 examples)'; '-' when unknown."""
    if not splits:
        return "-"
    count = f" ({examples:,} examples)" if examples is not None else ""
    return ", ".join(splits) + count
