"""Drift calibration benchmark: how often the monitor's verdicts are right, beside TFDV's thresholds.

For each dataset and window size it draws many seeded windows, clean and shifted (each
numeric feature by 0.5, 1 and 2 training standard deviations, one at a time; each
categorical feature's rarest value pushed up by 20 points), judges each with the monitor's
own code (`monitoring.drift.judge_window`: the drift tests and TFDV's comparators on the same
window), and prints per scenario how often the window was flagged and how often exactly the
shifted feature, and no other, was named.

- bundled: windows resampled with replacement from data/penguins/penguins.csv (what
  `serving.client --sample` sends); baseline the training split of a pipeline run read through
  the MLMD lineage (`--output-dir`, as the monitor reads it), else a seeded 3:1 split of the CSV.
- generated: a model fitted to the bundled CSV (data/generate.py) gives a training split of the
  same size as the bundled one and independent windows, so clean windows really are clean.

Usage: python -m benchmarks.drift [--output-dir outputs] [--windows 100] [--clean-windows 500] [--json FILE]
       python -m benchmarks.drift --from-json FILE   (re-prints the tables of a finished run)
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from monitoring import drift
from monitoring.baseline import Baseline, BaselineError, lineage_baseline, rows_baseline
from monitoring.drift_statistics import DriftSettings
from monitoring.feature_columns import CATEGORICAL
from runs import exit_codes
from runs.cli import add_flag, add_output_dir
from runs.layout import LayoutError, OutputLayout
from runs.store import MetadataConfig
from serving import synthetic_traffic
from serving.contract import ServingFeatures

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENGUINS = os.path.join(REPO_ROOT, "data", "penguins")
CSV = os.path.join(PENGUINS, "penguins.csv")
SCHEMA = os.path.join(PENGUINS, "schema.pbtxt")
SIZES = (100, 500, 5000)
SHIFTS_SD = (0.5, 1.0, 2.0)
PUSH_POINTS = 0.2
GENERATED_POOL = 100_000
GENERATED_TRAINING_ROWS = 260  # about as many as the bundled run's training split (256 rows at 70/15/15)
CLEAN = "clean"


@dataclass
class Scenario:
    name: str
    feature: Optional[str]  # the shifted feature; None for clean windows
    apply: Any  # rows, seed -> rows


@dataclass
class Tally:
    windows: int = 0
    not_enough_rows: int = 0
    flagged: int = 0
    named_alone: int = 0
    tfdv_flagged: int = 0
    tfdv_named_alone: int = 0
    anomalies: int = 0
    seconds: float = 0.0
    named: Dict[str, int] = field(default_factory=dict)  # feature -> windows naming it (drift tests)

    def rate(self, count: int) -> float:
        judged = self.windows - self.not_enough_rows
        return count / judged if judged else float("nan")


def scenarios(baseline: Baseline) -> List[Scenario]:
    """Clean; each numeric feature shifted by 0.5/1/2 sd; each categorical feature's rarest value +20 points."""
    out = [Scenario(CLEAN, None, lambda rows, seed: rows)]
    for name, column in baseline.columns.items():
        if column.kind == CATEGORICAL:
            counts = {v: int(c) for v, c in zip(*np.unique(column.values.astype(str), return_counts=True))}
            rarest = min(counts, key=counts.get)
            out.append(Scenario(f"{name} -> {rarest} +{PUSH_POINTS * 100:.0f} pts", name,
                                lambda rows, seed, n=name, v=rarest: synthetic_traffic.push_toward(
                                    rows, n, v, PUSH_POINTS, seed)))
        else:
            sd = float(np.std(column.values, ddof=1))
            for k in SHIFTS_SD:
                out.append(Scenario(f"{name} +{k:g} sd", name,
                                    lambda rows, seed, n=name, d=k * sd: synthetic_traffic.shift_rows(rows, {n: d})))
    return out


