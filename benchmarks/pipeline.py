"""Pipeline benchmark: whole-process wall time, peak memory and per-component times.

For each dataset (the bundled data/penguins, and generated data at 100k and 1M rows
by default) runs `local_runner.py` as a subprocess twice into a fresh output dir: a
cold run, then a no-change re-run (cache on). For every run it measures
  - whole-process wall time (subprocess start to exit: imports included);
  - peak memory: the sum of RSS over the process tree (Beam multi_processing starts
    worker processes), sampled every --sample-interval seconds with psutil;
  - CPU seconds of the process tree (user + sys; less sensitive to other load);
  - per-component durations and states (ran / cached / skipped) from ML Metadata;
  - the load average before and after (the machine is shared: read numbers with it).

The official TFX penguin example (benchmarks/official_penguin.py) runs in the same
benchmark run, interleaved with ours, so the ratio ours/official is measured side by
side. On the bundled data our pipeline also runs in the other Beam mode
(multi_processing when auto picks in_memory) to show what the mode choice is worth;
--compare-modes-at adds that comparison at other sizes (e.g. 1000000).

Runs of one dataset are interleaved round-robin (all cold runs, then all re-runs),
so a burst of load from someone else hits the variants alike.

    python benchmarks/pipeline.py                                   # bundled + official + 100k + 1M
    python benchmarks/pipeline.py --sizes bundled --skip-official   # quick
    python benchmarks/pipeline.py --compare-modes-at 1000000 --json bench.json
"""
from __future__ import annotations

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path[:1]:
    sys.path.insert(0, REPO_ROOT)  # the repo's `pipeline` package, not this file

import argparse
import datetime
import json
import platform
import re
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

BUNDLED = "bundled"
BUNDLED_DATASET = os.path.join(REPO_ROOT, "data", "penguins")
OFFICIAL_SCRIPT = os.path.join(REPO_ROOT, "benchmarks", "official_penguin.py")
OFFICIAL_PIPELINE = "penguin_local_keras"
DEFAULT_SIZES = "bundled,100000,1000000"

# Targets (issue 2, "Speed"), on the 2-core reference machine.
COLD_BUNDLED_MAX_S = 70.0
COLD_BUNDLED_AIM_S = 45.0
OFFICIAL_RATIO_MAX = 0.5
RERUN_MAX_S = 25.0
LARGE_ROWS = 1_000_000
LARGE_MAX_S = 15 * 60.0
LARGE_MAX_BYTES = 8 * 1024 ** 3

STATE_WORDS = {"complete": "ran", "cached": "cached"}
# local_runner.py's exit codes (pipeline/summary.py), short enough for a table cell.
EXIT_WORDS = {1: "failed", 2: "bad config", 3: "anomalies", 4: "not blessed", 5: "smoke failed"}
PUSHED_EXIT_CODES = (0, 5)


# ---------------------------------------------------------------------------
# Pure helpers (tested in tests/test_benchmarks.py)

def parse_sizes(text: str) -> List[str]:
    """'bundled,100k,1M' -> ['bundled', '100000', '1000000'] (order kept, duplicates dropped)."""
    sizes: List[str] = []
    for item in (t.strip().lower() for t in text.split(",")):
        if not item:
            continue
        if item in (BUNDLED, "penguins"):
            value = BUNDLED
        else:
            multiplier = 1
            if item[-1] in "km":
                multiplier = 1000 if item[-1] == "k" else 1_000_000
                item = item[:-1]
            try:
                rows = int(float(item.replace("_", "")) * multiplier)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"size {item!r}: expected 'bundled' or a row count like 100000, 100k, 1M") from None
            if rows <= 0:
                raise argparse.ArgumentTypeError(f"size {item!r}: the row count must be positive")
            value = str(rows)
        if value not in sizes:
            sizes.append(value)
    return sizes


def human_rows(size: str) -> str:
    if size == BUNDLED:
        return BUNDLED
    rows = int(size)
    if rows >= 1_000_000 and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows >= 1000 and rows % 1000 == 0:
        return f"{rows // 1000}k"
    return str(rows)


def fmt_seconds(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds >= 600:
        return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"
    return f"{seconds:.1f}"


def fmt_duration(seconds: float) -> str:
    """With its unit: '39.4 s', '23 min 47 s'."""
    if seconds < 600:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(round(seconds % 60))} s"


