"""Shared fixtures. The venv's scripts/environment.pth has set TF_USE_LEGACY_KERAS before any import."""
import csv
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import List

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


CT_SPANS = 3
CT_TRAIN_STEPS = 300  # penguins stop early at about 250 steps: a window trains to a model as good as the last


def write_span(dataset, span: int, rows, header) -> None:
    """span-<N>/data.csv of the given rows, written whole (a span appears when its file is complete)."""
    folder = dataset / f"span-{span}"
    folder.mkdir()
    with open(folder / "data.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def penguin_spans(count: int):
    """(header, [rows of span 1, ...]): the bundled penguins dealt into `count` spans."""
    with open(os.path.join(PENGUINS, "penguins.csv"), newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [rows[1:][i::count] for i in range(count)]


def run_continuous(dataset, output, *args, timeout=900):
    """`python -m pipeline.continuous` as a user runs it; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "pipeline.continuous", "--dataset", str(dataset),
                           "--output-dir", str(output), "--train-steps", str(CT_TRAIN_STEPS), "--settle", "0",
                           "--no-smoke-test", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


@dataclass
class ContinuousRun:
    """A dataset of spans added one at a time, each followed by `python -m pipeline.continuous --once`."""

    dataset: str
    output: str
    header: List[str]
    spans: List[list]
    results: List[subprocess.CompletedProcess] = field(default_factory=list)

    def served_copy(self, tmp_path):
        """A private copy of the output to serve: (output folder, the model's base path, its first
        version, the bundled penguins as rows of that version's raw features)."""
        from serving.contract import schema_path
        from serving.raw_features import RawFeatures
        from serving.server.versions import list_versions

        output = tmp_path / "output"
        shutil.copytree(self.output, output)
        base = str(output / "serving_model" / "penguins")
        first = list_versions(base)[0]
        rows = RawFeatures.from_file(schema_path(os.path.join(base, str(first)))).read_csv(
            os.path.join(PENGUINS, "penguins.csv"))
        return output, base, first, rows


@pytest.fixture(scope="session")
def ct_run(tmp_path_factory):
    """Three spans of the bundled penguins, added one by one; one `--once` after each, then one more.

    Tests must not modify this output (copy it if needed).
    """
    root = tmp_path_factory.mktemp("ct")
    dataset, output = root / "dataset", root / "output"
    dataset.mkdir()
    for name in ("dataset.yaml", "schema.pbtxt"):
        (dataset / name).write_text(open(os.path.join(PENGUINS, name)).read())
    header, spans = penguin_spans(CT_SPANS + 1)  # the last one is for tests that add a span later
    run = ContinuousRun(str(dataset), str(output), header, spans)
    for span in range(1, CT_SPANS + 1):
        write_span(dataset, span, spans[span - 1], header)
        run.results.append(run_continuous(dataset, output, "--once"))
        assert run.results[-1].returncode == 0, run.results[-1].stdout + run.results[-1].stderr
    run.results.append(run_continuous(dataset, output, "--once"))
    return run


def pytest_collection_modifyitems(items):
    """Every test that needs a real pipeline run is an e2e test (`make test-fast` skips them)."""
    for item in items:
        if {"pipeline_run", "ct_run"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
