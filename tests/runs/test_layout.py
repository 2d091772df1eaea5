import os
import subprocess
import sys

import pytest

from runs.layout import LayoutError, OutputLayout
from runs.layout import main as layout_main
from tests.conftest import REPO_ROOT


def test_every_output_has_one_path_under_the_output_dir(tmp_path):
    layout = OutputLayout(str(tmp_path))
    assert layout.pipeline_root == str(tmp_path / "pipeline_root")
    assert layout.metadata_sqlite == str(tmp_path / "metadata.sqlite")
    assert layout.model_base_path("penguins") == str(tmp_path / "serving_model" / "penguins")
    assert layout.request_log_dir("penguins") == str(tmp_path / "request_log" / "penguins")
    assert layout.monitoring_dir("penguins") == str(tmp_path / "monitoring" / "penguins")
    assert layout.monitoring_result("penguins", "drift") == str(tmp_path / "monitoring" / "penguins"
                                                                / "latest_drift.json")
    assert layout.latest_report == str(tmp_path / "reports" / "latest.html")
    assert layout.kubeflow_spec("p") == str(tmp_path / "kubeflow" / "p.yaml")


def test_relative_output_dirs_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert OutputLayout("out").serving_root == str(tmp_path / "out" / "serving_model")


def test_report_path_is_file_name_safe():
    assert OutputLayout("/out").report_path("2026-01-02T03:04:05") == "/out/reports/2026-01-02T03-04-05.html"


def test_the_only_pushed_model_is_found_and_several_need_a_name(tmp_path):
    layout = OutputLayout(str(tmp_path))
    with pytest.raises(LayoutError, match="no models"):
        layout.served_model(None)
    os.makedirs(layout.model_base_path("penguins"))
    assert layout.served_model(None) == (layout.model_base_path("penguins"), "penguins")
    os.makedirs(layout.model_base_path("taxi"))
    with pytest.raises(LayoutError, match=r"\['penguins', 'taxi'\]; pass --model-name"):
        layout.served_model(None)
    assert layout.served_model("taxi")[1] == "taxi"


def test_a_base_path_knows_its_output_folder_only_inside_the_layout(tmp_path):
    assert OutputLayout.of_model_base_path(str(tmp_path / "serving_model" / "m")) == OutputLayout(str(tmp_path))
    assert OutputLayout.of_model_base_path(str(tmp_path / "elsewhere" / "m")) is None


def test_the_makefile_asks_the_layout_from_the_shell(tmp_path):
    out = subprocess.run([sys.executable, "-m", "runs.layout", str(tmp_path), "model_base_path", "penguins"],
                         cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(tmp_path / "serving_model" / "penguins")
    bad = subprocess.run([sys.executable, "-m", "runs.layout", str(tmp_path), "nowhere"],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_a_per_model_path_needs_the_model(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        layout_main([str(tmp_path), "request_log_dir"])
    assert stopped.value.code == 2 and "request_log_dir needs MODEL" in capsys.readouterr().err


def test_no_other_module_spells_the_output_folder_names():
    """The layout is stated once: other code, the Makefile and the Dockerfile ask runs.layout."""
    names = ('"serving_model"', '"metadata.sqlite"', '"request_log"', '"pipeline_root"', "'serving_model'",
             '"reports"', '"monitoring"')
    offenders = []
    for folder in ("pipeline", "runs", "serving", "models", "benchmarks", "data"):
        for root, _, files in os.walk(os.path.join(REPO_ROOT, folder)):
            for name in files:
                path = os.path.join(root, name)
                if name.endswith(".py") and path != os.path.join(REPO_ROOT, "runs", "layout.py"):
                    text = open(path).read()
                    offenders += [f"{os.path.relpath(path, REPO_ROOT)}: {n}" for n in names if n in text]
    for name in ("Makefile", "Dockerfile", "local_runner.py", "kubeflow_runner.py"):
        text = open(os.path.join(REPO_ROOT, name)).read()
        offenders += [f"{name}: {n}" for n in ("serving_model/", "metadata.sqlite", "request_log/") if n in text]
    assert not offenders
