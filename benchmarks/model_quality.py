"""Model quality: the pipeline's default model against scikit-learn on the same rows.

    python -m benchmarks.model_quality                                  # every dataset
    python -m benchmarks.model_quality --datasets penguins,diabetes     # a subset
    python -m benchmarks.model_quality --rows 5000                      # cap the larger datasets

Per dataset, as a user would: a dataset folder (bundled, `data.generate`, or a CSV through
`data.init`), `local_runner.py` into a fresh output folder, then, on the rows ExampleGen wrote:

- the pipeline's model (the Trainer's export) scored through its serving signature on the
  held-out split's raw tf.Examples;
- scikit-learn's HistGradientBoosting (default settings; categories ordinal-encoded and
  marked categorical) and a standardised linear model (mean imputation and z-scores, one-hot
  categories; RidgeCV or LogisticRegression), both fitted on ExampleGen's train split with the
  features the pipeline uses (dataset.yaml's ignore_columns and categorical) and scored on
  the same held-out rows;
- the tuned model (`local_runner.py --tune`) and its tuning time.

The metric the ratio compares: AUC (binary), accuracy (multi-class), MAE (regression).
"""
from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from pipeline import splits
from runs import exit_codes
from runs.cli import add_flag
from runs.layout import OutputLayout

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENGUINS = os.path.join(REPO_ROOT, "data", "penguins")
TAXI_CSV = os.path.join(os.path.dirname(REPO_ROOT), "shared", "datasets", "chicago_taxi", "data.csv")
# The models are scored on the split the Evaluator judges, and the baselines fit on the Trainer's.
HELD_OUT_SPLIT, TRAIN_SPLIT = splits.TEST, splits.TRAIN
GENERATED_ROWS = 10_000
DEFAULT_ROWS = 20_000
_TUNER_TIME = re.compile(r"^\s+Tuner\s+ran\s+([0-9.]+) s", re.M)


class Skipped(Exception):
    """A dataset that cannot run here; the message says why."""


def _init(csv_path: str, label: str, name: str, workdir: str) -> str:
    import io

    from data import init

    folder = os.path.join(workdir, "data", name)
    if os.path.isdir(folder):  # made by an earlier run into the same --workdir
        return folder
    return init.create(csv_path, label, None, name, os.path.join(workdir, "data"), out=io.StringIO())


def _capped_csv(csv_path: str, rows: int, workdir: str) -> str:
    """The CSV itself, or a seeded sample of `rows` of its lines written as they are (formatting kept)."""
    with open(csv_path, newline="") as f:
        header, *lines = f.readlines()
    if len(lines) <= rows:
        return csv_path
    path = os.path.join(workdir, os.path.basename(csv_path))
    with open(path, "w", newline="") as f:
        f.writelines([header] + random.Random(0).sample(lines, rows))
    return path


def _sklearn_csv(loader: Callable, label: str, name: str, workdir: str) -> str:
    """One of scikit-learn's bundled datasets as a CSV, the target last and named `label`."""
    frame = loader(as_frame=True).frame.rename(columns={"target": label})
    path = os.path.join(workdir, f"{name}.csv")
    frame.to_csv(path, index=False)
    return path


def penguins(workdir: str, rows: int) -> str:
    return PENGUINS


def penguin_mass(workdir: str, rows: int) -> str:
    return _init(os.path.join(PENGUINS, "penguins.csv"), "body_mass_g", "penguin_mass", workdir)


def generated(workdir: str, rows: int) -> str:
    from data import generate

    folder = os.path.join(workdir, "generated")
    arguments = ["--rows", str(min(rows, GENERATED_ROWS)), "--out", folder]
    if not os.path.isdir(folder) and generate.main(arguments) != exit_codes.OK:
        raise Skipped("data.generate failed")
    return folder


def taxi(workdir: str, rows: int) -> str:
    if not os.path.isfile(TAXI_CSV):
        raise Skipped(f"{TAXI_CSV} is absent (the shared datasets folder beside the repository)")
    return _init(_capped_csv(TAXI_CSV, rows, workdir), "big_tipper", "taxi", workdir)


def diabetes(workdir: str, rows: int) -> str:
    from functools import partial

    from sklearn.datasets import load_diabetes

    return _init(_sklearn_csv(partial(load_diabetes, scaled=False), "progression", "diabetes", workdir),
                 "progression", "diabetes", workdir)


def breast_cancer(workdir: str, rows: int) -> str:
    from sklearn.datasets import load_breast_cancer

    return _init(_sklearn_csv(load_breast_cancer, "benign", "breast_cancer", workdir), "benign", "breast_cancer",
                 workdir)


