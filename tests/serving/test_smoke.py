import shutil

import pytest

from serving import smoke
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
