"""Console output for people: one line per component as it finishes, then a summary.

TFX's local runner logs "Component X is running/finished" through absl; a logging
handler turns those into timed lines, and MLMD says whether the component really
ran, was served from cache, or was skipped (its inputs were gated off).
"""
from __future__ import annotations

import logging
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, TextIO

from runs import metadata

_RUNNING = re.compile(r"Component (\S+) is running\.")
_FINISHED = re.compile(r"Component (\S+) is finished\.")
_SKIPPING = re.compile(r"Skipping component (\S+)\.")  # outside a partial run's range
REUSED, NOT_RUN = "reused", "not run"
STATE_WORDS = {"complete": "ran", "cached": "cached", "failed": "FAILED"}


@dataclass
class ComponentResult:
    node_id: str
    state: str  # ran | cached | skipped | FAILED | INTERRUPTED
    seconds: float
    execution_id: Optional[int] = None


@dataclass
class RunProgress:
    """Collects per-component results while the runner works, printing each as it finishes."""

    store: "metadata.metadata_store.MetadataStore"
    pipeline_name: str
    after_execution_id: int
    out: TextIO = sys.stdout
    results: List[ComponentResult] = field(default_factory=list)
    running: Dict[str, float] = field(default_factory=dict)
    reused_nodes: FrozenSet[str] = frozenset()  # a partial run's nodes before its range

    def started(self, node_id: str) -> None:
        self.running[node_id] = time.monotonic()

    def finished(self, node_id: str) -> None:
        seconds = time.monotonic() - self.running.pop(node_id, time.monotonic())
        execution = metadata.latest_node_execution(self.store, self.pipeline_name, node_id,
                                                   self.after_execution_id)
        # No execution: the launcher skipped the component (its inputs were gated off).
        state = STATE_WORDS.get(execution.state, execution.state) if execution else "skipped"
        self._record(ComponentResult(node_id, state, seconds, execution.execution_id if execution else None))

    def outside_range(self, node_id: str) -> None:
        """A node a partial run skips: reused before its range (TFX publishes the cached execution when the
        range starts), not run after it."""
        self._record(ComponentResult(node_id, REUSED if node_id in self.reused_nodes else NOT_RUN, 0.0))

    def stopped_component(self, state: str = "FAILED") -> Optional[str]:
        """The component that was running when the run stopped (FAILED, or INTERRUPTED by a signal)."""
        if not self.running:
            return None
        node_id, start = next(iter(self.running.items()))
        self.running.clear()
        self._record(ComponentResult(node_id, state, time.monotonic() - start))
        return node_id

    def _record(self, result: ComponentResult) -> None:
        self.results.append(result)
        print(f"  {result.node_id:<34} {result.state:<8} {result.seconds:6.1f} s", file=self.out, flush=True)

    def counts(self) -> Dict[str, int]:
        counts: Dict[str, int] = {}
        for r in self.results:
            counts[r.state] = counts.get(r.state, 0) + 1
        return counts

    def execution_id(self, node_id: str) -> Optional[int]:
        result = next((r for r in self.results if r.node_id == node_id), None)
        if result is not None and result.state == REUSED and result.execution_id is None:
            execution = metadata.latest_node_execution(self.store, self.pipeline_name, node_id,
                                                       self.after_execution_id)
            result.execution_id = execution.execution_id if execution else None
        return result.execution_id if result else None


class ProgressHandler(logging.Handler):
    """Feeds TFX's component start/finish log lines into a RunProgress."""

    def __init__(self, progress: RunProgress):
        super().__init__(logging.INFO)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return
        if match := _RUNNING.match(message):
            self.progress.started(match.group(1))
        elif match := _FINISHED.match(message):
            self.progress.finished(match.group(1))
        elif match := _SKIPPING.match(message):
            self.progress.outside_range(match.group(1))
