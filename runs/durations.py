"""Durations as people type them on the command line: '30s', '10m', '6h', '1d' (plain numbers are seconds)."""
from __future__ import annotations

import re

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(text: str) -> float:
    """'6h' -> 21600.0; ValueError for anything else."""
    match = _DURATION.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration: use e.g. 30s, 10m, 6h, 1d")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


def text(value: float) -> str:
    """21600 -> '6h': the largest unit that divides it."""
    for unit in ("d", "h", "m"):
        if value >= UNIT_SECONDS[unit] and value % UNIT_SECONDS[unit] == 0:
            return f"{value / UNIT_SECONDS[unit]:g}{unit}"
    return f"{value:g}s"
