"""One benchmark run measured: its process tree's wall time, memory, CPU and load, then its
components' times as ML Metadata recorded them.

benchmarks/pipeline_speed.py and benchmarks/continuous_speed.py measure every run this way;
benchmarks/official_penguin.py reads its own run's components back with `read_latest_run`.
"""
from __future__ import annotations

import datetime
import os
import re
import resource
import subprocess
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from benchmarks.pipeline_report import RunResult
from runs import metadata
from runs.store import MetadataConfig, open_store

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE_WORDS = {"complete": "ran", "cached": "cached"}


def state_word(state: str) -> str:
    return STATE_WORDS.get(state, state)


def component_rows(executions: Iterable, registered: Sequence[str] = ()) -> List[Dict[str, object]]:
    """MLMD NodeExecutions (or dicts) -> [{node, state, seconds}], plus registered nodes as skipped."""
    rows: List[Dict[str, object]] = []
    for e in executions:
        if isinstance(e, dict):
            rows.append(dict(e))
        else:
            rows.append({"node": e.node_id, "state": state_word(e.state), "seconds": round(e.seconds, 3),
                         "start_ms": e.start_ms, "end_ms": e.end_ms})
    seen = {r["node"] for r in rows}
    rows.extend({"node": n, "state": "skipped", "seconds": None} for n in registered if n not in seen)
    return rows


def pipeline_span(components: Sequence[Dict[str, object]]) -> Optional[float]:
    """Seconds from the first component's start to the last one's end, per MLMD."""
    starts = [c["start_ms"] for c in components if c.get("start_ms")]
    ends = [c["end_ms"] for c in components if c.get("end_ms")]
    if not starts or not ends:
        return None
    return max(0.0, (max(ends) - min(starts)) / 1000.0)


IMPORTS_PATTERNS = (
    re.compile(r"\(imports took ([0-9.]+) s\)"),                 # local_runner.py's first line
    re.compile(r"imports\+setup ([0-9.]+) s"),                    # official_penguin.py's last line
)


def parse_imports_seconds(text: str) -> Optional[float]:
    """The import time a runner printed in its log, if it did."""
    for pattern in IMPORTS_PATTERNS:
        match = pattern.search(text)
        if match:
            return float(match.group(1))
    return None


# ---------------------------------------------------------------------------
# Measuring a process tree

def tree_rss(proc) -> Tuple[int, int]:
    """(sum of RSS in bytes, number of processes) over a psutil.Process and its descendants."""
    import psutil

    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0, 0
    total, count = 0, 0
    for p in procs:
        try:
            total += p.memory_info().rss
            count += 1
        except psutil.Error:  # exited between listing and reading
            pass
    return total, count


def measure(run: RunResult, cwd: str = REPO_ROOT, env: Optional[Dict[str, str]] = None,
            interval: float = 0.2, timeout: Optional[float] = None) -> RunResult:
    """Run run.command, logging to run.log; fill in wall time, peak RSS, CPU, load."""
    import psutil

    run.load_before = os.getloadavg()
    run.load_max_1m = run.load_before[0]
    run.started_at = datetime.datetime.now().isoformat(timespec="seconds")
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak, peak_count = 0, 0
    with open(run.log, "w") as log:
        start = time.monotonic()
        popen = subprocess.Popen(run.command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        proc = psutil.Process(popen.pid)
        last_load = start
        while True:
            rss, count = tree_rss(proc)
            peak, peak_count = max(peak, rss), max(peak_count, count)
            try:
                popen.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if now - last_load >= 5:
                run.load_max_1m = max(run.load_max_1m, os.getloadavg()[0])
                last_load = now
            if timeout is not None and now - start > timeout:
                run.timed_out = True
                _kill_tree(proc)
                popen.wait()
                break
        run.wall_s = time.monotonic() - start
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run.exit_code = popen.returncode
    run.peak_rss_bytes, run.peak_processes = peak, peak_count
    run.cpu_s = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    run.load_after = os.getloadavg()
    run.load_max_1m = max(run.load_max_1m, run.load_after[0])
    if not run.ok:
        run.error_tail = tail(run.log, 15)
    try:
        with open(run.log, errors="replace") as f:
            run.imports_s = parse_imports_seconds(f.read())
    except OSError:
        pass
    return run


def _kill_tree(proc) -> None:
    import psutil

    try:
        children = proc.children(recursive=True)
    except psutil.Error:
        children = []
    for p in [proc] + children:
        try:
            p.kill()
        except psutil.Error:
            pass


def tail(path: str, n: int) -> List[str]:
    try:
        with open(path, errors="replace") as f:
            return [line.rstrip("\n") for line in f.readlines()[-n:]]
    except OSError:
        return []


# ---------------------------------------------------------------------------
# Per-component times, from the run's ML Metadata store

def open_metadata(sqlite_path: str):
    """A run's SQLite store, read-only (a missing file is an error, not a new empty store)."""
    return open_store(MetadataConfig(sqlite_path=sqlite_path), readonly=True)


def latest_run(store, pipeline_name: str) -> Dict[str, object]:
    """The newest run of a pipeline: its id, components (skipped ones too) and span."""
    runs = metadata.pipeline_runs(store, pipeline_name)
    if not runs:
        return {"run_id": None, "components": [], "pipeline_s": None}
    overview = metadata.run_overview(store, runs[0])
    components = component_rows(overview.executions, overview.skipped)
    return {"run_id": runs[0], "components": components, "pipeline_s": pipeline_span(components)}


def read_latest_run(sqlite_path: str, pipeline_name: str) -> Dict[str, object]:
    """The newest run of a pipeline in a SQLite MLMD store: its components and span."""
    return latest_run(open_metadata(sqlite_path), pipeline_name)


def count_runs(sqlite_path: str, pipeline_name: str) -> int:
    """How many runs of the pipeline the store holds (0 before the first run made it)."""
    if not os.path.isfile(sqlite_path):
        return 0
    return len(metadata.pipeline_runs(open_metadata(sqlite_path), pipeline_name))


def fill_from_mlmd(run: RunResult, sqlite_path: str, pipeline_name: str, runs_before: int) -> None:
    try:
        store = open_metadata(sqlite_path)
        latest = latest_run(store, pipeline_name)
        count = len(metadata.pipeline_runs(store, pipeline_name))
    except Exception as e:  # a failed run may leave no store: the table says so
        run.mlmd_error = f"{type(e).__name__}: {e}"
        return
    if count <= runs_before:
        run.mlmd_error = "this run recorded no pipeline run in MLMD"
        return
    run.components = latest["components"]
    run.pipeline_s = latest["pipeline_s"]