def fmt_bytes(n: Optional[int]) -> str:
    if n is None:
        return "-"
    if n >= 1024 ** 3:
        return f"{n / 1024 ** 3:.2f} GB"
    return f"{n / 1024 ** 2:.0f} MB"


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


def format_components(components: Sequence[Dict[str, object]]) -> List[str]:
    """One line per component, slowest first marked; for a single run."""
    lines = []
    for c in components:
        lines.append(f"  {c['node']:<32} {c['state']:<8} {fmt_seconds(c.get('seconds')):>9} s")
    return lines


@dataclass
class RunResult:
    """One measured subprocess run."""

    variant: str            # e.g. "ours auto (in_memory)", "official multi_processing"
    role: str               # "primary" (ours, requested mode), "compare" (ours, other mode), "official"
    step: str               # "cold" or "re-run"
    dataset: str            # "bundled" or a row count
    command: List[str]
    log: str
    exit_code: Optional[int] = None
    timed_out: bool = False
    wall_s: Optional[float] = None
    peak_rss_bytes: Optional[int] = None
    peak_processes: Optional[int] = None
    cpu_s: Optional[float] = None
    load_before: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_max_1m: float = 0.0
    started_at: str = ""
    pipeline_s: Optional[float] = None
    imports_s: Optional[float] = None
    components: List[Dict[str, object]] = field(default_factory=list)
    error_tail: List[str] = field(default_factory=list)
    mlmd_error: str = ""

    git_commit: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def completed(self) -> bool:
        """The pipeline ran end to end and pushed (exit 5: only the post-push smoke test failed)."""
        return self.exit_code in PUSHED_EXIT_CODES and not self.timed_out

    def component_seconds(self, node: str) -> Optional[float]:
        for c in self.components:
            if c["node"] == node:
                return c.get("seconds")
        return None

    def cell(self, node: str) -> str:
        for c in self.components:
            if c["node"] == node:
                if c.get("seconds") is None:
                    return c["state"]
                return f"{fmt_seconds(c['seconds'])} {c['state']}"
        return ""


def status_of(run: Optional[RunResult]) -> str:
    if run is None:
        return "not run"
    if run.timed_out:
        return "timed out"
    if run.exit_code == 0:
        return "ok"
    word = EXIT_WORDS.get(run.exit_code)
    return f"exit {run.exit_code}" + (f" {word}" if word else "")


def node_order(runs: Sequence[RunResult]) -> List[str]:
    """Component ids in the order they first ran, across runs (so tables line up)."""
    order: List[str] = []
    for run in runs:
        for c in sorted(run.components, key=lambda c: (c.get("start_ms") or float("inf"))):
            if c["node"] not in order:
                order.append(c["node"])
    return order


def format_table(title: str, runs: Sequence[RunResult]) -> List[str]:
    """Runs side by side: whole-process numbers, then one row per component."""
    label_width = 34
    width = max([17] + [len(r.variant) + 2 for r in runs])
    head1 = " " * label_width + "".join(f"{r.variant:>{width}}" for r in runs)
    head2 = " " * label_width + "".join(f"{r.step:>{width}}" for r in runs)
    lines = [f"== {title} ==", head1, head2]

    def row(label: str, values: Iterable[str]) -> None:
        lines.append(f"{label:<{label_width}}" + "".join(f"{v:>{width}}" for v in values))

    row("status", (status_of(r) for r in runs))
    row("whole process (s)", (fmt_seconds(r.wall_s) for r in runs))
    row("imports, as printed (s)", (fmt_seconds(r.imports_s) for r in runs))
    row("pipeline in MLMD (s)", (fmt_seconds(r.pipeline_s) for r in runs))
    row("outside components (s)", (fmt_seconds(r.wall_s - r.pipeline_s)
                                   if r.wall_s is not None and r.pipeline_s is not None else "-" for r in runs))
    row("peak RSS, process tree", (fmt_bytes(r.peak_rss_bytes) for r in runs))
    row("peak processes", ("-" if r.peak_processes is None else str(r.peak_processes) for r in runs))
    row("CPU user+sys (s)", (fmt_seconds(r.cpu_s) for r in runs))
    row("load 1m before/max", (f"{r.load_before[0]:.1f}/{r.load_max_1m:.1f}" for r in runs))
    lines.append(f"{'component (s, state)':<{label_width}}")
    for node in node_order(runs):
        row(f"  {node[:label_width - 3]}", (r.cell(node) for r in runs))
    for r in runs:
        if not r.ok:
            lines.append(f"  ! {r.variant} {r.step}: {status_of(r)}; log {r.log}")
            lines.extend(f"    | {line}" for line in r.error_tail)
        if r.mlmd_error:
            lines.append(f"  ! {r.variant} {r.step}: could not read MLMD: {r.mlmd_error}")
    return lines


