"""Partial-run benchmark: `local_runner.py --from Trainer` against a whole re-run, after a model change.

    python -m benchmarks.partial_run --repeats 2

The cache cannot see model code (the pipeline names it by dotted path, so a changed
models/model.py leaves the Trainer's cache key unchanged): after a model change a whole re-run
is `--no-cache`, and `--from Trainer` is the partial run. Both start from copies of one finished
run, alternate, and are measured like benchmarks/pipeline_speed.py (whole process, peak memory,
component times from ML Metadata, the load around them: the machine is shared). Target: the
partial run takes at most 0.6x the whole re-run's time.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import asdict
from typing import List

from benchmarks.pipeline_report import RunResult, check, format_table
from benchmarks.run_measurement import count_runs, fill_from_mlmd, measure
from pipeline.config import load_config

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = 0.6
VARIANTS = (("whole re-run", ["--no-cache"]), ("--from Trainer", ["--from", "Trainer"]))


def _run(workdir: str, name: str, output: str, flags: List[str], step: str) -> RunResult:
    config = load_config(None, {"output_dir": output})
    command = [sys.executable, "local_runner.py", "--output-dir", output, "--no-smoke-test", *flags]
    run = RunResult(variant=name, role="primary", step=step, dataset="bundled", command=command,
                    log=os.path.join(workdir, f"{name.replace(' ', '_').strip('-')}-{step}.log"))
    before = count_runs(config.metadata.sqlite_path, config.pipeline_name)
    measure(run)
    fill_from_mlmd(run, config.metadata.sqlite_path, config.pipeline_name, before)
    print(f"{name} ({step}): {run.wall_s:.1f} s, exit {run.exit_code}", flush=True)
    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.partial_run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, metavar="N", help="pairs of runs, alternated (default 2)")
    parser.add_argument("--workdir", metavar="DIR", help="where outputs and logs go (default: a temporary folder)")
    parser.add_argument("--json", metavar="FILE", help="also write every measurement as JSON")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="partial-bench-")
    os.makedirs(workdir, exist_ok=True)
    finished = os.path.join(workdir, "finished")
    first = _run(workdir, "first run", finished, [], "history")
    if not first.ok:
        print("\n".join(format_table("the first run failed", [first])))
        return 1
    runs = []
    for repeat in range(1, args.repeats + 1):
        for name, flags in VARIANTS if repeat % 2 else VARIANTS[::-1]:
            output = os.path.join(workdir, f"{name.strip('-').replace(' ', '_')}-{repeat}")
            shutil.copytree(finished, output)
            runs.append(_run(workdir, name, output, flags, f"repeat {repeat}"))
    print("\n".join(format_table("after a model change: whole re-run vs --from Trainer", [first] + runs)))
    walls = {name: [r.wall_s for r in runs if r.variant == name and r.ok] for name, _ in VARIANTS}
    if all(walls.values()):
        ratio = statistics.median(walls["--from Trainer"]) / statistics.median(walls["whole re-run"])
        print(check(ratio <= TARGET, f"--from Trainer takes {ratio:.2f}x the whole re-run (median of "
                                     f"{len(walls['whole re-run'])}; target <= {TARGET}x)"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in [first] + runs], f, indent=2)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
