"""The pipeline benchmark's report: the speed targets and their checks, the tables, the JSON file.

Everything here reads RunResults, as measured by benchmarks.pipeline_speed or loaded back
from the JSON file it writes; nothing here runs or measures anything. So an earlier
benchmark's numbers re-print anywhere, without the pipeline:

    python -m benchmarks.pipeline_speed --from-json bench.json
"""
from __future__ import annotations

import datetime
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from runs import exit_codes

BUNDLED = "bundled"

# Targets (issue 2, "Speed"), on the 2-core reference machine.
COLD_BUNDLED_MAX_S = 70.0
COLD_BUNDLED_AIM_S = 45.0
OFFICIAL_RATIO_MAX = 0.5
RERUN_MAX_S = 25.0
LARGE_ROWS = 1_000_000
LARGE_MAX_S = 15 * 60.0
LARGE_MAX_BYTES = 8 * 1024 ** 3

# local_runner.py's exit codes, short enough for a table cell.
EXIT_WORDS = {
    exit_codes.FAILED: "failed",
    exit_codes.BAD_INPUT: "bad config",
    exit_codes.ANOMALIES: "anomalies",
    exit_codes.NOT_BLESSED: "not blessed",
    exit_codes.SMOKE_FAILED: "smoke failed",
}
# The pipeline ran end to end and pushed: only the post-push smoke test may have failed.
PUSHED_EXIT_CODES = (exit_codes.OK, exit_codes.SMOKE_FAILED)


# ---------------------------------------------------------------------------
# Numbers as text

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


def fmt_seconds_unit(seconds: Optional[float]) -> str:
    """fmt_seconds with its unit, once: '12.3 s', '12m05.0s', '-'."""
    text = fmt_seconds(seconds)
    return text if text == "-" or text.endswith("s") else f"{text} s"


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


def format_components(components: Sequence[Dict[str, object]]) -> List[str]:
    """One line per component; for a single run."""
    lines = []
    for c in components:
        lines.append(f"  {c['node']:<32} {c['state']:<8} {fmt_seconds_unit(c.get('seconds')):>11}")
    return lines


def dataset_title(size: str, facts: Dict[str, object], schema_mode: Optional[str] = None) -> str:
    """A dataset table's title: size, rows, CSV bytes, the Beam mode auto picks (and the schema mode)."""
    title = (f"{human_rows(size)}: {facts['rows']} rows, {fmt_bytes(int(facts['csv_bytes']))} CSV, "
             f"auto mode -> {facts['auto_mode']}")
    return title + (f", schema {schema_mode}" if schema_mode else "")


# ---------------------------------------------------------------------------
# One measured run

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
        return self.exit_code == exit_codes.OK and not self.timed_out

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
    if run.exit_code == exit_codes.OK:
        return "ok"
    word = EXIT_WORDS.get(run.exit_code)
    return f"exit {run.exit_code}" + (f" {word}" if word else "")


# ---------------------------------------------------------------------------
# Tables

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


# ---------------------------------------------------------------------------
# Targets

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
                           f"{fmt_seconds_unit(cold.wall_s)} [{status_of(cold)}]{aim}"))
        checks["bundled_cold_s"] = {"value": cold.wall_s, "max": COLD_BUNDLED_MAX_S, "aim": COLD_BUNDLED_AIM_S,
                                    "passed": bool(passed)}
        if official is not None and official.completed and ok:
            ratio = cold.wall_s / official.wall_s
            lines.append(check(ratio <= OFFICIAL_RATIO_MAX,
                               f"bundled cold <= {OFFICIAL_RATIO_MAX} x official (same benchmark run): "
                               f"{fmt_seconds(cold.wall_s)} / {fmt_seconds_unit(official.wall_s)} = {ratio:.2f}"))
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
                                   f"{fmt_seconds_unit(rerun.wall_s)} [{status_of(rerun)}]"))
        checks["bundled_rerun_s"] = {"value": rerun.wall_s, "max": RERUN_MAX_S, "passed": bool(passed)}
        official_rerun = find_run(runs, BUNDLED, "re-run", "official")
        if official_rerun is not None and official_rerun.completed and ok:
            lines.append(f"         (official re-run in the same benchmark: {fmt_seconds_unit(official_rerun.wall_s)}, "
                         f"ratio {rerun.wall_s / official_rerun.wall_s:.2f})")
    for r in runs:
        if r.step in ("re-run", "re-run 1") and r.dataset != BUNDLED and r.role == "primary":
            lines.append(f"         (re-run at {human_rows(r.dataset)} rows: {fmt_seconds_unit(r.wall_s)} "
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
        parts = [f"{r.variant}: {fmt_seconds_unit(r.wall_s)}, {fmt_bytes(r.peak_rss_bytes)}, "
                 f"CPU {fmt_seconds_unit(r.cpu_s)} [{status_of(r)}]" for r in ours]
        verdict = ""
        done = [r for r in ours if r.completed and r.wall_s]
        if len(done) == len(ours):
            fastest = min(done, key=lambda r: r.wall_s)
            slowest = max(done, key=lambda r: r.wall_s)
            verdict = f" -> {fastest.variant} is {slowest.wall_s / fastest.wall_s:.2f}x faster"
        lines.append(f"  {human_rows(dataset)}: " + "; ".join(parts) + verdict)
    return lines


# ---------------------------------------------------------------------------
# The JSON file

def write_json(path, args, info, load_start, datasets, runs, checks, started) -> None:
    """All numbers so far (rewritten after every dataset; "complete" once the targets are checked)."""
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


def runs_from_json(path: str) -> Tuple[Dict[str, object], List[RunResult]]:
    """A benchmark JSON file back into RunResults (to re-print its tables and targets)."""
    with open(path) as f:
        payload = json.load(f)
    known = {f.name for f in fields(RunResult)}
    runs = [RunResult(**{k: (tuple(v) if k.startswith("load_") and isinstance(v, list) else v)
                         for k, v in r.items() if k in known}) for r in payload["runs"]]
    return payload, runs


def reprint(path: str) -> int:
    """The tables and target checks of a benchmark JSON file, as the benchmark printed them."""
    payload, runs = runs_from_json(path)
    for size, facts in payload["datasets"].items():
        group = [r for r in runs if r.dataset == size]
        order = {"primary": 0, "official": 1, "compare": 2}
        group.sort(key=lambda r: (order.get(r.role, 3), r.step != "cold", r.step))
        print("\n".join(format_table(dataset_title(size, facts), group)) + "\n")
    lines, _ = summarize(runs)
    print("\n".join(lines))
    start = payload.get("load_average_start") or [0, 0, 0]
    print(f"Load average at start {start[0]:.2f} {start[1]:.2f} {start[2]:.2f} (1/5/15 min); from {path}")
    return exit_codes.OK