def check(passed: Optional[bool], text: str) -> str:
    mark = "n/a " if passed is None else ("PASS" if passed else "FAIL")
    return f"  [{mark}] {text}"


def find_run(runs: Sequence[RunResult], dataset: str, step: str, role: str = "primary") -> Optional[RunResult]:
    """`step` "re-run" finds the first no-change re-run, also when --reruns N names them "re-run 1".."""
    steps = (step, f"{step} 1") if step == "re-run" else (step,)
    return next((r for r in runs if r.dataset == dataset and r.step in steps and r.role == role), None)


def summarize(runs: Sequence[RunResult]) -> Tuple[List[str], Dict[str, object]]:
    """The target checks (on the primary runs); printable lines and a dict for the JSON file."""
    lines = ["== Targets (issue 2, Speed) =="]
    checks: Dict[str, object] = {}

    cold = find_run(runs, BUNDLED, "cold")
    official = find_run(runs, BUNDLED, "cold", "official")
    if cold is not None:
        ok = cold.completed and cold.wall_s is not None
        passed = ok and cold.wall_s <= COLD_BUNDLED_MAX_S
        aim = "" if not ok else (" (aim 45 s: met)" if cold.wall_s <= COLD_BUNDLED_AIM_S else " (aim 45 s: not yet)")
        lines.append(check(passed if ok else False,
                           f"bundled cold run <= {COLD_BUNDLED_MAX_S:.0f} s: "
                           f"{fmt_seconds(cold.wall_s)} s [{status_of(cold)}]{aim}"))
        checks["bundled_cold_s"] = {"value": cold.wall_s, "max": COLD_BUNDLED_MAX_S, "aim": COLD_BUNDLED_AIM_S,
                                    "passed": bool(passed)}
        if official is not None and official.completed and ok:
            ratio = cold.wall_s / official.wall_s
            lines.append(check(ratio <= OFFICIAL_RATIO_MAX,
                               f"bundled cold <= {OFFICIAL_RATIO_MAX} x official (same benchmark run): "
                               f"{fmt_seconds(cold.wall_s)} / {fmt_seconds(official.wall_s)} s = {ratio:.2f}"))
            checks["ours_over_official"] = {"value": ratio, "max": OFFICIAL_RATIO_MAX,
                                            "ours_s": cold.wall_s, "official_s": official.wall_s,
                                            "passed": ratio <= OFFICIAL_RATIO_MAX}
        elif official is not None:
            lines.append(check(None, f"ratio to official: official run {status_of(official)} "
                                     f"(see its log {official.log})"))
        else:
            lines.append(check(None, "ratio to official: not measured (--skip-official)"))
    rerun = find_run(runs, BUNDLED, "re-run")
    if rerun is not None:
        ok = rerun.completed and rerun.wall_s is not None
        passed = ok and rerun.wall_s < RERUN_MAX_S
        lines.append(check(passed, f"bundled no-change re-run < {RERUN_MAX_S:.0f} s: "
                                   f"{fmt_seconds(rerun.wall_s)} s [{status_of(rerun)}]"))
        checks["bundled_rerun_s"] = {"value": rerun.wall_s, "max": RERUN_MAX_S, "passed": bool(passed)}
        official_rerun = find_run(runs, BUNDLED, "re-run", "official")
        if official_rerun is not None and official_rerun.completed and ok:
            lines.append(f"         (official re-run in the same benchmark: {fmt_seconds(official_rerun.wall_s)} s, "
                         f"ratio {rerun.wall_s / official_rerun.wall_s:.2f})")
    for r in runs:
        if r.step in ("re-run", "re-run 1") and r.dataset != BUNDLED and r.role == "primary":
            lines.append(f"         (re-run at {human_rows(r.dataset)} rows: {fmt_seconds(r.wall_s)} s "
                         f"[{status_of(r)}], not a target)")
    large = find_run(runs, str(LARGE_ROWS), "cold")
    if large is not None:
        ok = large.completed and large.wall_s is not None
        passed_t = ok and large.wall_s < LARGE_MAX_S
        passed_m = large.peak_rss_bytes is not None and large.peak_rss_bytes < LARGE_MAX_BYTES and ok
        lines.append(check(passed_t, f"1M rows cold end to end < 15 min: {fmt_duration(large.wall_s or 0)} "
                                     f"[{status_of(large)}]"))
        lines.append(check(passed_m, f"1M rows peak memory (RSS sum over the process tree) < 8 GB: "
                                     f"{fmt_bytes(large.peak_rss_bytes)}"))
        checks["large_cold_s"] = {"value": large.wall_s, "max": LARGE_MAX_S, "passed": bool(passed_t)}
        checks["large_peak_bytes"] = {"value": large.peak_rss_bytes, "max": LARGE_MAX_BYTES,
                                      "passed": bool(passed_m)}
    comparisons = mode_comparisons(runs)
    if comparisons:
        lines.append("== Beam mode, side by side (cold runs, whole process) ==")
        lines.extend(comparisons)
    checks["all_passed"] = all(v["passed"] for v in checks.values() if isinstance(v, dict))
    return lines, checks