DATASETS: Dict[str, Callable[[str, int], str]] = {
    "penguins": penguins, "penguin_mass": penguin_mass, "generated": generated, "taxi": taxi,
    "diabetes": diabetes, "breast_cancer": breast_cancer,
}


def _newest(pattern: str) -> Optional[str]:
    """The artifact folder of the newest execution (TFX names them by execution id)."""
    found = glob.glob(pattern)
    return max(found, key=lambda p: [int(part) if part.isdigit() else 0 for part in p.split(os.sep)]) if found else None


def split_records(output_dir: str, split: str) -> List[bytes]:
    """The serialized raw tf.Examples of one ExampleGen split (the newest run's)."""
    folder = _newest(os.path.join(OutputLayout(output_dir).pipeline_root, "CsvExampleGen", "examples", "*", f"Split-{split}"))
    if folder is None:
        raise Skipped(f"no {split} split under {output_dir} (did the run fail?)")
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(folder, "*")))
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def trainer_output(output_dir: str, name: str) -> Optional[str]:
    """The newest Trainer output folder `name` (model: its Format-Serving; model_run)."""
    folder = _newest(os.path.join(OutputLayout(output_dir).pipeline_root, "Trainer", name, "*"))
    if folder and name == "model":
        folder = os.path.join(folder, "Format-Serving")
    return folder


def decode(records: Sequence[bytes]) -> List[Dict[str, object]]:
    """Each tf.Example as {feature: its first value} (missing features absent); bytes become text."""
    import tensorflow as tf

    rows = []
    for record in records:
        example = tf.train.Example.FromString(record)
        row = {}
        for name, feature in example.features.feature.items():
            values = getattr(feature, feature.WhichOneof("kind")).value if feature.WhichOneof("kind") else []
            if len(values):
                value = values[0]
                row[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        rows.append(row)
    return rows


def label_text(value) -> str:
    """A class label as the model names it: 1.0 and 1 are '1'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class Task:
    kind: str  # "classification" or "regression"
    classes: Tuple[str, ...] = ()

    @property
    def metric(self) -> str:
        if self.kind == "regression":
            return "mae"
        return "auc" if len(self.classes) == 2 else "accuracy"

    @property
    def higher_is_better(self) -> bool:
        return self.metric != "mae"


def classification_scores(y_true: Sequence[str], classes: Sequence[str], probabilities: np.ndarray) -> Dict[str, float]:
    """accuracy, and AUC of the second class (the positive one) when there are two."""
    from sklearn.metrics import roc_auc_score

    truth = np.asarray(list(y_true))
    predicted = np.asarray(classes)[np.argmax(probabilities, axis=1)]
    scores = {"accuracy": float(np.mean(predicted == truth))}
    if len(classes) == 2:
        scores["auc"] = float(roc_auc_score(truth == classes[1], probabilities[:, 1]))
    return scores


def regression_scores(y_true: Sequence[float], predicted: Sequence[float]) -> Dict[str, float]:
    error = np.asarray(predicted, dtype=float) - np.asarray(y_true, dtype=float)
    return {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error ** 2)))}


def ratio(task: Task, model: Dict[str, float], baselines: Sequence[Dict[str, float]]) -> float:
    """The model's metric over the better baseline's: above 1 is better for AUC/accuracy, worse for MAE."""
    values = [b[task.metric] for b in baselines]
    best = max(values) if task.higher_is_better else min(values)
    return model[task.metric] / best


def score_saved_model(model_dir: str, records: Sequence[bytes], y_true: Sequence, task: Task) -> Dict[str, float]:
    """Scores the exported model through serving_default on raw tf.Examples (the label too: the signature ignores it)."""
    import tensorflow as tf

    signature = tf.saved_model.load(model_dir).signatures["serving_default"]
    outputs = [signature(examples=tf.constant(list(records[i:i + 1024]))) for i in range(0, len(records), 1024)]
    if task.kind == "regression":
        return regression_scores(y_true, np.concatenate([o["predictions"].numpy() for o in outputs]))
    return classification_scores(y_true, task.classes, np.concatenate([o["probabilities"].numpy() for o in outputs]))


def baseline_scores(train: List[Dict], held_out: List[Dict], numeric: Sequence[str], categorical: Sequence[str],
                    label: str, task: Task) -> Dict[str, Dict[str, float]]:
    """HistGradientBoosting (default settings) and a standardised linear model, fitted on `train`."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    def frame(rows):
        data = pd.DataFrame([{c: r.get(c) for c in list(numeric) + list(categorical)} for r in rows],
                            columns=list(numeric) + list(categorical))
        data[list(numeric)] = data[list(numeric)].astype(float)
        data[list(categorical)] = data[list(categorical)].applymap(lambda v: None if v is None else label_text(v))
        return data

    def target(rows):
        return np.asarray([float(r[label]) if task.kind == "regression" else label_text(r[label]) for r in rows])

    x_train, x_test, y_train, y_test = frame(train), frame(held_out), target(train), target(held_out)
    # Categories first, then the numbers (the remainder), as the ordinal encoder lays them out.
    ordinal = ColumnTransformer([("categories", OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan, max_categories=250),
        list(categorical))], remainder="passthrough", verbose_feature_names_out=False)
    ordinal.set_output(transform="pandas")
    onehot = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), list(numeric)),
        ("categories", make_pipeline(SimpleImputer(strategy="constant", fill_value="(missing)"),
                                     OneHotEncoder(handle_unknown="ignore")), list(categorical))])
    regression = task.kind == "regression"
    hgb = (HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier)(
        categorical_features=[True] * len(categorical) + [False] * len(numeric) if categorical else None,
        random_state=0)
    models = {"hgb": make_pipeline(ordinal, hgb),
              "linear": make_pipeline(onehot, RidgeCV(alphas=np.logspace(-3, 3, 13)) if regression
                                      else LogisticRegression(max_iter=5000))}
    out = {}
    for name, model in models.items():
        model.fit(x_train, y_train)
        if regression:
            out[name] = regression_scores(y_test, model.predict(x_test))
        else:
            proba = model.predict_proba(x_test)
            columns = [list(model.classes_).index(c) if c in model.classes_ else None for c in task.classes]
            aligned = np.stack([proba[:, j] if j is not None else np.zeros(len(x_test)) for j in columns], axis=1)
            out[name] = classification_scores(y_test, task.classes, aligned)
    return out


