"""notebooks/develop.ipynb top to bottom, and the partial runs it and docs/develop.md make, checked in ML Metadata.

One copy of the session's finished run: the notebook develops beside it (<output>/develop/) and its
last cell runs `local_runner.py --from Trainer` on it; the docs' `--only Evaluator` runs after that.
"""
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from pipeline.config import load_config
from runs import exit_codes, history, metadata, report
from runs.store import open_store
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

NOTEBOOK = os.path.join(REPO_ROOT, "notebooks", "develop.ipynb")
DOC = os.path.join(REPO_ROOT, "docs", "develop.md")


def _texts(cell):
    for output in cell.get("outputs", []):
        yield output.get("text") or output.get("data", {}).get("text/plain", "")


@pytest.fixture(scope="module")
def developed(pipeline_run, tmp_path_factory):
    """(config of the copied output, the notebook's text, the finished run it started from)."""
    output = tmp_path_factory.mktemp("develop") / "output"
    shutil.copytree(pipeline_run.output_dir, output)
    config = load_config(None, {"output_dir": str(output)})
    base = metadata.pipeline_runs(open_store(config.metadata, readonly=True))[0]
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert "parameters" in notebook.cells[1].metadata.get("tags", [])
    os.environ.update(DEVELOP_OUTPUT_DIR=str(output), DEVELOP_TRAIN_STEPS="20")
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}}).execute()
    finally:
        for name in ("DEVELOP_OUTPUT_DIR", "DEVELOP_TRAIN_STEPS"):
            os.environ.pop(name)
    return config, "\n".join(t for cell in notebook.cells for t in _texts(cell)), base


def test_the_notebook_shows_each_component_and_reruns_from_the_trainer(developed):
    config, text, _ = developed
    assert "components, in the pipeline's order: CsvExampleGen" in text
    assert "examples per split:" in text and "No anomalies: every split matches the schema." in text
    assert "species" in text and "blessed: True" in text
    assert re.search(r"accuracy: [01]\.\d{4} with 20 steps, [01]\.\d{4} with 40", text)
    # The notebook's own store, apart from the runs' history.
    assert os.path.isfile(os.path.join(config.layout.develop_dir, "metadata.sqlite"))


def test_the_notebooks_last_cell_runs_only_the_trainer_and_after_reusing_the_finished_run(developed):
    config, text, base = developed
    # Pushed, or not blessed against the finished run's model: the notebook trains few steps.
    assert f"exit code: {exit_codes.OK}" in text or f"exit code: {exit_codes.NOT_BLESSED}" in text
    store = open_store(config.metadata, readonly=True)
    partial = metadata.pipeline_runs(store)[0]
    states = {e.node_id: e.state for e in metadata.run_executions(store, partial, config.pipeline_name)}
    ran = {node for node, state in states.items() if state == "complete"}
    assert ran == {"latest_blessed_model_resolver", "latest_hyperparameters_resolver", "Trainer", "Evaluator", "Pusher"}
    assert {states[n] for n in ("CsvExampleGen", "StatisticsGen", "ExampleValidator", "Transform")} == {"cached"}
    # The reused artifacts are the finished run's own, and the run says so.
    for node in ("CsvExampleGen", "Transform"):
        [reused] = [e for e in metadata.run_executions(store, partial, config.pipeline_name) if e.node_id == node]
        [original] = [e for e in metadata.run_executions(store, base, config.pipeline_name) if e.node_id == node]
        ids = sorted(a.id for arts in metadata.output_artifacts(store, reused.execution_id).values() for a in arts)
        assert ids == sorted(a.id for arts in metadata.output_artifacts(store, original.execution_id).values()
                             for a in arts)
        assert f"{node} " + ",".join(f"#{i}" for i in ids) in text
    assert f"reuses the artifacts of run {base}" in text
    row = history.history(store)[0]
    assert (row.trigger, row.trigger_detail) == ("partial from Trainer", f"reuses run {base}")
    assert row.outcome in (history.PUSHED, history.NOT_BLESSED) and row.value is not None
    assert report.collect(store, partial).trigger["trigger"] == "partial from Trainer"


def test_the_documented_evaluate_only_run_runs_the_evaluator_alone(developed):
    config, _, _ = developed
    [command] = [line for line in open(DOC).read().splitlines() if "local_runner.py --only Evaluator" in line]
    args = command.split("#")[0].split("local_runner.py", 1)[1].replace("--output-dir outputs", "").split()
    finished = subprocess.run([sys.executable, "local_runner.py", *args, "--output-dir", config.output_dir],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert finished.returncode == exit_codes.OK, finished.stdout + finished.stderr
    store = open_store(config.metadata, readonly=True)
    run = metadata.pipeline_runs(store)[0]
    ran = {e.node_id for e in metadata.run_executions(store, run, config.pipeline_name) if e.state == "complete"}
    assert ran == {"latest_blessed_model_resolver", "Evaluator"}
    assert "Not pushed: this partial run ends before the Pusher" in finished.stdout