def mode_comparisons(runs: Sequence[RunResult]) -> List[str]:
    lines = []
    datasets = []
    for r in runs:
        if r.dataset not in datasets:
            datasets.append(r.dataset)
    for dataset in datasets:
        ours = [r for r in runs if r.dataset == dataset and r.step == "cold" and r.role != "official"]
        if len(ours) < 2:
            continue
        parts = [f"{r.variant}: {fmt_seconds(r.wall_s)} s, {fmt_bytes(r.peak_rss_bytes)}, "
                 f"CPU {fmt_seconds(r.cpu_s)} s [{status_of(r)}]" for r in ours]
        verdict = ""
        done = [r for r in ours if r.completed and r.wall_s]
        if len(done) == len(ours):
            fastest = min(done, key=lambda r: r.wall_s)
            slowest = max(done, key=lambda r: r.wall_s)
            verdict = f" -> {fastest.variant} is {slowest.wall_s / fastest.wall_s:.2f}x faster"
        lines.append(f"  {human_rows(dataset)}: " + "; ".join(parts) + verdict)
    return lines


def schedule(variants: Sequence[Sequence[object]]) -> List[object]:
    """Round-robin over the variants' step lists: every variant's 1st step, then every 2nd, ..."""
    order = []
    for i in range(max((len(v) for v in variants), default=0)):
        order.extend(v[i] for v in variants if i < len(v))
    return order


def other_mode(mode: str) -> str:
    return "multi_processing" if mode == "in_memory" else "in_memory"


# ---------------------------------------------------------------------------
# Measuring

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


def read_latest_run(sqlite_path: str, pipeline_name: str) -> Dict[str, object]:
    """The newest run of a pipeline in a SQLite MLMD store: its components and span."""
    from ml_metadata.proto import metadata_store_pb2

    from runs import metadata

    if not os.path.isfile(sqlite_path):
        raise FileNotFoundError(f"no metadata store at {sqlite_path}")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = sqlite_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata.connect(config)
    try:
        runs = metadata.pipeline_runs(store, pipeline_name)
        if not runs:
            return {"run_id": None, "components": [], "pipeline_s": None}
        executions = metadata.run_executions(store, runs[0], pipeline_name)
        components = component_rows(executions, metadata.pipeline_nodes(store, pipeline_name))
        return {"run_id": runs[0], "components": components, "pipeline_s": pipeline_span(components)}
    finally:
        del store


