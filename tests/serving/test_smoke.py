import shutil

import pytest

from serving import smoke
from serving.smoke import SmokeTestFailed, smoke_test

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
