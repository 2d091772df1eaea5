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
side. On the bundled data our pipeline also runs in the other direct-runner mode
(multi_processing when auto picks in_memory) and through the portable runner (a local job
service and SDK worker pool, the path a Flink or Spark cluster takes) to show what the mode
choice is worth; --compare-modes-at adds that comparison at other sizes (e.g. 1000000).

Runs of one dataset are interleaved round-robin (all cold runs, then all re-runs),
so a burst of load from someone else hits the variants alike. This module plans and runs the
benchmark; benchmarks/run_measurement.py measures each run; benchmarks/pipeline_report.py checks
the targets and prints the tables.

Run from the repository root:

    python -m benchmarks.pipeline_speed                                   # bundled + official + 100k + 1M
    python -m benchmarks.pipeline_speed --sizes bundled --skip-official   # quick
    python -m benchmarks.pipeline_speed --compare-modes-at 1000000 --json bench.json
    python -m benchmarks.pipeline_speed --from-json bench.json            # re-print an earlier run
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from benchmarks.pipeline_report import (BUNDLED, RunResult, dataset_title, fmt_bytes, fmt_duration, fmt_seconds_unit,
                                        format_table, human_rows, reprint, status_of, summarize, write_json)
from benchmarks.run_measurement import count_runs, fill_from_mlmd, measure
from runs import exit_codes
from runs.layout import OutputLayout

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFICIAL_MODULE = "benchmarks.official_penguin"  # run with -m from REPO_ROOT
OFFICIAL_PIPELINE = "penguin_local_keras"        # its PIPELINE_NAME
DEFAULT_SIZES = "bundled,100000,1000000"


# ---------------------------------------------------------------------------
# Pure helpers (tested in tests/benchmarks/test_pipeline_speed.py)

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


def schedule(variants: Sequence[Sequence[object]]) -> List[object]:
    """Round-robin over the variants' step lists: every variant's 1st step, then every 2nd, ..."""
    order = []
    for i in range(max((len(v) for v in variants), default=0)):
        order.extend(v[i] for v in variants if i < len(v))
    return order


def other_mode(mode: str) -> str:
    return "multi_processing" if mode == "in_memory" else "in_memory"


def compare_modes(mode: str) -> List[str]:
    """The Beam modes measured beside the primary one: the other direct-runner mode, and the portable
    runner (job service + SDK worker processes, the cluster path)."""
    return [m for m in (other_mode(mode), "portable") if m != mode]


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
    from pipeline.config import DEFAULT_DATASET, load_config

    if size == BUNDLED:
        folder, gen_s = DEFAULT_DATASET, None
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


def _steps(variant: str, role: str, dataset: str, command: List[str], out: str, pipeline_name: str,
           work_dir: str, reruns: int) -> List[Step]:
    """A cold run into a fresh `out`, then `reruns` no-change re-runs; logs named after `out`."""
    steps = []
    for i, name in enumerate(step_names(reruns)):
        log = os.path.join(work_dir, "logs", f"{os.path.basename(out)}-{name.replace(' ', '')}.log")
        steps.append(Step(RunResult(variant, role, name, dataset, list(command), log),
                          OutputLayout(out).metadata_sqlite, pipeline_name, fresh_dir=out if i == 0 else None))
    return steps


def our_steps(size: str, folder: str, info: Dict[str, object], mode: str, label: str, role: str,
              work_dir: str, args, reruns: int) -> List[Step]:
    out = os.path.join(work_dir, f"ours-{human_rows(size)}-{mode}")
    command = [sys.executable, os.path.join(REPO_ROOT, "local_runner.py"), "--dataset", folder,
               "--output-dir", out, "--beam-mode", mode]
    if args.train_steps:
        command += ["--train-steps", str(args.train_steps)]
    command += ["--schema-mode", schema_mode_for(size, args)]
    return _steps(label, role, size, command, out, str(info["pipeline_name"]), work_dir, reruns)


def official_steps(work_dir: str, mode: str, args) -> List[Step]:
    out = os.path.join(work_dir, f"official-{mode}")
    command = [sys.executable, "-m", OFFICIAL_MODULE, "--work-dir", out, "--beam-mode", mode, "--no-report"]
    return _steps(f"official {mode}", "official", BUNDLED, command, out, OFFICIAL_PIPELINE, work_dir, args.reruns)


def run_step(step: Step, env: Dict[str, str], args, log) -> RunResult:
    if step.fresh_dir and os.path.exists(step.fresh_dir):
        shutil.rmtree(step.fresh_dir)
    before = count_runs(step.sqlite_path, step.pipeline_name)
    step.run.git_commit = git_commit()  # others commit while the benchmark runs
    load = os.getloadavg()
    log(f"{step.run.variant} / {human_rows(step.run.dataset)} / {step.run.step}: running "
        f"(load {load[0]:.2f}; log {step.run.log}) ...")
    measure(step.run, env=env, interval=args.sample_interval, timeout=args.timeout)
    fill_from_mlmd(step.run, step.sqlite_path, step.pipeline_name, before)
    r = step.run
    log(f"  -> {status_of(r)}: {fmt_seconds_unit(r.wall_s)} whole process, pipeline {fmt_seconds_unit(r.pipeline_s)}, "
        f"peak {fmt_bytes(r.peak_rss_bytes)} over {r.peak_processes} processes, CPU {fmt_seconds_unit(r.cpu_s)}")
    return r


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return ""


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline_speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                        help=f"comma-separated: 'bundled' and/or row counts (100000, 100k, 1M); "
                             f"default {DEFAULT_SIZES}")
    parser.add_argument("--beam-mode", default="auto",
                        choices=("auto", "in_memory", "multi_processing", "multi_threading", "portable"),
                        help="force our pipeline's Beam mode (default auto: what local_runner picks)")
    parser.add_argument("--compare-modes-at", type=parse_sizes, default=[],
                        help="also run ours in the other direct-runner mode and the portable runner at these "
                             "sizes (e.g. 1000000); the bundled data always gets this comparison")
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
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.from_json:
        return reprint(args.from_json)

    work_dir = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix="pipeline-bench-"))
    os.makedirs(os.path.join(work_dir, "logs"), exist_ok=True)
    json_path = os.path.abspath(args.json_path or os.path.join(work_dir, "benchmark.json"))
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # the venv's environment.pth sets the rest
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
            variants += [our_steps(size, folder, facts, other, f"ours {other}", "compare", work_dir, args,
                                   args.compare_reruns) for other in compare_modes(primary)]
        runs = [run_step(step, env, args, log) for step in schedule(variants)]
        all_runs.extend(runs)
        ordered = [s.run for v in variants for s in v]
        table = format_table(dataset_title(size, facts, schema_mode_for(size, args)), ordered)
        tables.extend(table + [""])
        print("\n".join([""] + table), flush=True)
        write_json(json_path, args, info, load_start, datasets, all_runs, None, started)

    summary_lines, checks = summarize(all_runs)
    load_end = os.getloadavg()
    print("", flush=True)
    print("\n".join(tables).rstrip("\n"))
    print("")
    print("\n".join(summary_lines))
    print(f"Load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
          f"at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} (1/5/15 min) on {info['cpus']} CPUs; "
          f"benchmark took {fmt_duration(time.monotonic() - started)}")
    write_json(json_path, args, info, load_start, datasets, all_runs, checks, started)
    print(f"Numbers: {json_path}; logs: {os.path.join(work_dir, 'logs')}")
    return exit_codes.OK if all(r.completed for r in all_runs) else exit_codes.FAILED


if __name__ == "__main__":
    sys.exit(main())
