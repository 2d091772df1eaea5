"""Continuous-training benchmark: a run that adds one span against a cold run on the same rows,
what Transform's analyzer cache saves there, and what warm start saves in training steps.

    python -m benchmarks.continuous_speed --rows-per-span 250000 --spans 4 --json ct.json

In one work folder, side by side in one invocation:
 1. generates spans 1..K+1 of N rows each (data.generate, seeded);
 2. history: a dataset of spans 1..K with `span_window: K`, one `local_runner.py` run
    (it ingests K spans and trains on them); the output is copied once;
 3. add one span, cache on: span K+1 arrives; a run ingests it alone and trains on the
    window 2..K+1 (Transform analyses the new span only);
 4. add one span, cache off: the same on the copy, with `analyzer_cache: false`;
 5. cold on the same rows: a fresh output on a dataset of spans 2..K+1;
 6. warm start: in this process, the model of step 3's window trained from scratch and
    from step 2's model, evaluated every few steps until it reaches the dataset's
    `min_value`: the steps each needed.
Every run is a `local_runner.py` subprocess measured like benchmarks/pipeline_speed.py
(whole-process wall time, peak memory of the process tree, component times from ML
Metadata, the load average around it: the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from typing import Dict, List

from benchmarks.pipeline_report import RunResult, fmt_bytes, fmt_seconds_unit
from benchmarks.run_measurement import measure
from runs import exit_codes, metadata
from runs.layout import OutputLayout
from runs.store import MetadataConfig, open_store

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVAL_BATCHES = 20  # 1280 eval rows per check
STEPS = ("history", "add one span, cache on", "add one span, cache off", "cold on the same rows")


def generate(work: str, spans: int, rows: int) -> List[str]:
    """span-N.csv for N = 1..spans, like the bundled penguins (seeded per span)."""
    from data import generate as gen

    model = gen.fit(gen.DEFAULT_SOURCE)
    paths = []
    for span in range(1, spans + 1):
        path = os.path.join(work, "incoming", f"span-{span}.csv")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        gen.sample(model, rows, seed=span).to_csv(path, index=False, float_format="%.1f")
        paths.append(path)
    return paths


def dataset(folder: str, span_files: Dict[int, str], window: int) -> str:
    from data.generate import DEFAULT_SOURCE

    os.makedirs(folder, exist_ok=True)
    for name in ("dataset.yaml", "schema.pbtxt"):
        shutil.copy(os.path.join(DEFAULT_SOURCE, name), folder)
    with open(os.path.join(folder, "dataset.yaml"), "a") as f:
        f.write(f"span_window: {window}\n")
    for span, path in span_files.items():
        add_span(folder, span, path)
    return folder


def add_span(folder: str, span: int, path: str) -> None:
    os.makedirs(os.path.join(folder, f"span-{span}"))
    shutil.copy(path, os.path.join(folder, f"span-{span}", "data.csv"))


def components(output: str, runs_before: int) -> Dict[str, float]:
    """Seconds per component, summed over the runs one invocation made (one per ingested span)."""
    store = open_store(MetadataConfig.for_output(output), readonly=True)
    seconds: Dict[str, float] = {}
    for run_id in metadata.pipeline_runs(store)[:len(metadata.pipeline_runs(store)) - runs_before]:
        for execution in metadata.run_overview(store, run_id).executions:
            if execution.state == "complete":
                seconds[execution.node_id] = seconds.get(execution.node_id, 0.0) + execution.seconds
    return seconds


def run_step(name: str, folder: str, output: str, work: str, train_steps: int, extra: List[str], log) -> RunResult:
    before = 0
    if os.path.exists(OutputLayout(output).metadata_sqlite):
        before = len(metadata.pipeline_runs(open_store(MetadataConfig.for_output(output), readonly=True)))
    command = [sys.executable, os.path.join(REPO_ROOT, "local_runner.py"), "--dataset", folder, "--output-dir",
               output, "--train-steps", str(train_steps), "--no-smoke-test", *extra]
    result = RunResult(name, "primary", name, folder, command, os.path.join(work, "logs", f"{name}.log".replace(" ", "-")))
    os.makedirs(os.path.dirname(result.log), exist_ok=True)
    log(f"{name}: running (load {os.getloadavg()[0]:.2f}; log {result.log})")
    measure(result)
    result.components = [{"component": c, "seconds": round(s, 1)}
                         for c, s in sorted(components(output, before).items())]
    log(f"  -> exit {result.exit_code}, {result.wall_s:.1f} s whole process, peak "
        f"{fmt_bytes(result.peak_rss_bytes)}, load {result.load_before[0]:.1f} -> {result.load_after[0]:.1f}")
    return result


def _transform_outputs(output: str):
    """(transform graph dir, transformed examples URIs) of the newest run that ran Transform."""
    store = open_store(MetadataConfig.for_output(output), readonly=True)
    for run_id in metadata.pipeline_runs(store):
        for execution in metadata.run_overview(store, run_id).executions:
            outputs = metadata.output_artifacts(store, execution.execution_id)
            if "transform_graph" in outputs:
                return outputs["transform_graph"][0].uri, [a.uri for a in outputs["transformed_examples"]]
    raise LookupError(f"no Transform output in {output}")


def dataset_classes(folder: str, output: str) -> List[str]:
    """The classes the pipeline trained with: what its pre-flight check learns from the data."""
    from pipeline import preflight
    from pipeline.config import load_config

    checked, _ = preflight.check(load_config(None, {"dataset": folder, "output_dir": output}))
    return list(checked.dataset.classes)


def steps_to_threshold(output: str, base_model: str, classes: List[str], threshold: float, max_steps: int,
                       every: int) -> Dict[str, object]:
    """Steps for the newest window's model to reach `threshold` on its eval split, from scratch and warm.

    The eval split, as the Trainer's: this picks a number of steps, so the test split stays unseen.
    """
    import glob

    import tensorflow as tf
    import tensorflow_transform as tft
    import tf_keras as keras

    from models import features as features_lib
    from models import model as model_lib
    from models import training
    from models.warm_start import warm_start
    from pipeline.splits import EVAL, TRAIN

    graph, examples = _transform_outputs(output)
    tf_transform_output = tft.TFTransformOutput(graph)
    spec = tf_transform_output.transformed_feature_spec()
    schema = features_lib.load_schema(os.path.join(base_model, "assets.extra", "schema.pbtxt"))
    features = features_lib.from_schema(schema, "species", ["year"])

    def data(split: str) -> tf.data.Dataset:
        files = [f for uri in examples for f in glob.glob(os.path.join(uri, f"Split-{split}", "*"))]
        parsed = tf.data.TFRecordDataset(files, compression_type="GZIP").shuffle(4096, seed=0).repeat().batch(
            model_lib.HYPERPARAMETERS.batch_size).map(lambda x: tf.io.parse_example(x, spec))
        return parsed.map(lambda f: ({k: v for k, v in f.items() if k != features.label}, f[features.label]))

    reached: Dict[str, object] = {}
    for start in ("from scratch", "warm start"):
        keras.utils.set_random_seed(model_lib.HYPERPARAMETERS.seed)
        model = model_lib.build_keras_model(features, training.vocab_sizes(features, tf_transform_output),
                                            len(classes))
        if start == "warm start":
            loaded, reached["warm start from"] = warm_start(model, base_model, schema, tf_transform_output, features)
            if not loaded:
                reached[start] = None
                continue
        evaluate = data(EVAL)
        reached[start] = 0 if training.accuracy(model, evaluate, steps=EVAL_BATCHES) >= threshold else None

        def good_enough(n: int) -> bool:
            if n % every or training.accuracy(model, evaluate, steps=EVAL_BATCHES) < threshold:
                return False
            reached[start] = n
            return True

        if reached[start] is None:
            training.train(model, data(TRAIN), max_steps, keras.losses.SparseCategoricalCrossentropy(),
                            after_step=good_enough)
    return reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows-per-span", type=int, default=250_000)
    parser.add_argument("--spans", type=int, default=4, help="the window: K spans (K+1 are generated)")
    parser.add_argument("--train-steps", type=int, default=400)
    parser.add_argument("--work-dir", help="default: a new temporary folder")
    parser.add_argument("--json", metavar="FILE", help="write the measurements here")
    parser.add_argument("--warm-start-every", type=int, default=10, help="evaluate every N steps (default 10)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    work = args.work_dir or tempfile.mkdtemp(prefix="ct-bench-")

    def log(message: str) -> None:
        print(message, flush=True)

    k = args.spans
    log(f"work dir {work}: {k + 1} spans of {args.rows_per_span} rows, window {k}")
    files = dict(enumerate(generate(work, k + 1, args.rows_per_span), start=1))
    history_data = dataset(os.path.join(work, "dataset"), {s: files[s] for s in range(1, k + 1)}, k)
    on, off = os.path.join(work, "cache-on"), os.path.join(work, "cache-off")
    results = [run_step(STEPS[0], history_data, on, work, args.train_steps, [], log)]
    shutil.copytree(on, off)
    shutil.copytree(history_data, os.path.join(work, "dataset-off"))
    base_model = max(os.scandir(OutputLayout(on).model_base_path("penguins")), key=lambda e: int(e.name)).path
    add_span(history_data, k + 1, files[k + 1])
    add_span(os.path.join(work, "dataset-off"), k + 1, files[k + 1])
    results.append(run_step(STEPS[1], history_data, on, work, args.train_steps, [], log))
    no_cache = os.path.join(work, "no-cache.yaml")
    with open(no_cache, "w") as f:
        f.write("analyzer_cache: false\n")
    results.append(run_step(STEPS[2], os.path.join(work, "dataset-off"), off, work, args.train_steps,
                            ["--config", no_cache], log))
    cold = dataset(os.path.join(work, "dataset-cold"), {s: files[s] for s in range(2, k + 2)}, k)
    results.append(run_step(STEPS[3], cold, os.path.join(work, "cold"), work, args.train_steps, [], log))
    log("warm start: steps to reach the threshold ...")
    steps = steps_to_threshold(on, base_model, dataset_classes(history_data, on), 0.85, args.train_steps,
                               args.warm_start_every)
    print_summary(results, steps, args, k)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows_per_span": args.rows_per_span, "spans": k, "runs": [asdict(r) for r in results],
                       "steps_to_threshold": steps}, f, indent=1)
    return exit_codes.OK


def print_summary(results: List[RunResult], steps: Dict[str, object], args, k: int) -> None:
    print(f"\n{k} spans of {args.rows_per_span} rows in the window, {args.train_steps} training steps")
    print(f"{'run':<28} {'exit':>4} {'whole process':>14} {'peak memory':>12}  components (s)")
    for r in results:
        parts = ", ".join(f"{c['component']} {c['seconds']}" for c in r.components
                          if c["component"] in ("CsvExampleGen", "StatisticsGen", "Transform", "Trainer",
                                                "Evaluator"))
        print(f"{r.variant:<28} {r.exit_code!s:>4} {fmt_seconds_unit(r.wall_s):>14} {fmt_bytes(r.peak_rss_bytes):>12}  "
              f"{parts}")
    print("steps to reach the threshold: " + ", ".join(f"{k}: {v if v is not None else 'not reached'}"
                                                       for k, v in steps.items()))


if __name__ == "__main__":
    sys.exit(main())