def bundled(raw_features: ServingFeatures, output_dir: Optional[str], seed: int) -> Tuple[str, Baseline, list]:
    rows = raw_features.read_csv(CSV)
    if output_dir:
        layout = OutputLayout(output_dir)
        base_path, model = layout.served_model(None)
        version = max(int(v) for v in os.listdir(base_path) if v.isdigit())
        baseline = lineage_baseline(MetadataConfig.for_output(output_dir), os.path.join(base_path, str(version)),
                                    raw_features)
        where = f"training split of {model} version {version} through the MLMD lineage of {output_dir}"
    else:
        shuffled = random.Random(seed).sample(rows, len(rows))
        train = shuffled[:len(rows) * 3 // 4]
        baseline = rows_baseline(train, raw_features, {"source": "seeded 3:1 split of the bundled CSV"})
        where = "a seeded 3:1 split of the bundled CSV (no --output-dir)"
    return where, baseline, rows


def generated(raw_features: ServingFeatures, training_rows: int, seed: int) -> Tuple[str, Baseline, list]:
    from data import generate

    fitted = generate.fit(PENGUINS)
    with tempfile.TemporaryDirectory() as tmp:
        def rows_of(count: int, sample_seed: int) -> list:
            path = os.path.join(tmp, f"{sample_seed}.csv")
            generate.sample(fitted, count, seed=sample_seed).to_csv(path, index=False)
            return raw_features.read_csv(path)

        train = rows_of(training_rows, seed)
        pool = rows_of(GENERATED_POOL, seed + 1)
    baseline = rows_baseline(train, raw_features, {"source": "generated training split"})
    return f"{training_rows} generated training rows; windows from {GENERATED_POOL} independent generated rows", \
        baseline, pool


def judge(rows, baseline, raw_features, settings, scenario: Scenario, tally: Tally) -> None:
    start = time.perf_counter()
    result = drift.judge_window(rows, baseline, raw_features, settings)
    tally.seconds += time.perf_counter() - start
    tally.windows += 1
    if result["verdict"] == drift.NOT_ENOUGH_ROWS:
        tally.not_enough_rows += 1
        return
    named, tfdv_named = result["drifted_features"], result["tfdv"]["drift_threshold_exceeded"]
    tally.flagged += bool(named)
    tally.tfdv_flagged += bool(tfdv_named)
    tally.named_alone += named == [scenario.feature]
    tally.tfdv_named_alone += tfdv_named == [scenario.feature]
    tally.anomalies += bool(result["anomalies"])
    for name in named:
        tally.named[name] = tally.named.get(name, 0) + 1


def run_dataset(pool: Sequence[dict], baseline, raw_features, settings, sizes, windows: int, clean_windows: int,
                seed: int, progress) -> Dict[Tuple[int, str], Tally]:
    tallies: Dict[Tuple[int, str], Tally] = {}
    for size in sizes:
        for scenario in scenarios(baseline):
            tally = tallies[(size, scenario.name)] = Tally()
            count = clean_windows if scenario.feature is None else windows
            for i in range(count):
                window_seed = seed * 1_000_003 + size * 10_007 + i
                rows = scenario.apply(synthetic_traffic.sample_rows(pool, size, seed=window_seed), window_seed)
                judge(rows, baseline, raw_features, settings, scenario, tally)
            progress(size, scenario.name, tally)
    return tallies


def _percent(value: float) -> str:
    return "-" if value != value else f"{100 * value:.1f}%"


def table(tallies: Dict[Tuple[int, str], Tally]) -> List[str]:
    lines = ["| rows | scenario | windows | not enough rows | flagged (tests) | only that feature named (tests) "
             "| flagged (TFDV) | only that feature named (TFDV) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (size, name), t in tallies.items():
        clean = name == CLEAN
        lines.append(f"| {size} | {name} | {t.windows} | {t.not_enough_rows} | {_percent(t.rate(t.flagged))} | "
                     f"{'-' if clean else _percent(t.rate(t.named_alone))} | {_percent(t.rate(t.tfdv_flagged))} | "
                     f"{'-' if clean else _percent(t.rate(t.tfdv_named_alone))} |")
    return lines


def _group(name: str) -> str:
    """'bill_length_mm +1 sd' -> 'numeric +1 sd'; 'island -> Torgersen +20 pts' -> 'categorical +20 pts'."""
    if name == CLEAN:
        return "clean: false alarms"
    if " -> " in name:
        return f"categorical +{PUSH_POINTS * 100:.0f} pts, worst feature"
    return f"numeric {name.split(' ', 1)[1]}, worst feature"


def summary(tallies: Dict[Tuple[int, str], Tally]) -> List[str]:
    """Per kind of scenario and window size: flagged / only that feature named, the worst feature's, tests vs TFDV."""
    sizes = sorted({size for size, _ in tallies})
    groups: Dict[str, Dict[int, List[Tally]]] = {}
    for (size, name), t in tallies.items():
        groups.setdefault(_group(name), {}).setdefault(size, []).append(t)
    lines = ["| scenario | " + " | ".join(f"{s} rows: tests | {s} rows: TFDV" for s in sizes) + " |",
             "| --- |" + " --- | --- |" * len(sizes)]
    for group, by_size in groups.items():
        clean = group.startswith("clean")
        cells = []
        for size in sizes:
            found = by_size.get(size, [])
            for flagged, alone in (("flagged", "named_alone"), ("tfdv_flagged", "tfdv_named_alone")):
                # The worst case: the most false alarms, the least detected and least precisely named.
                worst = (max if clean else min)(t.rate(getattr(t, flagged)) for t in found)
                cells.append(_percent(worst) if clean else
                             f"{_percent(worst)} / {_percent(min(t.rate(getattr(t, alone)) for t in found))}")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return lines


def _print_dataset(dataset: str, where: str, tallies: Dict[Tuple[int, str], Tally]) -> None:
    print(f"\n{dataset}: {where}\n")
    print("\n".join(table(tallies)))
    print(f"\n{dataset}, summary (shifted: detected / only the shifted feature named, worst feature):\n")
    print("\n".join(summary(tallies)), flush=True)


def from_json(path: str) -> int:
    with open(path) as f:
        report = json.load(f)
    for dataset in ("bundled", "generated"):
        if dataset in report:
            tallies = {(int(key.split(" ", 1)[0]), key.split(" ", 1)[1]): Tally(**t)
                       for key, t in report[dataset]["tallies"].items()}
            _print_dataset(dataset, report[dataset]["baseline"], tallies)
    return exit_codes.OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.drift", description=__doc__.split("\n\n")[0])
    add_output_dir(p, "a finished pipeline run: the bundled baseline is its training split, read through MLMD")
    p.add_argument("--datasets", nargs="+", choices=("bundled", "generated"), default=["bundled", "generated"])
    p.add_argument("--sizes", nargs="+", type=int, default=list(SIZES), help="window sizes in rows")
    p.add_argument("--windows", type=int, default=100, help="windows per shifted scenario and size")
    p.add_argument("--clean-windows", type=int, default=500, help="clean windows per size (false alarms)")
    add_flag(p, "--false-alarm-rate", type=float, default=DriftSettings().false_alarm_rate)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the tallies to this file")
    p.add_argument("--from-json", default=None, help="re-print the tables of a --json file; runs nothing")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.from_json:
        return from_json(args.from_json)
    if min(args.sizes) < 1 or args.windows < 1 or args.clean_windows < 1:
        print("error: --sizes, --windows and --clean-windows must be >= 1", file=sys.stderr)
        return exit_codes.BAD_INPUT
    raw_features = ServingFeatures.from_file(SCHEMA)
    settings = DriftSettings(false_alarm_rate=args.false_alarm_rate)
    report: Dict[str, Any] = {"settings": vars(args)}
    for dataset in args.datasets:
        started = time.perf_counter()
        try:
            if dataset == "bundled":
                where, baseline, pool = bundled(raw_features, args.output_dir, args.seed)
            else:
                where, baseline, pool = generated(raw_features, GENERATED_TRAINING_ROWS, args.seed)
        except (LayoutError, BaselineError) as e:
            print(f"error: {e}", file=sys.stderr)
            return exit_codes.BAD_INPUT
        print(f"\n{dataset}: baseline {where}; false alarm rate {settings.false_alarm_rate:g}", flush=True)

        def progress(size, name, tally):
            print(f"  {size:>5} rows  {name:<34} flagged {_percent(tally.rate(tally.flagged)):>6} "
                  f"(TFDV {_percent(tally.rate(tally.tfdv_flagged)):>6})  {tally.seconds / tally.windows * 1000:.0f} "
                  f"ms/window", flush=True)

        tallies = run_dataset(pool, baseline, raw_features, settings, args.sizes, args.windows, args.clean_windows,
                              args.seed, progress)
        _print_dataset(dataset, f"{where} ({time.perf_counter() - started:.0f} s)", tallies)
        report[dataset] = {"baseline": where, "tallies": {f"{s} {n}": vars(t) for (s, n), t in tallies.items()}}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
