"""The official TFX penguin example, run on this machine as the speed reference.

Runs `tfx/examples/penguin/penguin_pipeline_local.py` from the installed tfx
package: its `create_pipeline` with tuning, bulk inference, example diff and the
Transform cache off (8 nodes: CsvExampleGen, StatisticsGen, SchemaGen, Transform,
Trainer, latest_blessed_model_resolver, Evaluator, Pusher), its default Beam
arguments (`--direct_running_mode=multi_processing --direct_num_workers=0`), the
installed `penguin_utils_keras.py` as module file, LocalDagRunner and a SQLite
ML Metadata store, all under --work-dir.

The example's data (`penguins_processed.csv`) is not in the wheel; it is derived
the way the TFX repo made it, from data/penguins/penguins.csv: rows with missing
values dropped, species as 0/1/2, bill_* renamed culmen_*, numeric features
min-max scaled to [0, 1].

Run it again with the same --work-dir for a no-change re-run (cache on).
benchmarks/pipeline_speed.py calls this as a subprocess and times the whole process.
Run from the repository root:

    python -m benchmarks.official_penguin --work-dir /tmp/official [--beam-mode in_memory]
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from typing import Dict, List, Sequence

from runs import exit_codes
from runs.layout import OutputLayout

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_CSV = os.path.join(REPO_ROOT, "data", "penguins", "penguins.csv")
PIPELINE_NAME = "penguin_local_keras"
LABEL = "species"
# penguin_utils_base.FEATURE_KEYS, and the columns of our CSV they come from.
FEATURE_SOURCES = (
    ("culmen_length_mm", "bill_length_mm"),
    ("culmen_depth_mm", "bill_depth_mm"),
    ("flipper_length_mm", "flipper_length_mm"),
    ("body_mass_g", "body_mass_g"),
)
SPECIES = ("Adelie", "Chinstrap", "Gentoo")
OFFICIAL_BEAM_ARGS = ("--direct_running_mode=multi_processing", "--direct_num_workers=0")


def derive_processed_rows(rows: Sequence[Dict[str, str]]) -> List[Dict[str, object]]:
    """penguins_processed.csv from raw palmerpenguins rows (dicts of strings)."""
    complete = [r for r in rows if all((v or "").strip() not in ("", "NA", ".") for v in r.values())]
    if not complete:
        raise ValueError("no complete rows to derive the official example's data from")
    ranges = {}
    for _, source in FEATURE_SOURCES:
        values = [float(r[source]) for r in complete]
        ranges[source] = (min(values), max(values))
    out = []
    for r in complete:
        row: Dict[str, object] = {LABEL: SPECIES.index(r[LABEL].strip())}
        for name, source in FEATURE_SOURCES:
            low, high = ranges[source]
            row[name] = (float(r[source]) - low) / (high - low) if high > low else 0.0
        out.append(row)
    return out


def write_processed_csv(source_csv: str, data_root: str) -> str:
    """Write <data_root>/labelled/penguins_processed.csv (the layout the example expects)."""
    folder = os.path.join(data_root, "labelled")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "penguins_processed.csv")
    with open(source_csv, newline="") as f:
        rows = derive_processed_rows(list(csv.DictReader(f)))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[LABEL] + [name for name, _ in FEATURE_SOURCES])
        writer.writeheader()
        writer.writerows(rows)
    return path


def beam_args_for(mode: str) -> List[str]:
    if mode == "multi_processing":
        return list(OFFICIAL_BEAM_ARGS)
    if mode == "in_memory":
        return ["--direct_running_mode=in_memory"]
    return [f"--direct_running_mode={mode}", "--direct_num_workers=0"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.official_penguin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", required=True,
                        help="data, pipeline root, metadata.sqlite and serving_model go here "
                             "(reuse it for a no-change re-run)")
    parser.add_argument("--source-csv", default=SOURCE_CSV, help="raw palmerpenguins CSV (default: ours)")
    parser.add_argument("--beam-mode", default="multi_processing",
                        choices=("multi_processing", "in_memory", "multi_threading"),
                        help="Beam direct running mode (default: the example's own, multi_processing)")
    parser.add_argument("--transform-cache", action="store_true",
                        help="add the example's Transform cache resolver (its __main__ does; 9 nodes)")
    parser.add_argument("--quiet", action="store_true", help="TFX logs at WARNING instead of INFO")
    parser.add_argument("--no-report", action="store_true",
                        help="skip printing per-component times from MLMD (the benchmark reads them itself)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    started = time.monotonic()
    work_dir = os.path.abspath(args.work_dir)
    data_root = os.path.join(work_dir, "data")
    csv_path = os.path.join(data_root, "labelled", "penguins_processed.csv")
    if not os.path.isfile(csv_path):  # keep it on a re-run: a new file would bust the cache
        write_processed_csv(args.source_csv, data_root)

    import absl.logging
    from tfx import v1 as tfx
    from tfx.examples.penguin import penguin_pipeline_local as example

    absl.logging.set_verbosity(absl.logging.WARNING if args.quiet else absl.logging.INFO)
    module_file = os.path.join(os.path.dirname(example.__file__), "penguin_utils_keras.py")
    layout = OutputLayout(work_dir)  # laid out like our runs, so the benchmark reads both alike
    metadata_path = layout.metadata_sqlite
    pipeline = example.create_pipeline(
        pipeline_name=PIPELINE_NAME,
        pipeline_root=layout.pipeline_root,
        data_root=data_root,
        module_file=module_file,
        accuracy_threshold=0.6,
        serving_model_dir=layout.model_base_path(PIPELINE_NAME),
        metadata_path=metadata_path,
        user_provided_schema_path=None,
        enable_tuning=False,
        enable_bulk_inferrer=False,
        enable_example_diff=False,
        examplegen_input_config=None,
        examplegen_range_config_date=None,
        resolver_range_config=None,
        beam_pipeline_args=beam_args_for(args.beam_mode),
        enable_transform_input_cache=args.transform_cache,
    )
    imported = time.monotonic()
    tfx.orchestration.LocalDagRunner().run(pipeline)
    finished = time.monotonic()
    print(f"official penguin example ({args.beam_mode}): imports+setup {imported - started:.1f} s, "
          f"pipeline {finished - imported:.1f} s, total {finished - started:.1f} s", flush=True)
    if not args.no_report:
        from benchmarks.pipeline_report import format_components
        from benchmarks.run_measurement import read_latest_run

        run = read_latest_run(metadata_path, PIPELINE_NAME)
        print("\n".join(format_components(run["components"])))
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
