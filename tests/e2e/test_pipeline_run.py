"""The real pipeline, end to end, on the bundled data (marked e2e; CI runs it)."""
import csv
import io
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import local_runner
from runs import metadata
from pipeline.config import load_config
from runs import exit_codes
from runs.store import open_store
from serving.contract import schema_path
from serving.raw_features import RawFeatures
from tests.conftest import PENGUINS

pytestmark = pytest.mark.e2e

ALL_COMPONENTS = {"CsvExampleGen", "ImportSchemaGen", "StatisticsGen", "ExampleValidator", "Transform",
                  "latest_blessed_model_resolver", "latest_hyperparameters_resolver", "Trainer", "Evaluator", "Pusher"}
UPSTREAM = {"CsvExampleGen", "ImportSchemaGen", "StatisticsGen", "ExampleValidator", "Transform", "Trainer"}


def _latest_run(config):
    store = open_store(config.metadata, readonly=True)
    run_id = metadata.pipeline_runs(store, config.pipeline_name)[0]
    return {e.node_id: e.state for e in metadata.run_executions(store, run_id, config.pipeline_name)}


def _versions(serving_dir):
    return sorted(int(v) for v in os.listdir(serving_dir)) if os.path.isdir(serving_dir) else []


def _snapshot(directory):
    """Every file under a directory with its size, to prove nothing changed."""
    return {os.path.relpath(os.path.join(root, f), directory): os.path.getsize(os.path.join(root, f))
            for root, _, files in os.walk(directory) for f in files}


def _copy_run(pipeline_run, tmp_path, **overrides):
    """A private copy of the session's finished run, to run again without touching the original."""
    output = tmp_path / "output"
    shutil.copytree(pipeline_run.output_dir, output)
    return load_config(None, {"output_dir": str(output), **overrides})


def _run(config):
    out = io.StringIO()
    code = local_runner.run(config, out=out)
    return code, out.getvalue()


def test_every_component_completed(pipeline_run):
    assert _latest_run(pipeline_run) == {c: "complete" for c in ALL_COMPONENTS}


def test_the_evaluator_judged_on_the_test_split_alone(pipeline_run):
    """From ML Metadata: ExampleGen wrote train/eval/test, Transform analysed train, the Trainer fitted on train and
    evaluated on eval, and the Evaluator read only test: its example count is the test split's size."""
    from runs import history, results, split_use

    store = open_store(pipeline_run.metadata, readonly=True)
    run_id = metadata.pipeline_runs(store, pipeline_run.pipeline_name)[0]
    by_node = {e.node_id: e for e in metadata.run_executions(store, run_id, pipeline_run.pipeline_name)}
    read = {node: split_use.splits_read(store.get_executions_by_id([e.execution_id])[0])
            for node, e in by_node.items()}
    assert read["Transform"] == {"analyze": ["train"], "transform": ["train", "eval", "test"]}
    assert read["Trainer"] == {"train": ["train"], "eval": ["eval"]}
    assert read["Evaluator"] == {"evaluate": ["test"]}
    [examples] = metadata.output_artifacts(store, by_node["CsvExampleGen"].execution_id)["examples"]
    assert metadata.artifact_properties(examples)["split_names"] == '["train", "eval", "test"]'
    sizes = {split: sum(1 for _ in tf.data.TFRecordDataset(
        tf.io.gfile.glob(os.path.join(examples.uri, f"Split-{split}", "*")), compression_type="GZIP"))
        for split in ("train", "eval", "test")}
    assert all(sizes.values()) and sizes["train"] > sizes["eval"] + sizes["test"]
    [evaluation] = metadata.output_artifacts(store, by_node["Evaluator"].execution_id)["evaluation"]
    counted = results.read_evaluation(evaluation.uri, blessed=True).metrics["Overall"]["example_count"]
    assert counted == sizes["test"]
    row = history.history_row(store, run_id)
    assert (row.evaluated_on, row.evaluated_examples) == (["test"], sizes["test"])


