"""The pre-flight check: the data against the configuration, in seconds, before anything is written."""
import os
import shutil
import time

import pytest

import local_runner
from pipeline import preflight
from pipeline.config import ConfigError, load_config
from tests import datasets
from tests.conftest import PENGUINS


@pytest.fixture
def penguins(tmp_path):
    folder = tmp_path / "penguins"
    shutil.copytree(PENGUINS, folder)
    return folder


def _check(folder, **overrides):
    return preflight.check(load_config(None, {"dataset": str(folder), **overrides}))


def _keep_rows(folder, count):
    """penguins.csv cut to `count` rows, every species kept (every 11th row)."""
    header, *rows = (folder / "penguins.csv").read_text().splitlines()
    (folder / "penguins.csv").write_text("\n".join([header] + rows[::11][:count]) + "\n")


def _replace_in_csv(folder, old, new, count=1):
    path = folder / "penguins.csv"
    path.write_text(path.read_text().replace(old, new, count))


def test_penguins_pass_and_the_classes_are_settled(penguins):
    config, check = _check(penguins)
    assert config.dataset.task == "classification"
    assert config.dataset.classes == ("Adelie", "Chinstrap", "Gentoo")
    assert (check.rows, check.unlabelled) == (344, 0)
    assert check.lines(config) == [
        "Task: multi-class classification of 'species', 3 classes",
        "Blessed if: accuracy >= 0.85, at most 0.02 worse than the blessed model (higher is better)"]


def test_inferred_task_is_printed_with_its_reason(tmp_path):
    folder = datasets.write_dataset(tmp_path / "churn", *datasets.churn(50), {"label": "churned"})
    config, check = _check(folder, schema_mode="inferred")
    assert config.dataset.evaluation.metric == "auc"
    assert check.lines(config)[0] == (
        "Task: binary classification of 'churned', positive class 'yes' (inferred: its values are not all numbers "
        "(2 distinct values); set task: in dataset.yaml to choose)")


def test_rows_without_a_label_are_counted(penguins):
    _replace_in_csv(penguins, "Adelie,Torgersen,39.1", ",Torgersen,39.1")
    config, check = _check(penguins)
    assert check.unlabelled == 1
    assert "Label: 1 of 344 rows have no 'species' value; they are left out of training and evaluation" in \
        check.lines(config)


def test_metric_that_needs_two_classes(penguins):
    (penguins / "dataset.yaml").write_text("label: species\nevaluation: {metric: auc}\n")
    with pytest.raises(ConfigError, match="metric 'auc' does not fit a multi-class classification task; for this "
                                          "task use one of: accuracy"):
        _check(penguins)


@pytest.mark.parametrize("old, new, message", [
    ("Adelie,Torgersen,39.1,", "Adelie,Torgersen,NaN,", "column 'bill_length_mm' has the non-finite value "
     "{csv}:2 ('NaN'), which the schema forbids (float_domain { disallow_nan: true })"),
    ("Adelie,Torgersen,39.1,", "Adelie,Torgersen,-inf,", "(float_domain { disallow_inf: true })"),
    (",181,3750,", ",181,nan,", "column 'body_mass_g' has the non-finite value {csv}:2 ('nan'), but the schema "
     "declares it a whole number"),
])
def test_non_finite_values_the_curated_schema_forbids(penguins, old, new, message):
    _replace_in_csv(penguins, old, new)
    with pytest.raises(ConfigError) as error:
        _check(penguins)
    assert message.replace("{csv}", str(penguins / "penguins.csv")) in str(error.value)
    assert "leave unknown values empty" in str(error.value)


def test_nan_passes_where_the_schema_allows_it(penguins):
    _replace_in_csv(penguins, "Adelie,Torgersen,39.1,", "Adelie,Torgersen,NaN,")
    schema = penguins / "schema.pbtxt"
    schema.write_text(schema.read_text().replace("min: 25 max: 70 disallow_nan: true", "min: 25 max: 70"))
    assert _check(penguins)[0].dataset.task == "classification"


def test_nan_without_a_curated_schema_is_refused(penguins):
    _replace_in_csv(penguins, "Adelie,Torgersen,39.1,", "Adelie,Torgersen,NaN,")
    with pytest.raises(ConfigError, match="only a curated schema that allows NaN/inf for the column accepts"):
        _check(penguins, schema_mode="inferred")


