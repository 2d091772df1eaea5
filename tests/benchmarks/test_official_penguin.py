"""The official TFX penguin example the pipeline benchmark runs as its speed reference."""
import ast
import csv
import importlib.util
import os
import subprocess
import sys

import pytest

from benchmarks import official_penguin
from tests.conftest import REPO_ROOT


def test_official_data_is_derived_like_the_tfx_repo(tmp_path):
    source = tmp_path / "penguins.csv"
    header = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex",
              "year"]
    rows = [["Adelie", "Torgersen", "30", "10", "170", "3000", "male", "2007"],
            ["Gentoo", "Biscoe", "50", "20", "230", "6000", "female", "2008"],
            ["Chinstrap", "Dream", "40", "15", "200", "4500", "female", "2009"],
            ["Adelie", "Torgersen", "", "", "", "", "", "2007"],          # missing measurements: dropped
            ["Adelie", "Torgersen", "35", "12", "180", "3500", "", "2007"]]  # missing sex: dropped
    with open(source, "w", newline="") as f:
        csv.writer(f).writerows([header] + rows)
    path = official_penguin.write_processed_csv(str(source), str(tmp_path / "data"))
    assert path.endswith("labelled/penguins_processed.csv")
    with open(path) as f:
        out = list(csv.DictReader(f))
    assert list(out[0]) == ["species", "culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
    assert [r["species"] for r in out] == ["0", "2", "1"]
    assert [float(r["culmen_length_mm"]) for r in out] == [0.0, 1.0, 0.5]
    assert [float(r["body_mass_g"]) for r in out] == [0.0, 1.0, 0.5]


def test_official_feature_keys_match_the_installed_example():
    # Read the installed example's source rather than import it (that imports TensorFlow).
    spec = importlib.util.find_spec("tfx")
    if spec is None:
        pytest.skip("tfx is not installed")
    path = os.path.join(os.path.dirname(spec.origin), "examples", "penguin", "penguin_utils_base.py")
    with open(path) as f:
        tree = ast.parse(f.read())
    values = {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
              for t in node.targets if isinstance(t, ast.Name) and t.id in ("FEATURE_KEYS", "_LABEL_KEY")}
    assert [name for name, _ in official_penguin.FEATURE_SOURCES] == values["FEATURE_KEYS"]
    assert official_penguin.LABEL == values["_LABEL_KEY"]


def test_official_example_runs_as_a_module_from_the_repo_root():
    """The pipeline benchmark starts it with `python -m benchmarks.official_penguin`."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.official_penguin", "--help"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True)
    assert "--work-dir" in out.stdout and "--no-report" in out.stdout