def test_pushed_model_has_tf_serving_layout(pipeline_run):
    versions = os.listdir(pipeline_run.serving_dir)
    assert len(versions) == 1 and versions[0].isdigit()
    version_dir = os.path.join(pipeline_run.serving_dir, versions[0])
    assert os.path.isfile(os.path.join(version_dir, "saved_model.pb"))
    assert os.path.isfile(os.path.join(version_dir, "variables", "variables.index"))
    assert os.path.isfile(os.path.join(version_dir, "assets.extra", "schema.pbtxt"))


def test_pushed_model_predicts_species_from_raw_rows(pipeline_run):
    version_dir = os.path.join(pipeline_run.serving_dir, os.listdir(pipeline_run.serving_dir)[0])
    serve = tf.saved_model.load(version_dir).signatures["serving_default"]
    csv_path = os.path.join(PENGUINS, "penguins.csv")
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    # The served features of each row (no label), encoded as a client would with the model's own schema.
    features = RawFeatures.from_file(schema_path(version_dir))
    out = serve(examples=tf.constant(features.serialize(features.read_csv(csv_path))))
    predicted = [c.decode() for c in out["classes"].numpy()]
    accuracy = np.mean([p == r["species"] for p, r in zip(predicted, rows)])
    assert accuracy > pipeline_run.dataset.evaluation.min_value
    assert out["probabilities"].shape == (len(rows), 3)


def test_rerun_reuses_the_cache(pipeline_run, tmp_path):
    config = _copy_run(pipeline_run, tmp_path)
    code, output = _run(config)
    assert code == 0, output
    states = _latest_run(config)
    assert {c: states[c] for c in UPSTREAM} == {c: "cached" for c in UPSTREAM}
    for component in UPSTREAM:
        assert f"{component} " in output and "cached" in output.split(f"  {component} ")[1].split("\n")[0]
    # the newly pushed version was served over REST and gRPC before the run reported success
    version = _versions(config.serving_dir)[-1]
    assert f"Smoke test: version {version} serves over REST and gRPC" in output


def _inject_anomalies(tmp_path):
    dataset = tmp_path / "bad-penguins"
    shutil.copytree(PENGUINS, dataset)
    path = dataset / "penguins.csv"
    with open(path) as f:
        rows = list(csv.DictReader(f))
    rows[0]["island"] = "Atlantis"         # unknown category
    rows[1]["body_mass_g"] = "99000"       # out of range
    rows[2]["bill_depth_mm"] = "deep"      # wrong type: the column becomes a string
    columns = [c for c in rows[0] if c != "flipper_length_mm"]  # a missing column
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return dataset


def test_anomalies_stop_the_run_before_training(pipeline_run, tmp_path):
    config = _copy_run(pipeline_run, tmp_path, dataset=str(_inject_anomalies(tmp_path)))
    served_before = _snapshot(config.serving_dir)
    code, output = _run(config)
    assert code == exit_codes.ANOMALIES, output
    assert "stopped the run before training" in output
    for feature in ("island", "body_mass_g", "bill_depth_mm", "flipper_length_mm"):
        assert f"] {feature}: " in output, f"anomaly for {feature} not reported:\n{output}"
    assert "Unexpected string values" in output or "Atlantis" in output
    states = _latest_run(config)
    assert "Trainer" not in states and "Pusher" not in states and "Transform" not in states
    assert "skipped" in output.split("  Trainer ")[1].split("\n")[0]
    assert _snapshot(config.serving_dir) == served_before


def test_model_below_threshold_is_not_pushed(pipeline_run, tmp_path):
    config = _copy_run(pipeline_run, tmp_path, train_steps=1)
    served_before = _snapshot(config.serving_dir)
    code, output = _run(config)
    assert code == exit_codes.NOT_BLESSED, output
    assert "Blessed: NO" in output
    assert "failed: accuracy on Overall" in output
    assert "short by" in output  # how far below the bar
    assert "(change vs baseline)" in output  # and the regression against the blessed model
    assert _snapshot(config.serving_dir) == served_before
    assert _latest_run(config)["Trainer"] == "complete"  # retrained with the new step count
