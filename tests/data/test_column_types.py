"""data.init decides what each column holds as a careful person would, and says so (data/column_types.py).

The CSVs are written the way pandas and spreadsheets write them: integers with a missing value
as 1.0/2.0, dates, free text, empty columns, thousands separators, semicolons.
"""
import io
import os
import random

import pandas as pd
import pytest
import yaml
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from data import init, tasks
from runs import exit_codes


def _mixed(n=300, seed=0) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        size = rng.uniform(1, 10)
        sex = rng.choice((1, 2))
        rows.append({
            "visit date": f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "empty": None,
            "sex": float(sex) if i % 40 else None,  # pandas writes an integer column with a gap as 1.0, 2.0
            "comment": " ".join(rng.choice(("good", "slow", "very", "kind", "staff", "room")) for _ in range(7)),
            "size": round(size, 2),
            "score": round(2 * size + 3 * sex + rng.gauss(0, 4), 2),
        })
        rows[-1].update({f"pixel_{k}": rng.randint(0, 16) for k in range(8)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """(folder, printed summary) of data.init on a pandas-written CSV with a column of every kind."""
    tmp_path = tmp_path_factory.mktemp("mixed")
    source = tmp_path / "mixed.csv"
    _mixed().to_csv(source, index=False)
    out = io.StringIO()
    folder = init.create(str(source), "score", None, "mixed", str(tmp_path / "data"), out=out)
    return folder, out.getvalue()


def _yaml(folder):
    return yaml.safe_load(open(os.path.join(folder, "dataset.yaml")))


def _schema(folder):
    text = open(os.path.join(folder, "schema.pbtxt")).read()
    return {f.name: f for f in text_format.Parse(text, schema_pb2.Schema()).feature}, text


def test_an_empty_column_is_ignored_and_need_not_appear(mixed):
    folder, summary = mixed
    assert "empty" in _yaml(folder)["ignore_columns"]
    empty = _schema(folder)[0]["empty"]
    assert empty.presence.min_count == 0 and empty.presence.min_fraction == 0  # else the gate: "Column dropped"
    assert "ignore_columns: empty (empty: no value in any row)" in summary


def test_a_category_written_as_floats_is_a_float_feature_listed_as_categorical(mixed):
    folder, summary = mixed
    assert _yaml(folder)["categorical"] == ["sex"]
    assert _schema(folder)[0]["sex"].type == schema_pb2.FLOAT  # as CsvExampleGen decodes "1.0"
    assert "categorical: sex (integer with 2 distinct values, and its name says category ('sex'))" in summary


def test_dates_and_free_text_are_ignored_with_how_to_keep_them(mixed):
    folder, summary = mixed
    assert {"visit date", "comment"} <= set(_yaml(folder)["ignore_columns"])
    text = open(os.path.join(folder, "dataset.yaml")).read()
    assert '- "visit date"  # dates (like \'2021-01-01\'): to use them, add calendar columns' in text
    assert '- "comment"  # free text' in text and "remove it from ignore_columns" in text
    assert "ignore_columns: comment (free text" in summary


def test_integer_columns_with_few_values_stay_quantities(mixed):
    folder, summary = mixed
    features, _ = _schema(folder)
    assert not any(c.startswith("pixel") for c in _yaml(folder)["categorical"])
    assert features["pixel_0"].type == schema_pb2.INT and features["pixel_0"].int_domain.max > 16
    assert "numeric: pixel_0, pixel_1" in summary
    assert "# Kept as quantities (add here to make a category): \"pixel_0\"" in open(
        os.path.join(folder, "dataset.yaml")).read()


def test_the_schema_says_above_each_feature_what_was_decided(mixed):
    folder, _ = mixed
    text = _schema(folder)[1]
    assert "# empty: ignored, empty: no value in any row\nfeature {\n  name: \"empty\"" in text
    assert "# sex: categorical, integer with 2 distinct values" in text
    assert "# score: the label (regression)" in text
    assert "# pixel_3: numeric, integer with 17 distinct values" in text


def _plan(tmp_path, frame, label="y"):
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    table = init.read_table(str(path))
    target = tasks.Target(tasks.REGRESSION)
    return init.plan(table, "d", label, target, (), str(path))


@pytest.mark.parametrize("name, values, category", [
    ("zone code", [101, 202, 303], True),  # the name says so
    ("store_type", [1, 2, 3, 4], True),
    ("postcodeArea", [1, 2], True),  # camelCase words count
    ("sku", [1040, 2310, 3775, 5120], True),  # codes: one length, not a run
    ("rooms", [1, 2, 3, 4, 5], False),  # a count
    ("year", [2019, 2020, 2021], False),  # a run of years is a quantity
    ("pixel 12", [0.0, 4.0, 8.0, 16.0], False),  # float-written integers, no reason to be a category
])
def test_integers_are_categories_only_when_name_or_values_say_so(tmp_path, name, values, category):
    rng = random.Random(0)
    frame = pd.DataFrame({name: [rng.choice(values) for _ in range(200)], "y": [rng.random() for _ in range(200)]})
    plan = _plan(tmp_path, frame)
    assert (name in plan.categorical) is category
    assert (name in plan.kept_numeric) is (not category and len(values) > 1)


@pytest.mark.parametrize("written, what", [
    (lambda v: f"{v:,}", "thousands separators"),
    (lambda v: f"${v:,.2f}", "currency signs"),
    (lambda v: f"{v / 100:.2f}".replace(".", ","), "a decimal comma"),
])
def test_numbers_written_for_people_are_refused_with_the_fix(tmp_path, capsys, written, what):
    rng = random.Random(0)
    frame = pd.DataFrame({"income": [written(rng.randint(500, 9000)) for _ in range(100)],
                          "y": [rng.random() for _ in range(100)]})
    source = tmp_path / "people.csv"
    frame.to_csv(source, index=False)
    assert init.main([str(source), "--label", "y", "--data-dir", str(tmp_path / "data")]) == exit_codes.BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {source}: column 'income' holds numbers written with {what} (")
    assert "on line 2)" in err and "rewrite them as plain numbers" in err and "--ignore 'income'" in err
    assert "\n" not in err and not (tmp_path / "data").exists()


def test_text_with_a_different_value_in_most_rows_is_ignored(tmp_path):
    rng = random.Random(0)
    frame = pd.DataFrame({"town": [f"t{rng.randint(0, 150)}" for _ in range(200)],
                          "colour": [rng.choice(("red", "blue")) for _ in range(200)],
                          "y": [rng.random() for _ in range(200)]})
    plan = _plan(tmp_path, frame)
    assert plan.ignore["town"].startswith("a different value in most rows")
    assert "colour" not in plan.ignore


def test_errors_name_the_users_file_and_the_flag_not_a_dataset_yaml(tmp_path, capsys):
    source = tmp_path / "mine.csv"
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).to_csv(source, index=False)
    assert init.main([str(source), "--label", "nope", "--data-dir", str(tmp_path / "data")]) == exit_codes.BAD_INPUT
    err = capsys.readouterr().err
    assert f"label column 'nope' is not in {source} (columns: a, b): set --label to one of them" in err
    assert "dataset.yaml" not in err


def test_a_semicolon_file_is_named_as_the_users(tmp_path, capsys):
    source = tmp_path / "semicolon.csv"
    source.write_text("radius;texture;label\n1,5;2,25;a\n2,5;3,0;b\n")
    assert init.main([str(source), "--label", "label", "--data-dir", str(tmp_path / "data")]) == exit_codes.BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(f"error: {source} separates its columns with semicolons (';'), not commas, and its "
                          "numbers use a decimal comma ('1,5')")
    assert "dataset.yaml" not in err
