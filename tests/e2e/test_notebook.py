"""notebooks/walkthrough.ipynb runs top to bottom, headless, against a finished run."""
import json
import os
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

NOTEBOOK = os.path.join(REPO_ROOT, "notebooks", "walkthrough.ipynb")
# Appended by the test only: hands the notebook's final state back as JSON.
CHECK_CELL = ('print("CHECK " + json.dumps({"predicted": list(table["predicted"]), "actual": actual, '
              '"report": report_file, "evaluated": evaluation_uri}))')


def _texts(cell):
    for output in cell.get("outputs", []):
        yield output.get("text") or output.get("data", {}).get("text/plain", "")


def test_walkthrough_runs_top_to_bottom(pipeline_run, tmp_path, monkeypatch):
    output = tmp_path / "output"
    output.mkdir()
    shutil.copyfile(pipeline_run.metadata.sqlite_path, output / "metadata.sqlite")
    shutil.copytree(os.path.dirname(pipeline_run.serving_dir), output / "serving_model")
    monkeypatch.setenv("WALKTHROUGH_OUTPUT_DIR", str(output))
    monkeypatch.setenv("WALKTHROUGH_RUN_PIPELINE", "never")  # the session's run is reused, not repeated

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert "parameters" in notebook.cells[1].metadata.get("tags", [])
    notebook.cells.append(nbformat.v4.new_code_cell("import json\n" + CHECK_CELL))
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}}).execute()

    text = "\n".join(t for cell in notebook.cells for t in _texts(cell))
    assert f"output folder: {output}" in text and "Reusing the runs" in text
    assert "No anomalies: every split matches the schema." in text
    assert "model status: AVAILABLE" in text
    check = json.loads(text.split("CHECK ", 1)[1].splitlines()[0])
    species = {"Adelie", "Chinstrap", "Gentoo"}
    assert len(check["predicted"]) == 5 and set(check["predicted"]) <= species
    assert sum(p == a for p, a in zip(check["predicted"], check["actual"])) >= 4
    assert check["report"].startswith(str(output / "reports")) and os.path.isfile(check["report"])
    assert check["evaluated"].startswith(pipeline_run.pipeline_root)