CORPUS = [  # (what to do to the penguins folder, words the one line must contain)
    (lambda f: (f / "penguins.csv").write_text("\n".join(  # the second island column of the issue, all Dream
        line + (",island" if i == 0 else ",Dream") for i, line in enumerate(
            (f / "penguins.csv").read_text().splitlines()))),
     ["penguins.csv", "column 'island' appears twice", "(columns 2 and 9)"]),
    (lambda f: (f / "penguins.csv").write_bytes(b"\xef\xbb\xbf" + (f / "penguins.csv").read_bytes()),
     ["penguins.csv", "byte-order mark"]),
    (lambda f: (f / "penguins.csv").write_text((f / "penguins.csv").read_text().splitlines()[0] + "\n"),
     ["penguins.csv", "has a header but no data"]),
    (lambda f: (f / "penguins.csv").write_text(""), ["penguins.csv", "is empty"]),
    (lambda f: (f / "second_batch.csv").write_text("species,island\nAdelie,Dream\n"),
     ["second_batch.csv", "different header", "needs the same header"]),
    (lambda f: (f / "penguins.csv").write_text("\n".join(
        ",".join([""] + line.split(",")[1:]) if i else line
        for i, line in enumerate((f / "penguins.csv").read_text().splitlines()))),
     ["label column 'species' is empty in every one of the 344 rows"]),
    (lambda f: (f / "penguins.csv").write_text("\n".join(
        ",".join(["Adelie"] + line.split(",")[1:]) if i else line
        for i, line in enumerate((f / "penguins.csv").read_text().splitlines()))),
     ["label column 'species' has the single value 'Adelie'", "at least two classes"]),
    (lambda f: (f / "dataset.yaml").write_text("label: species\ntask: regression\n"),
     ["label column 'species' is not numeric", "penguins.csv:2 ('Adelie')", "use task: classification"]),
    (lambda f: open(f / "penguins.csv", "a").write("Adelie,Dream,40.1\n"),
     ["penguins.csv:346 has 3 fields but the header has 8"]),
    (lambda f: open(f / "dataset.yaml", "a").write("splits: {train: 70, eval: 30}\n"),
     ["dataset.yaml", "splits must name exactly the three splits ['train', 'eval', 'test']",
      "splits: {train: 70, eval: 15, test: 15}"]),
    (lambda f: open(f / "dataset.yaml", "a").write("splits: {train: 70, eval: 0, test: 15}\n"),
     ["dataset.yaml", "splits.eval must be a positive whole number", "got 0"]),
    (lambda f: open(f / "dataset.yaml", "a").write("splits: {train: 70, eval: 15, test: 1.5}\n"),
     ["splits.test must be a positive whole number", "got 1.5"]),
    (lambda f: _keep_rows(f, 30),
     ["the 'eval' split would get about 4.5 of 30 labelled rows", "may well be empty",
      "add rows (at least 34) or give 'eval' more weight in dataset.yaml's splits"]),
]


@pytest.mark.parametrize("damage, words", CORPUS)
def test_bad_data_stops_the_run_in_one_line_and_touches_nothing(penguins, tmp_path, capsys, damage, words):
    """The run's exit code, its one line, and the output folder (a served model) byte for byte unchanged."""
    output = tmp_path / "out"
    served = output / "serving_model" / "penguins" / "1700000000"
    served.mkdir(parents=True)
    (served / "saved_model.pb").write_bytes(b"model bytes")
    before = _files(output)
    damage(penguins)
    started = time.monotonic()
    assert local_runner.main(["--dataset", str(penguins), "--output-dir", str(output)]) == 2
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    for word in words:
        assert word in err
    assert _files(output) == before


def test_each_span_of_the_window_must_fill_every_split(tmp_path):
    """Each span is split on its own: a small span leaves a split empty although the dataset is large."""
    folder = tmp_path / "spans"
    folder.mkdir()
    for name in ("dataset.yaml", "schema.pbtxt"):
        shutil.copy(os.path.join(PENGUINS, name), folder)
    header, *rows = open(os.path.join(PENGUINS, "penguins.csv")).read().splitlines()
    for span, part in ((1, rows[:20]), (2, rows[20:])):
        (folder / f"span-{span}").mkdir()
        (folder / f"span-{span}" / "part.csv").write_text("\n".join([header] + part) + "\n")
    with pytest.raises(ConfigError, match=r"^span 1: the 'eval' split would get about 3.0 of 20 labelled rows"):
        _check(folder)
    (folder / "dataset.yaml").write_text(open(folder / "dataset.yaml").read() + "span_window: 1\n")
    assert _check(folder)[1].rows == 344  # the small span is out of the window


def test_split_weights_settle_how_few_rows_are_enough(penguins):
    _keep_rows(penguins, 30)
    with pytest.raises(ConfigError, match="the 'eval' split would get about 4.5 of 30"):
        _check(penguins)
    (penguins / "dataset.yaml").write_text(open(penguins / "dataset.yaml").read()
                                           + "splits: {train: 2, eval: 1, test: 1}\n")
    assert _check(penguins)[0].dataset.splits == (("train", 2), ("eval", 1), ("test", 1))


def _files(folder):
    return {os.path.relpath(os.path.join(root, name), folder): open(os.path.join(root, name), "rb").read()
            for root, _, names in os.walk(folder) for name in names}