@dataclass
class Result:
    dataset: str
    skipped: str = ""
    task: Optional[Task] = None
    rows: Tuple[int, int] = (0, 0)  # train, held out
    model: Dict[str, float] = field(default_factory=dict)
    tuned: Optional[Dict[str, float]] = None
    tuning_seconds: Optional[float] = None
    baselines: Dict[str, Dict[str, float]] = field(default_factory=dict)
    training: Optional[dict] = None  # what the Trainer's training did (training.json)
    seconds: float = 0.0


def run_pipeline(folder: str, output_dir: str, extra: Sequence[str] = ()) -> Tuple[str, float]:
    """local_runner.py as a user runs it; the console output and the wall time."""
    started = time.monotonic()
    process = subprocess.run([sys.executable, "local_runner.py", "--dataset", folder, "--output-dir", output_dir,
                              "--no-smoke-test", *extra], cwd=REPO_ROOT, capture_output=True, text=True)
    if process.returncode not in (exit_codes.OK, exit_codes.NOT_BLESSED):
        last = (process.stderr.strip() or process.stdout.strip() or "no output").splitlines()[-1]
        raise Skipped(f"local_runner.py exited {process.returncode}: {last}")
    return process.stdout, time.monotonic() - started


def model_task(model_dir: str, regression: bool) -> Task:
    """The task as the exported model states it: its classes, in its probabilities' order."""
    if regression:
        return Task("regression")
    import tensorflow as tf

    signature = tf.saved_model.load(model_dir).signatures["classification"]
    classes = signature(inputs=tf.constant([b""]))["classes"].numpy()[0]
    return Task("classification", tuple(c.decode() for c in classes))


def score_trained(output_dir: str, records: Sequence[bytes], y_true: Sequence, task: Task) -> Dict[str, float]:
    model_dir = trainer_output(output_dir, "model")
    if model_dir is None:
        raise Skipped(f"the run in {output_dir} exported no model")
    return score_saved_model(model_dir, records, y_true, task)


