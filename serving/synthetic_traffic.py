"""Test traffic from real rows: seeded sampling, and shifted copies to simulate drift.

Used by the client (`--sample`, `--shift`), the smoke test and the monitoring
demonstration; shifting only the named numeric features is what lets a test check
that drift is reported on exactly those features.
"""
from __future__ import annotations

import random
from typing import Any, Dict, List, Mapping, Sequence


def sample_rows(rows: Sequence[Mapping[str, Any]], n: int, seed: int = 0) -> List[Dict[str, Any]]:
    """n rows drawn with replacement, reproducibly."""
    if not rows:
        raise ValueError("cannot sample from zero rows")
    rng = random.Random(seed)
    return [dict(rows[rng.randrange(len(rows))]) for _ in range(n)]


def parse_shifts(specs: Sequence[str]) -> Dict[str, float]:
    """['bill_length_mm=6', ...] -> {'bill_length_mm': 6.0}."""
    shifts = {}
    for spec in specs:
        name, sep, delta = spec.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            shifts[name] = float(delta)
        except ValueError:
            raise ValueError(f"--shift expects FEATURE=NUMBER, got {spec!r}") from None
    return shifts


def shift_rows(rows: Sequence[Mapping[str, Any]], shifts: Mapping[str, float]) -> List[Dict[str, Any]]:
    """Copies of rows with each named numeric feature moved by its delta (missing stays missing).

    Integer features stay integers (rounded), so the schema's types still hold.
    """
    out = []
    for row in rows:
        row = dict(row)
        for name, delta in shifts.items():
            if name not in row:
                raise ValueError(f"cannot shift unknown feature {name!r}; rows have {sorted(row)}")
            value = row[name]
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"cannot shift non-numeric feature {name!r} (value {value!r})")
            row[name] = int(round(value + delta)) if isinstance(value, int) else value + delta
        out.append(row)
    return out


def push_toward(rows: Sequence[Mapping[str, Any]], name: str, value: Any, points: float,
                seed: int = 0) -> List[Dict[str, Any]]:
    """Copies of rows where `value` gains `points` of the feature's share (0.2 = 20 points).

    Each row takes `value` with probability points / (1 - its current share), so its
    share moves from s to s + points (other values, missing included, lose proportionally).
    """
    if not rows:
        return []
    share = sum(1 for row in rows if row.get(name) == value) / len(rows)
    if share + points > 1.0:
        raise ValueError(f"{name}={value!r} has a {share:.0%} share: it cannot gain {points:.0%} more")
    rng = random.Random(seed)
    probability = points / (1.0 - share)
    return [dict(row, **{name: value}) if rng.random() < probability else dict(row) for row in rows]