def fill_from_mlmd(run: RunResult, sqlite_path: str, pipeline_name: str, runs_before: int) -> None:
    try:
        latest = read_latest_run(sqlite_path, pipeline_name)
        count = _count_runs(sqlite_path, pipeline_name)
    except Exception as e:  # a failed run may leave no store: the table says so
        run.mlmd_error = f"{type(e).__name__}: {e}"
        return
    if count <= runs_before:
        run.mlmd_error = "this run recorded no pipeline run in MLMD"
        return
    run.components = latest["components"]
    run.pipeline_s = latest["pipeline_s"]


def _count_runs(sqlite_path: str, pipeline_name: str) -> int:
    if not os.path.isfile(sqlite_path):
        return 0
    from ml_metadata.proto import metadata_store_pb2

    from runs import metadata

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = sqlite_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata.connect(config)
    try:
        return len(metadata.pipeline_runs(store, pipeline_name))
    finally:
        del store


# ---------------------------------------------------------------------------
# The benchmark

@dataclass
class Step:
    """A run to do: which command, into which output dir, read back from which store."""

    run: RunResult
    sqlite_path: str
    pipeline_name: str
    fresh_dir: Optional[str] = None  # removed before a cold run


def dataset_for(size: str, work_dir: str, seed: int, python: str, log) -> Tuple[str, Dict[str, object]]:
    """The dataset folder for a size (generating it once per work dir) and facts about it."""
    if size == BUNDLED:
        folder, gen_s = BUNDLED_DATASET, None
    else:
        folder = os.path.join(work_dir, f"data-{human_rows(size)}")
        gen_s = None
        if not os.path.isfile(os.path.join(folder, "dataset.yaml")):
            if os.path.isdir(folder):
                shutil.rmtree(folder)
            start = time.monotonic()
            log(f"generating {size} rows into {folder} ...")
            subprocess.run([python, "-m", "data.generate", "--rows", size, "--out", folder, "--seed", str(seed)],
                           cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
            gen_s = time.monotonic() - start
    from pipeline.config import load_config

    config = load_config(None, {"dataset": folder, "output_dir": os.path.join(work_dir, "unused")})
    with open(config.dataset.csv_files[0]) as f:
        rows = sum(1 for _ in f) - 1
    info = {"folder": folder, "rows": rows, "csv_bytes": config.dataset.data_bytes,
            "auto_mode": config.resolved_beam_mode(), "pipeline_name": config.pipeline_name,
            "generate_s": gen_s}
    return folder, info


def schema_mode_for(size: str, args) -> str:
    """The bundled data runs against its curated schema; generated data as --generated-schema-mode says.

    Curated by default (the path users run). Before the generator clipped its tails to the
    source's range, ExampleValidator stopped curated runs at 100k+ rows before training;
    'inferred' times the pipeline end to end on data that does not fit the curated schema.
    """
    return "curated" if size == BUNDLED else args.generated_schema_mode


def step_names(reruns: int) -> List[str]:
    return ["cold"] + (["re-run"] if reruns == 1 else [f"re-run {i + 1}" for i in range(reruns)])


def our_steps(size: str, folder: str, info: Dict[str, object], mode: str, label: str, role: str,
              work_dir: str, args, reruns: int) -> List[Step]:
    out = os.path.join(work_dir, f"ours-{human_rows(size)}-{mode}")
    command = [sys.executable, os.path.join(REPO_ROOT, "local_runner.py"), "--dataset", folder,
               "--output-dir", out, "--beam-mode", mode]
    if args.train_steps:
        command += ["--train-steps", str(args.train_steps)]
    command += ["--schema-mode", schema_mode_for(size, args)]
    sqlite_path = os.path.join(out, "metadata.sqlite")
    steps = []
    for i, name in enumerate(step_names(reruns)):
        log = os.path.join(work_dir, "logs", f"ours-{human_rows(size)}-{mode}-{name.replace(' ', '')}.log")
        steps.append(Step(RunResult(label, role, name, size, list(command), log),
                          sqlite_path, str(info["pipeline_name"]), fresh_dir=out if i == 0 else None))
    return steps


def official_steps(work_dir: str, mode: str, args) -> List[Step]:
    out = os.path.join(work_dir, f"official-{mode}")
    command = [sys.executable, OFFICIAL_SCRIPT, "--work-dir", out, "--beam-mode", mode, "--no-report"]
    steps = []
    for i, name in enumerate(step_names(args.reruns)):
        log = os.path.join(work_dir, "logs", f"official-{mode}-{name.replace(' ', '')}.log")
        steps.append(Step(RunResult(f"official {mode}", "official", name, BUNDLED, list(command), log),
                          os.path.join(out, "metadata.sqlite"), OFFICIAL_PIPELINE,
                          fresh_dir=out if i == 0 else None))
    return steps


def run_step(step: Step, env: Dict[str, str], args, log) -> RunResult:
    if step.fresh_dir and os.path.exists(step.fresh_dir):
        shutil.rmtree(step.fresh_dir)
    before = _count_runs(step.sqlite_path, step.pipeline_name)
    step.run.git_commit = git_commit()  # others commit while the benchmark runs
    load = os.getloadavg()
    log(f"{step.run.variant} / {human_rows(step.run.dataset)} / {step.run.step}: running "
        f"(load {load[0]:.2f}; log {step.run.log}) ...")
    measure(step.run, env=env, interval=args.sample_interval, timeout=args.timeout)
    fill_from_mlmd(step.run, step.sqlite_path, step.pipeline_name, before)
    r = step.run
    log(f"  -> {status_of(r)}: {fmt_seconds(r.wall_s)} s whole process, pipeline {fmt_seconds(r.pipeline_s)} s, "
        f"peak {fmt_bytes(r.peak_rss_bytes)} over {r.peak_processes} processes, CPU {fmt_seconds(r.cpu_s)} s")
    return r


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return ""


def runs_from_json(path: str) -> Tuple[Dict[str, object], List[RunResult]]:
    """A benchmark JSON file back into RunResults (to re-print its tables and targets)."""
    with open(path) as f:
        payload = json.load(f)
    known = {f.name for f in fields(RunResult)}
    runs = [RunResult(**{k: (tuple(v) if k.startswith("load_") and isinstance(v, list) else v)
                         for k, v in r.items() if k in known}) for r in payload["runs"]]
    return payload, runs


def reprint(path: str) -> int:
    payload, runs = runs_from_json(path)
    for size, facts in payload["datasets"].items():
        group = [r for r in runs if r.dataset == size]
        order = {"primary": 0, "official": 1, "compare": 2}
        group.sort(key=lambda r: (order.get(r.role, 3), r.step != "cold", r.step))
        title = (f"{human_rows(size)}: {facts['rows']} rows, {fmt_bytes(int(facts['csv_bytes']))} CSV, "
                 f"auto mode -> {facts['auto_mode']}")
        print("\n".join(format_table(title, group)) + "\n")
    lines, _ = summarize(runs)
    print("\n".join(lines))
    start = payload.get("load_average_start") or [0, 0, 0]
    print(f"Load average at start {start[0]:.2f} {start[1]:.2f} {start[2]:.2f} (1/5/15 min); from {path}")
    return 0


def machine_info() -> Dict[str, object]:
    import psutil

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                                    capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = "", None
    return {"cpus": os.cpu_count(), "memory_bytes": psutil.virtual_memory().total,
            "python": platform.python_version(), "platform": platform.platform(),
            "git_commit": commit, "git_dirty": dirty}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                        help=f"comma-separated: 'bundled' and/or row counts (100000, 100k, 1M); "
                             f"default {DEFAULT_SIZES}")
    parser.add_argument("--beam-mode", default="auto",
                        choices=("auto", "in_memory", "multi_processing", "multi_threading"),
                        help="force our pipeline's Beam mode (default auto: what local_runner picks)")
    parser.add_argument("--compare-modes-at", type=parse_sizes, default=[],
                        help="also run ours in the other Beam mode at these sizes (e.g. 1000000); "
                             "the bundled data always gets this comparison")
    parser.add_argument("--skip-official", action="store_true", help="do not run the official TFX example")
    parser.add_argument("--official-mode", default="multi_processing", choices=("multi_processing", "in_memory"),
                        help="the official example's Beam mode (default: its own default, multi_processing)")
    parser.add_argument("--reruns", type=int, default=1, help="no-change re-runs after each cold run (default 1)")
    parser.add_argument("--compare-reruns", type=int, default=0,
                        help="no-change re-runs for the mode-comparison runs too (default 0: cold only)")
    parser.add_argument("--generated-schema-mode", default="curated", choices=("curated", "inferred"),
                        help="schema mode for generated datasets (default curated; 'inferred' for data that "
                             "does not fit the curated schema, which would stop the run before training)")
    parser.add_argument("--train-steps", type=int, help="pass --train-steps to local_runner.py")
    parser.add_argument("--work-dir", help="datasets, output dirs and logs (default: a new temp dir, kept)")
    parser.add_argument("--json", dest="json_path", help="write all numbers here (default <work-dir>/benchmark.json)")
    parser.add_argument("--from-json", metavar="PATH",
                        help="only re-print the tables and target checks of an earlier benchmark's JSON file")
    parser.add_argument("--sample-interval", type=float, default=0.2, help="memory sampling period in s")
    parser.add_argument("--timeout", type=float, default=45 * 60, help="kill a run after this many s (default 2700)")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated datasets")
    args = parser.parse_args(argv)
    if args.from_json:
        return reprint(args.from_json)

    work_dir = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix="pipeline-bench-"))
    os.makedirs(os.path.join(work_dir, "logs"), exist_ok=True)
    json_path = os.path.abspath(args.json_path or os.path.join(work_dir, "benchmark.json"))
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", PYTHONUNBUFFERED="1")
    started = time.monotonic()
    load_start = os.getloadavg()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {message}", flush=True)

    info = machine_info()
    print(f"Pipeline benchmark: {info['cpus']} CPUs, {fmt_bytes(info['memory_bytes'])} RAM, "
          f"load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} (1/5/15 min); "
          f"commit {info['git_commit'][:10]}{' (dirty)' if info['git_dirty'] else ''}; work dir {work_dir}",
          flush=True)

    all_runs: List[RunResult] = []
    datasets: Dict[str, Dict[str, object]] = {}
    tables: List[str] = []
    for size in args.sizes:
        folder, facts = dataset_for(size, work_dir, args.seed, sys.executable, log)
        datasets[size] = facts
        primary = facts["auto_mode"] if args.beam_mode == "auto" else args.beam_mode
        variants = [our_steps(size, folder, facts, args.beam_mode,
                              f"ours {args.beam_mode} ({primary})", "primary", work_dir, args, args.reruns)]
        if size == BUNDLED and not args.skip_official:
            variants.append(official_steps(work_dir, args.official_mode, args))
        if size == BUNDLED or size in args.compare_modes_at:
            other = other_mode(primary)
            variants.append(our_steps(size, folder, facts, other, f"ours {other}", "compare", work_dir, args,
                                      args.compare_reruns))
        runs = [run_step(step, env, args, log) for step in schedule(variants)]
        all_runs.extend(runs)
        ordered = [s.run for v in variants for s in v]
        title = (f"{human_rows(size)}: {facts['rows']} rows, {fmt_bytes(int(facts['csv_bytes']))} CSV, "
                 f"auto mode -> {facts['auto_mode']}, schema {schema_mode_for(size, args)}")
        table = format_table(title, ordered)
        tables.extend(table + [""])
        print("\n".join([""] + table), flush=True)
        _write_json(json_path, args, info, load_start, datasets, all_runs, None, started)

    summary_lines, checks = summarize(all_runs)
    load_end = os.getloadavg()
    print("", flush=True)
    print("\n".join(tables).rstrip("\n"))
    print("")
    print("\n".join(summary_lines))
    print(f"Load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
          f"at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} (1/5/15 min) on {info['cpus']} CPUs; "
          f"benchmark took {fmt_duration(time.monotonic() - started)}")
    _write_json(json_path, args, info, load_start, datasets, all_runs, checks, started)
    print(f"Numbers: {json_path}; logs: {os.path.join(work_dir, 'logs')}")
    return 0 if all(r.completed for r in all_runs) else 1


def _write_json(path, args, info, load_start, datasets, runs, checks, started) -> None:
    payload = {
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "arguments": {k: v for k, v in vars(args).items()},
        "machine": info,
        "load_average_start": load_start,
        "load_average_now": os.getloadavg(),
        "elapsed_s": time.monotonic() - started,
        "datasets": datasets,
        "runs": [asdict(r) for r in runs],
        "targets": checks,
        "complete": checks is not None,
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, default=str)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
