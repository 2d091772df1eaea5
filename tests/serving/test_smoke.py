import shutil
import time

import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import prediction_log_pb2

from runs import history, inspect
from runs.store import MetadataConfig, open_store
from serving import contract, smoke
from serving.client import named_rows
from serving.smoke import SmokeTestFailed, smoke_test
from tests.models.model_fixtures import RAW_ROWS
from tests.serving.conftest import REGRESSION_MODEL

MODEL = "penguins"


def test_pushed_model_passes(pipeline_run):
    result = smoke_test(pipeline_run.serving_dir, MODEL, max_rows=16)
    assert result.ok, result.report()
    assert result.rows == 16 and len(result.checks) == 7
    assert "PASSED" in result.report()


def test_rows_can_be_given_as_dicts(pipeline_run):
    rows = [{"island": "Dream", "bill_length_mm": 49.0, "bill_depth_mm": 19.5, "flipper_length_mm": 210,
             "body_mass_g": 3950, "sex": "male"}]
    assert smoke_test(pipeline_run.serving_dir, MODEL, rows).ok


def test_broken_push_fails_clearly(tmp_path, pipeline_run):
    base = tmp_path / MODEL
    shutil.copytree(pipeline_run.serving_dir, base)
    for version_dir in base.iterdir():
        (version_dir / "saved_model.pb").write_bytes(b"truncated")
    with pytest.raises(SmokeTestFailed) as error:
        smoke_test(str(base), MODEL, load_timeout_seconds=2)
    assert "FAILED" in str(error.value) and "no loadable version" in str(error.value)
    result = smoke_test(str(base), MODEL, load_timeout_seconds=2, raise_on_failure=False)
    assert not result.ok and result.failures


def test_invalid_rows_fail_the_smoke_test(pipeline_run):
    result = smoke_test(pipeline_run.serving_dir, MODEL, [{"island": 3}], raise_on_failure=False)
    assert not result.ok and "expects a string" in result.report()


def test_command(pipeline_run, capsys, tmp_path):
    assert smoke.main(["--output-dir", pipeline_run.output_dir, "--rows", "8"]) == 0
    assert "PASSED" in capsys.readouterr().out
    assert smoke.main(["--output-dir", str(tmp_path)]) == 2
    assert "no models" in capsys.readouterr().err


def test_a_regression_model_passes_although_rest_answers_bare_values(regression_base_path):
    """A regression signature has a single output, so TF Serving's REST rows are bare values."""
    rows = [{k: v for k, v in row.items() if k not in ("species", "year")} for row in RAW_ROWS]
    result = smoke_test(regression_base_path, REGRESSION_MODEL, rows, raise_on_failure=False)
    assert result.ok, result.report()
    assert "REST predict (raw feature objects) matches in-process call" in result.report()


@pytest.mark.parametrize("predictions, outputs, rows", [
    ([1.5, 2.5], ["predictions"], [{"predictions": 1.5}, {"predictions": 2.5}]),
    ([[0.1, 0.9]], ["probabilities"], [{"probabilities": [0.1, 0.9]}]),
    ([{"classes": "a", "probabilities": [0.9, 0.1]}], ["classes", "probabilities"],
     [{"classes": "a", "probabilities": [0.9, 0.1]}]),
])
def test_named_rows_names_the_single_output_as_rest_leaves_it_bare(predictions, outputs, rows):
    assert named_rows(predictions, outputs) == rows


def _sabotage_warmup(version_dir) -> None:
    """A warm-up record holding a string for a FLOAT feature: the version can never load."""
    example = example_pb2.Example()
    example.features.feature["bill_length_mm"].bytes_list.value.append(b"forty")
    entry = prediction_log_pb2.PredictionLog()
    request = entry.predict_log.request
    request.model_spec.signature_name = contract.SERVING_SIGNATURE
    request.inputs[contract.EXAMPLES_INPUT].CopyFrom(tf.make_tensor_proto([example.SerializeToString()]))
    with tf.io.TFRecordWriter(contract.warmup_path(str(version_dir))) as writer:
        writer.write(entry.SerializeToString())


def test_a_version_that_cannot_load_fails_fast_with_the_servers_reason(regression_base_path, tmp_path):
    base = tmp_path / REGRESSION_MODEL
    shutil.copytree(regression_base_path, base)
    _sabotage_warmup(base / "1")
    started = time.monotonic()
    result = smoke_test(str(base), REGRESSION_MODEL, [{"bill_length_mm": 40.0}], raise_on_failure=False,
                        load_timeout_seconds=120)
    assert time.monotonic() - started < 30  # the failure is permanent: no waiting out the 120 s
    assert not result.ok and result.version == 1
    [failure] = result.failures
    assert failure.name == smoke.LOADS and "\n" not in failure.detail
    assert "version 1 failed to load: ValueError: warm-up record 1 failed" in failure.detail
    assert "bill_length_mm" in failure.detail and "after 120s" not in failure.detail
    assert result.verdict().startswith(smoke.LOADS + ": no loadable version of mass")


def test_an_older_version_serving_in_place_of_the_pushed_one_is_a_failure(regression_base_path, tmp_path):
    base = tmp_path / REGRESSION_MODEL
    shutil.copytree(regression_base_path, base)
    shutil.copytree(base / "1", base / "2")
    _sabotage_warmup(base / "2")
    result = smoke_test(str(base), REGRESSION_MODEL, [{"bill_length_mm": 40.0}], raise_on_failure=False)
    assert not result.ok and result.version == 2
    assert result.verdict() == (f"{smoke.LOADS}: version 2 does not serve (not loaded: failed to load: ValueError: "
                                f"warm-up record 1 failed: {result.failures[0].detail.split('warm-up record 1 failed: ')[1]}")
    assert result.failures[0].detail.endswith("; version 1 serves in its place")
    assert smoke_test(str(base), REGRESSION_MODEL, RAW_ROWS, version=1).ok


def test_a_failed_smoke_test_is_marked_on_the_run_that_pushed_the_version(pipeline_run, tmp_path, capsys):
    """Run through the command, as the continuous runner does; the session's own run passed its smoke test."""
    output = tmp_path / "output"
    shutil.copytree(pipeline_run.output_dir, output)
    store = open_store(MetadataConfig.for_output(str(output)), readonly=True)
    [row] = history.history(store)
    assert (row.outcome, row.smoke_test) == (history.PUSHED, "passed")
    [version_dir] = (output / "serving_model" / MODEL).iterdir()
    _sabotage_warmup(version_dir)
    assert smoke.main(["--output-dir", str(output)]) == 1
    out = capsys.readouterr().out
    assert "warm-up record 1 failed" in out and "Expected type: float" in out
    [row] = history.history(open_store(MetadataConfig.for_output(str(output)), readonly=True))
    assert row.outcome == history.SMOKE_FAILED and "warm-up record 1 failed" in row.smoke_test
    assert inspect.main(["history", "--output-dir", str(output)]) == 0
    text = capsys.readouterr().out
    assert "smoke test failed" in text and f"{row.run_id}: smoke test failed: {smoke.LOADS}" in text
    assert inspect.main(["runs", "--output-dir", str(output)]) == 0
    assert ", smoke test failed: " in capsys.readouterr().out
