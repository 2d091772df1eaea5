"""Your own data, end to end: a CSV -> data.init -> the pipeline -> a served model answering raw CSV rows.

Four datasets, each run once per module (small data, few training steps) with the smoke test on, as
a user's run has it: a regression whose integer category is written as floats (1.0, as pandas does),
a binary task judged by AUC, a multi-class task with awkward column names and an integer category
(all made here), and the TFX taxi data from ../shared (skipped where that folder is absent, as it is
for users).
"""
import csv
import functools
import io
import math
import os

import numpy as np
import pytest
import requests
import yaml

import local_runner
from data import init
from pipeline import preflight
from pipeline.config import load_config
from runs import exit_codes
from serving.server import ModelServer
from tests import datasets
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

TRAIN_STEPS = 150
FLOAT_CODED = "condition code"  # the houses' category, written 1.0, 2.0, 3.0
SHARED_CANDIDATES = [os.path.join(REPO_ROOT, *up, "shared") for up in ((os.pardir,), (os.pardir, os.pardir))]
TAXI = next((os.path.join(s, "datasets", "chicago_taxi", "data.csv") for s in SHARED_CANDIDATES
             if os.path.isfile(os.path.join(s, "datasets", "chicago_taxi", "data.csv"))), None)
MADE_HERE = {  # name -> (columns and rows, label)
    "houses": (functools.partial(datasets.house_prices, codes_as_floats=True), "price"),
    "churn": (datasets.churn, "churned"),
    "flowers": (datasets.awkward_flowers, "Art"),
}


def _source(name, tmp_path):
    if name == "taxi":
        if TAXI is None:
            pytest.skip("the taxi data lives in ../shared/datasets/chicago_taxi/, which is absent here")
        return TAXI, "big_tipper"
    make, label = MADE_HERE[name]
    columns, rows = make()
    path = tmp_path / f"{name}.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    return str(path), label


@pytest.fixture(scope="module", params=["houses", "churn", "flowers", "taxi"])
def own_run(request, tmp_path_factory):
    """data.init on the CSV, then one pipeline run: (checked config, exit code, console output, CSV path)."""
    tmp_path = tmp_path_factory.mktemp(request.param)
    source, label = _source(request.param, tmp_path)
    folder = init.create(source, label, None, request.param, str(tmp_path / "data"), out=io.StringIO())
    if request.param == "houses":
        _declare_categorical(folder, FLOAT_CODED)
    config, _ = preflight.check(load_config(None, {"dataset": folder, "output_dir": str(tmp_path / "outputs"),
                                                   "train_steps": TRAIN_STEPS}))
    out = io.StringIO()
    code = local_runner.run(config, out=out)
    return config, code, out.getvalue(), source


def _declare_categorical(folder, column):
    """The float-coded column stays a category (as data.init chose it when this test was written),
    so the run keeps covering a FLOAT feature with a vocabulary, whatever data.init decides later."""
    path = os.path.join(folder, "dataset.yaml")
    with open(path) as f:
        config = yaml.safe_load(f)
    if column not in (config.get("categorical") or []):
        config["categorical"] = [*(config.get("categorical") or []), column]
        with open(path, "w") as f:
            yaml.safe_dump(config, f, allow_unicode=True, sort_keys=False)


def test_the_run_pushes_a_model_that_passes_the_smoke_test(own_run):
    config, code, output, _ = own_run
    assert code == exit_codes.OK, output
    assert "Blessed: yes" in output and "Pushed: version" in output and "Smoke test: " in output
    metric = config.dataset.evaluation.metric
    assert f"Evaluation: {metric} = " in output and f"blessed if: {metric} " in output  # the user's words


