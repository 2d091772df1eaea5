"""Durations as people type them on the command line: '30s', '10m', '6h', '1d' (plain numbers are seconds).

The one reading of a duration for every command: the loop's --every and --poll, the monitors'
--window, and the moments --since/--until of the monitors (a duration back from now).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Optional

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


def moment(text: Optional[str], now: datetime) -> Optional[datetime]:
    """ISO 8601 (UTC if no zone) or a duration back from `now` ('30m', '2h', '90'); None stays None."""
    if text is None:
        return None
    if _DURATION.match(str(text).strip()):
        return now - timedelta(seconds=seconds(text))
    try:
        found = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot read time {text!r}: use ISO 8601 (2024-05-01T12:00:00) "
                         f"or a duration back from now (30m, 2h, 1d)") from None
    return found if found.tzinfo else found.replace(tzinfo=timezone.utc)
