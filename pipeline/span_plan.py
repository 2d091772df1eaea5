"""Which spans a run must ingest, and when a span folder is ready to be read.

A span is pending when no run ingested it, when its files changed since (ExampleGen's
own fingerprint of the files differs from the one recorded with its Examples), when it
was split otherwise than dataset.yaml's `splits` now say (e.g. before the test split
existed: every span of a window is split the same way), or when the run that ingested
it stopped before validating it. Spans already ingested are not
read again: their Examples are reused through the span window.
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from pipeline.config import PipelineConfig
from runs import spans as recorded


def fingerprint(config: PipelineConfig, span: int) -> str:
    """ExampleGen's fingerprint of a span's files (names, sizes, modification times), as it records it."""
    from tfx.components.example_gen import utils

    from pipeline.pipeline import input_config, range_config

    spanned = dataclasses.replace(config, ingest_span=span)
    value, _, _ = utils.calculate_splits_fingerprint_span_and_version(
        config.dataset.folder, input_config(spanned).splits, range_config(spanned))
    return value


def pending_spans(config: PipelineConfig, store, candidates: Optional[Iterable[int]] = None) -> List[int]:
    """Spans on disk (or `candidates`) that must be ingested, oldest first; [] for a folder without spans."""
    ingested = recorded.ingested_spans(store, config.pipeline_name)
    pending = []
    for span in sorted(config.dataset.spans if candidates is None else candidates):
        known = ingested.get(span)
        resplit = known is not None and known.splits is not None and known.splits != config.dataset.splits
        if known is None or known.valid is None or resplit or known.fingerprint != fingerprint(config, span):
            pending.append(span)
    return pending


def span_list(spans: Iterable[int]) -> str:
    """'1-3, 5' for [1, 2, 3, 5]."""
    ordered, parts = sorted(set(spans)), []
    for span in ordered:
        if parts and span == parts[-1][1] + 1:
            parts[-1][1] = span
        else:
            parts.append([span, span])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts) or "none"


def _snapshot(folder: str) -> Tuple[Tuple[str, int, int], ...]:
    """Every file under a span folder with its size and modification time."""
    entries = []
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                stat = os.stat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            entries.append((os.path.relpath(os.path.join(root, name), folder), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


@dataclass
class SettleWatch:
    """A span folder is ready once its files have stopped changing for `settle_seconds`.

    A folder seen for the first time counts as settled when its newest file is that old
    already (data that was there before the loop started); otherwise it must look the
    same across polls for that long, so a copy still in progress is never read.
    """

    settle_seconds: float
    clock: callable = time.time
    _seen: Dict[str, Tuple[tuple, float]] = field(default_factory=dict)

    def settled(self, folder: str) -> bool:
        snapshot, now = _snapshot(folder), self.clock()
        if not snapshot:
            return False
        previous = self._seen.get(folder)
        if previous is None or previous[0] != snapshot:
            newest = max(mtime for _, _, mtime in snapshot) / 1e9
            since = newest if previous is None else now
            self._seen[folder] = (snapshot, min(since, now))
        return now - self._seen[folder][1] >= self.settle_seconds