def _json_value(text):
    """A CSV field as a client would put it in JSON: empty -> null, numbers as numbers."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _csv_rows(path, limit=400):
    with open(path, newline="", encoding="utf-8-sig") as f:
        return [{k: _json_value(v) for k, v in row.items()} for _, row in zip(range(limit), csv.DictReader(f))]


def _auc(scores, positives):
    ranks = np.argsort(np.argsort(scores)) + 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return (ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@pytest.fixture(scope="module")
def served(own_run):
    config, code, output, source = own_run
    assert code == exit_codes.OK, output
    server = ModelServer(config.model_name, config.serving_dir, grpc_port=0, rest_port=0, request_log_dir=None)
    server.start(wait_for_model_seconds=120)
    yield config, server, source
    server.stop()


def test_the_served_model_answers_rows_as_they_appear_in_the_csv(served):
    """Label and ignored columns included: accepted and dropped; the answers reach the dataset's bar."""
    config, server, source = served
    dataset = config.dataset
    rows = _csv_rows(source)
    response = requests.post(f"{server.rest_url}/v1/models/{config.model_name}:predict",
                             json={"instances": rows}, timeout=60)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(rows)
    labelled = [(p, r[dataset.label]) for p, r in zip(predictions, rows) if r[dataset.label] is not None]
    evaluation = dataset.evaluation
    if not dataset.classes:  # regression: one number per row
        values = np.array([p["predictions"] if isinstance(p, dict) else p for p, _ in labelled], dtype=float)
        assert np.isfinite(values).all()
        errors = np.abs(values - np.array([y for _, y in labelled], dtype=float))
        assert errors.mean() <= evaluation.max_value
        return
    classes = [str(c) for c in dataset.classes]
    assert all(str(p["classes"]) in classes and math.isclose(sum(p["probabilities"]), 1, rel_tol=1e-4)
               for p, _ in labelled)
    truth = [str(y) for _, y in labelled]
    if len(classes) == 2:
        scores = np.array([p["probabilities"][1] for p, _ in labelled])
        assert _auc(scores, np.array([t == classes[1] for t in truth])) >= evaluation.min_value
    else:
        accuracy = np.mean([str(p["classes"]) == t for (p, _), t in zip(labelled, truth)])
        assert accuracy >= evaluation.min_value


def test_a_key_that_was_never_a_column_is_still_refused(served):
    config, server, source = served
    row = {**_csv_rows(source, limit=1)[0], "never_a_column": 1}
    response = requests.post(f"{server.rest_url}/v1/models/{config.model_name}:predict",
                             json={"instances": [row]}, timeout=60)
    assert response.status_code == 400 and "never_a_column" in response.json()["error"]


def test_a_spreadsheet_style_csv_runs_as_data_init_wrote_it(tmp_path):
    """An empty column, a category written as floats (1.0/2.0) and a date column: data.init, then one run with
    the smoke test on (the float-coded category's warm-up records replay), exit 0."""
    import pandas as pd

    rng = np.random.default_rng(5)
    n = 240
    grade = rng.integers(1, 4, n).astype(float)
    grade[::30] = np.nan  # pandas writes an integer column with a gap as 1.0, 2.0, 3.0
    hours = rng.uniform(0, 10, n).round(2)
    frame = pd.DataFrame({"signup date": [f"2022-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)],
                          "empty": [None] * n, "grade code": grade, "hours": hours,
                          "spend": (5 * hours + 10 * np.nan_to_num(grade, nan=2) + rng.normal(0, 6, n)).round(2)})
    source = tmp_path / "spreadsheet.csv"
    frame.to_csv(source, index=False)
    folder = init.create(str(source), "spend", None, "spreadsheet", str(tmp_path / "data"), out=io.StringIO())
    config, _ = preflight.check(load_config(None, {"dataset": folder, "output_dir": str(tmp_path / "outputs"),
                                                   "train_steps": 60}))
    assert set(config.dataset.ignore_columns) == {"signup date", "empty"}
    assert config.dataset.categorical == ("grade code",)
    out = io.StringIO()
    assert local_runner.run(config, out=out) == exit_codes.OK, out.getvalue()
    assert "Smoke test: " in out.getvalue() and "serves over REST and gRPC" in out.getvalue()