def measure(name: str, workdir: str, rows: int, tune: bool) -> Result:
    from models import features as features_lib
    from pipeline.config import DatasetConfig

    result, started = Result(name), time.monotonic()
    try:
        folder = DATASETS[name](workdir, rows)
        output_dir = os.path.join(workdir, "runs", name)
        run_pipeline(folder, output_dir)
        config = DatasetConfig.load(folder)
        features = features_lib.from_schema(features_lib.load_schema(os.path.join(folder, "schema.pbtxt")),
                                            config.label, config.ignore_columns, config.categorical)
        train_records, held_out = split_records(output_dir, TRAIN_SPLIT), split_records(output_dir, HELD_OUT_SPLIT)
        train, test = decode(train_records), decode(held_out)
        # Rows without a label are left out of training and evaluation by the pipeline too.
        keep = [i for i, r in enumerate(test) if config.label in r]
        held_out, test, train = [held_out[i] for i in keep], [test[i] for i in keep], [r for r in train
                                                                                        if config.label in r]
        regression = config.task == features_lib.REGRESSION
        task = result.task = model_task(trainer_output(output_dir, "model"), regression)
        y_true = [float(r[config.label]) if regression else label_text(r[config.label]) for r in test]
        result.rows = (len(train), len(test))
        result.model = score_trained(output_dir, held_out, y_true, task)
        training = trainer_output(output_dir, "model_run")
        if training and os.path.isfile(os.path.join(training, "training.json")):
            with open(os.path.join(training, "training.json")) as f:
                result.training = json.load(f)
        result.baselines = baseline_scores(train, test, features.numeric, features.categorical, config.label, task)
        if tune:
            stdout, _ = run_pipeline(folder, output_dir, ["--tune"])
            tuner = _TUNER_TIME.search(stdout)
            result.tuning_seconds = float(tuner.group(1)) if tuner else None
            result.tuned = score_trained(output_dir, held_out, y_true, task)
    except Skipped as e:
        result.skipped = str(e)
    result.seconds = time.monotonic() - started
    return result


_NAMES = {"auc": "AUC", "accuracy": "accuracy", "mae": "MAE", "rmse": "RMSE"}


def _cell(task: Task, scores: Optional[Dict[str, float]]) -> str:
    if not scores:
        return "n/a"
    others = [f"{_NAMES[k]} {v:.4g}" for k, v in scores.items() if k != task.metric]
    return f"{scores[task.metric]:.4g}" + (f" ({', '.join(others)})" if others else "")


def _training_cell(record: Optional[dict]) -> str:
    if not record:
        return "n/a"
    how = "early stop" if record.get("stopped") == "early stopping" else "cap"
    return f"{record['epochs']} epochs, {record['steps']} steps, {how}"


def table(results: Sequence[Result]) -> List[str]:
    lines = ["| dataset | rows (train / held out) | metric | default model | tuned (tuning time) | "
             "HistGradientBoosting | linear | default / better baseline | training |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.dataset} | skipped: {r.skipped} | | | | | | | |")
            continue
        task = r.task
        tuned = _cell(task, r.tuned) + (f" ({r.tuning_seconds:.0f} s)" if r.tuning_seconds is not None else "")
        better = "higher" if task.higher_is_better else "lower"
        lines.append(f"| {r.dataset} | {r.rows[0]} / {r.rows[1]} | {_NAMES[task.metric]} ({better} is better) | "
                     f"{_cell(task, r.model)} | {tuned} | {_cell(task, r.baselines['hgb'])} | "
                     f"{_cell(task, r.baselines['linear'])} | "
                     f"{ratio(task, r.model, list(r.baselines.values())):.3f} | {_training_cell(r.training)} |")
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flag(parser, "--datasets", default=",".join(DATASETS),
             help=f"comma-separated subset of: {', '.join(DATASETS)} (default: all)")
    add_flag(parser, "--rows", type=int, default=DEFAULT_ROWS,
             help=f"at most this many rows of a large dataset (default {DEFAULT_ROWS}; generated data: "
                  f"at most {GENERATED_ROWS})")
    add_flag(parser, "--no-tune", dest="tune", action="store_false",
             help="leave out the tuned model (local_runner.py --tune), which takes most of the time")
    add_flag(parser, "--workdir", help="keep the dataset folders and runs here (default: a temporary folder)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        parser.error(f"--datasets: unknown {unknown}; choose from {', '.join(DATASETS)}")
    if args.rows <= 0:
        parser.error("--rows must be positive")
    tune = args.tune
    command = "python -m benchmarks.model_quality " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"{datetime.date.today()}, {platform.node()} ({os.cpu_count()} cores, {platform.machine()}), "
          f"held-out split '{HELD_OUT_SPLIT}', tuned: {'yes' if tune else 'no (--no-tune)'}")
    print(f"command: {command.strip()}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = os.path.abspath(args.workdir) if args.workdir else scratch
        results = []
        for name in names:
            results.append(measure(name, workdir, args.rows, tune))
            print(f"  {name}: {results[-1].skipped or 'done'} ({results[-1].seconds:.0f} s)", flush=True)
    print("\n".join(table(results)))
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
