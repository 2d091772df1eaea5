"""Own data, measured: the pre-flight scan at scale, and the metric each kind of task reaches.

    python -m benchmarks.own_data --preflight-rows 1000000    # scan time on generated penguins rows
    python -m benchmarks.own_data --results                   # penguins, penguin body mass, taxi

--preflight-rows generates rows shaped like the bundled data (data.generate) and times
`data.csv_checks.scan` on them, with the categorical label and with a numeric one.

--results runs, per dataset, `local_runner.py` in a subprocess into a fresh output folder, as a
user runs it (whole-process wall time, imports and the smoke test included), and reads the
Evaluator's metric on the test split from the run's summary: the bundled penguins (multi-class);
the same CSV made into a regression of body_mass_g by `data.init`; the TFX taxi data from
../shared by `data.init` (binary, judged by AUC; skipped where ../shared is absent).
"""
from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import List, Optional

from runs import exit_codes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENGUINS = os.path.join(REPO_ROOT, "data", "penguins")
TAXI_CSV = next((p for p in (os.path.join(REPO_ROOT, *up, "shared", "datasets", "chicago_taxi", "data.csv")
                             for up in ((os.pardir,), (os.pardir, os.pardir))) if os.path.isfile(p)), None)
_EVALUATION = re.compile(r"^Evaluation: (\S+) = ([-0-9.]+) overall on (\d+) (?:eval|test) examples", re.M)
_TASK = re.compile(r"^Task: (.+?) of '", re.M)


@dataclass
class Result:
    dataset: str
    task: str
    metric: str
    value: Optional[float]
    evaluated_examples: int
    seconds: float
    exit_code: int


def parse_summary(dataset: str, output: str, seconds: float, exit_code: int) -> Result:
    evaluation, task = _EVALUATION.search(output), _TASK.search(output)
    return Result(dataset, task.group(1) if task else "?",
                  evaluation.group(1) if evaluation else "?",
                  float(evaluation.group(2)) if evaluation else None,
                  int(evaluation.group(3)) if evaluation else 0, seconds, exit_code)


def run_pipeline(dataset: str, folder: str, output_dir: str, train_steps: int) -> Result:
    started = time.monotonic()
    process = subprocess.run([sys.executable, "local_runner.py", "--dataset", folder, "--output-dir", output_dir,
                              "--train-steps", str(train_steps)],
                             cwd=REPO_ROOT, capture_output=True, text=True)
    return parse_summary(dataset, process.stdout, time.monotonic() - started, process.returncode)


def results(train_steps: int, workdir: str) -> List[Result]:
    from data import init

    folders = [("penguins", PENGUINS)]
    folders.append(("penguin body mass", init.create(os.path.join(PENGUINS, "penguins.csv"), "body_mass_g", None,
                                                     "penguin_mass", os.path.join(workdir, "data"),
                                                     out=io.StringIO())))
    if TAXI_CSV:
        folders.append(("taxi", init.create(TAXI_CSV, "big_tipper", None, "taxi", os.path.join(workdir, "data"),
                                            out=io.StringIO())))
    out = []
    for name, folder in folders:
        result = run_pipeline(name, folder, os.path.join(workdir, name.replace(" ", "_")), train_steps)
        print(f"  {name}: {result.metric} = {result.value} ({result.seconds:.1f} s, exit {result.exit_code})",
              flush=True)
        out.append(result)
    return out


def preflight_seconds(rows: int, workdir: str) -> List[tuple]:
    """(label, seconds) for a scan of `rows` generated rows, with a categorical and a numeric label."""
    from data import csv_checks, generate

    folder = os.path.join(workdir, f"generated-{rows}")
    generate.main(["--rows", str(rows), "--out", folder])
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".csv"))
    timings = []
    for label in ("species", "body_mass_g"):
        started = time.perf_counter()
        csv_checks.scan(files, label)
        timings.append((label, time.perf_counter() - started))
    return timings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preflight-rows", type=int, metavar="N", help="time the pre-flight scan on N rows")
    parser.add_argument("--results", action="store_true", help="run the pipeline on each dataset")
    parser.add_argument("--train-steps", type=int, default=400, help="training steps per run (default 400)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.preflight_rows or args.results):
        parser.error("choose --preflight-rows N and/or --results")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as workdir:
        if args.preflight_rows:
            for label, seconds in preflight_seconds(args.preflight_rows, workdir):
                print(f"pre-flight scan, {args.preflight_rows} rows, label {label}: {seconds:.2f} s")
        if args.results:
            print("| dataset | task | metric (test split) | run time |\n| --- | --- | --- | --- |")
            for r in results(args.train_steps, workdir):
                value = f"{r.value:.4f}" if r.value is not None else f"no result (exit {r.exit_code})"
                print(f"| {r.dataset} | {r.task} | {r.metric} = {value} on {r.evaluated_examples} | {r.seconds:.0f} s |")
    print(f"load average: {load:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} cores)")
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
