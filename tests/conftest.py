"""Shared fixtures. The venv's scripts/environment.pth has set TF_USE_LEGACY_KERAS before any import."""
import os

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENGUINS = os.path.join(REPO_ROOT, "data", "penguins")


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory):
    """The real pipeline, run once per test session on the bundled data.

    Returns the PipelineConfig; its serving_dir holds the pushed model and its
    metadata store the run. Tests must not modify this output (copy it if needed).
    """
    import local_runner
    from pipeline.config import load_config

    config = load_config(None, {"dataset": PENGUINS, "output_dir": str(tmp_path_factory.mktemp("pipeline"))})
    exit_code = local_runner.run(config)
    assert exit_code == 0, "the pipeline run on the bundled data failed"
    return config


@pytest.fixture(scope="session")
def tiny_transform(tmp_path_factory):
    """preprocessing_fn analyzed over a few rows: (transformed rows, TFTransformOutput)."""
    from tests.models.model_fixtures import analyze_and_transform

    return analyze_and_transform(str(tmp_path_factory.mktemp("tft")))


def pytest_collection_modifyitems(items):
    """Every test that needs the real pipeline run is an e2e test (`make test-fast` skips them)."""
    for item in items:
        if "pipeline_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)
