"""The Tuner end to end on the bundled penguins, with a tiny budget (2 trials, few steps), one output folder:

1. --tune: the Tuner runs before the Trainer and its best hyperparameters feed it; trials in ML Metadata;
2. the same again: the Tuner is cached;
3. --hparams FILE (plain JSON, the linear family): no tuning, the Trainer's model is linear;
4. a plain run: the Trainer reuses the latest hyperparameters (the imported ones), nothing re-tuned.
"""
import glob
import io
import json
import os

import pytest
import tensorflow as tf

import local_runner
from runs import exit_codes, metadata, tuning
from runs.store import open_store
from tests.conftest import PENGUINS

pytestmark = pytest.mark.e2e

TRAINED = (exit_codes.OK, exit_codes.NOT_BLESSED)  # a few steps may not reach the accuracy bar; both trained
TINY = ["--train-steps", "30", "--eval-steps", "5", "--no-smoke-test"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(output dir, {step: (exit code, console text)}) of the four runs above."""
    root = tmp_path_factory.mktemp("tuning")
    config_file = root / "config.yaml"
    config_file.write_text("tuning:\n  max_trials: 2\n  time_budget: 5m\n")
    hparams = root / "linear.json"
    hparams.write_text(json.dumps({"model_type": "linear", "learning_rate": 0.05}))
    out = str(root / "out")
    steps = {"tuned": ["--tune", "--config", str(config_file)], "again": ["--tune", "--config", str(config_file)],
             "imported": ["--hparams", str(hparams)], "reused": []}
    results = {}
    for step, flags in steps.items():
        console = io.StringIO()
        config = local_runner.config_from_args(local_runner.build_parser().parse_args(
            ["--dataset", PENGUINS, "--output-dir", out, *TINY, *flags]))
        results[step] = (local_runner.run(config, out=console, smoke_test=False), console.getvalue())
    return out, results


def _runs(out):
    store = open_store(local_runner.config_from_args(
        local_runner.build_parser().parse_args(["--output-dir", out])).metadata)
    return store, [metadata.run_overview(store, r) for r in reversed(metadata.pipeline_runs(store))]


def _kernels(model_uri: str) -> int:
    """Dense layers in the exported model: 1 for the linear family."""
    reader = tf.train.load_checkpoint(os.path.join(model_uri, "Format-Serving", "variables", "variables"))
    return sum(1 for k in reader.get_variable_to_shape_map() if k.endswith("kernel/.ATTRIBUTES/VARIABLE_VALUE")
               and "OPTIMIZER" not in k)


def _expected_kernels(values) -> int:
    """A linear model has one Dense layer, a DNN one per hidden layer plus its output, wide and deep one more."""
    hidden = values.get("num_layers", 0)
    return {"linear": 1, "dnn": hidden + 1, "wide_and_deep": hidden + 2}[values["model_type"]]


def _trainer_model(store, run) -> str:
    trainer = next(e for e in run.executions if e.node_id == "Trainer")
    return metadata.output_artifacts(store, trainer.execution_id)["model"][0].uri


def test_the_tuner_feeds_the_trainer_and_records_its_trials(runs):
    out, results = runs
    code, console = results["tuned"]
    assert code in TRAINED, console
    assert "Tuner" in console and "2 trials" in console
    store, overview = _runs(out)
    tuned = tuning.trained_with(store, overview[0])
    assert tuned.producer == "Tuner" and len(tuned.trials) == 2
    assert all({"values", "status", "score", "seconds"} <= set(t) for t in tuned.trials)
    assert _kernels(_trainer_model(store, overview[0])) == _expected_kernels(tuned.values)


def test_a_rerun_with_nothing_changed_caches_the_tuner(runs):
    _, results = runs
    tuner_line = next(line for line in results["again"][1].splitlines() if line.strip().startswith("Tuner "))
    assert "cached" in tuner_line


def test_hparams_file_skips_tuning_and_sets_the_model_family(runs):
    out, results = runs
    code, console = results["imported"]
    assert code in TRAINED, console
    assert "hparams_importer" in console and "Tuner " not in console
    store, overview = _runs(out)
    given = tuning.trained_with(store, overview[2])
    assert given.producer == "hparams_importer" and given.values["model_type"] == "linear"
    assert _kernels(_trainer_model(store, overview[2])) == _expected_kernels(given.values) == 1


def test_a_plain_run_reuses_the_latest_hyperparameters(runs):
    out, results = runs
    code, console = results["reused"]
    assert code in TRAINED, console
    store, overview = _runs(out)
    assert tuning.trained_with(store, overview[3]).artifact_id == tuning.trained_with(store, overview[2]).artifact_id
    assert "Tuner " not in console


def test_inspect_shows_the_trials_of_the_tuned_run(runs, capsys):
    from runs import inspect

    out, _ = runs
    store, overview = _runs(out)
    assert inspect.main(["tuning", "--output-dir", out, "--run", overview[0].run_id]) == 0
    text = capsys.readouterr().out
    assert "2 trials" in text and "completed" in text and glob.glob(os.path.join(out, "reports", "*.html"))
