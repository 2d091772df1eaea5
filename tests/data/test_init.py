"""python -m data.init: from one CSV to a dataset folder the pipeline accepts, every choice explained."""
import codecs
import csv
import os

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from data import init, tasks
from pipeline import preflight
from pipeline.config import DatasetConfig, load_config
from runs import exit_codes
from tests import datasets


def _source_csv(tmp_path, columns, rows, name="source.csv"):
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    return str(path)


@pytest.fixture(scope="module")
def houses(tmp_path_factory):
    """A regression dataset made by data.init (the one slow step: TFDV statistics for the schema)."""
    tmp_path = tmp_path_factory.mktemp("init")
    source = _source_csv(tmp_path, *datasets.house_prices(300))
    folder = init.create(source, "price", None, "houses", str(tmp_path / "data"), out=open(os.devnull, "w"))
    return folder


def test_the_folder_holds_the_csv_a_commented_yaml_and_a_schema(houses):
    assert sorted(os.listdir(houses)) == ["dataset.yaml", "schema.pbtxt", "source.csv"]
    text = open(os.path.join(houses, "dataset.yaml")).read()
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert keys == ["name", "label", "task", "model_name", "ignore_columns", "categorical", "slice_by", "evaluation"]
    lines = text.splitlines()
    for i, line in enumerate(lines):  # every top-level key has a comment just above it
        if line and not line.startswith((" ", "#")):
            assert lines[i - 1].startswith("#"), line


def test_choices_follow_a_look_at_the_data(houses):
    raw = yaml.safe_load(open(os.path.join(houses, "dataset.yaml")))
    assert raw["task"] == "regression"
    assert raw["ignore_columns"] == ["listing id"]  # a different value in every row
    assert raw["categorical"] == ["condition code"]  # few integers, and the name says category
    assert '# Kept as quantities (add here to make a category): "rooms"' in open(os.path.join(houses, "dataset.yaml")).read()
    assert raw["evaluation"]["metric"] == "mean_absolute_error"
    assert 0 < raw["evaluation"]["max_value"] < 80 and raw["evaluation"]["max_regression"] > 0
    assert "the error of always predicting the median" in open(os.path.join(houses, "dataset.yaml")).read()


def test_the_pipeline_accepts_the_folder(houses):
    config, check = preflight.check(load_config(None, {"dataset": houses}))
    assert config.dataset.task == "regression" and check.unlabelled == 6  # every 50th price is unknown
    assert DatasetConfig.load(houses).ignore_columns == ("listing id",)


def test_the_schema_is_prepared_for_curation(houses):
    schema = text_format.Parse(open(os.path.join(houses, "schema.pbtxt")).read(), schema_pb2.Schema())
    features = {f.name: f for f in schema.feature}
    assert list(schema.default_environment) == ["TRAINING", "SERVING"]
    assert {n for n, f in features.items() if "SERVING" in f.not_in_environment} == {"price", "listing id"}
    area = features["floor area m2"]
    assert area.float_domain.disallow_nan and area.float_domain.disallow_inf
    assert area.float_domain.min < 30 and area.float_domain.max > 160  # widened beyond the data
    assert area.value_count.max == 1 and area.value_count.min == 0  # may be missing when served
    assert area.drift_comparator.jensen_shannon_divergence.threshold > 0
    assert features["district"].drift_comparator.infinity_norm.threshold > 0
    assert features["condition code"].int_domain.is_categorical
    assert features["rooms"].int_domain.max > 6 and not features["rooms"].int_domain.is_categorical


def test_a_leaking_column_is_ignored_with_the_reason(tmp_path):
    columns, rows = datasets.churn(300)
    columns = columns + ["refund_issued"]  # 1 exactly when churned: derived from the label
    rows = [row + [1 if row[-1] == "yes" else 0] for row in rows]
    table = init.read_table(_source_csv(tmp_path, columns, rows))
    target = tasks.resolve(_profile(table.text, "churned"))
    plan = init.plan(table, "churn", "churned", target, ())
    assert set(plan.ignore) == {"customer_id", "refund_issued"}
    assert "may leak the label" in plan.ignore["refund_issued"]
    assert plan.metric == "auc" and plan.bound == 0.67


def test_multiclass_bound_is_above_the_majority_class(tmp_path):
    table = init.read_table(_source_csv(tmp_path, *datasets.awkward_flowers(90)))
    plan = init.plan(table, "flowers", "Art", tasks.resolve(_profile(table.text, "Art")), ())
    assert plan.metric == "accuracy" and plan.bound == round(1 / 3 + (2 / 3) / 3, 2)
    assert plan.categorical == {"zone code": "integer with 3 distinct values, and its name says category ('code')"}


def _profile(frame, label):
    from data.csv_checks import LabelProfile

    profile = LabelProfile(label)
    for i, value in enumerate(frame[label].fillna(""), start=2):
        profile.add(value, "source.csv", i)
    return profile


def test_byte_order_mark_is_left_out_of_the_copy(tmp_path):
    source = tmp_path / "bom.csv"
    source.write_bytes(codecs.BOM_UTF8 + b"a,b\n1,x\n2,y\n")
    copy = tmp_path / "copy.csv"
    assert init.copy_without_bom(str(source), str(copy))
    assert copy.read_bytes() == b"a,b\n1,x\n2,y\n"


@pytest.mark.parametrize("args, message", [
    (["--label", "nope"], "label column 'nope' is not in"),
    (["--label", "price", "--name", "Bad Name"], "--name 'Bad Name': use lower-case letters"),
    (["--label", "price", "--ignore", "colour"], "source.csv: ['colour']"),
    (["--label", "district", "--task", "regression"], "label column 'district' is not numeric"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    source = _source_csv(tmp_path, *datasets.house_prices(40))
    data_dir = tmp_path / "data"
    assert init.main([source, "--data-dir", str(data_dir)] + args) == exit_codes.BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not data_dir.exists() or os.listdir(data_dir) == []


def test_an_existing_folder_is_never_touched(tmp_path, capsys):
    source = _source_csv(tmp_path, *datasets.house_prices(40))
    existing = tmp_path / "data" / "source"
    existing.mkdir(parents=True)
    (existing / "keep.txt").write_text("mine")
    assert init.main([source, "--label", "price", "--data-dir", str(tmp_path / "data")]) == exit_codes.BAD_INPUT
    assert "already exists" in capsys.readouterr().err
    assert os.listdir(existing) == ["keep.txt"]


def test_kubeflow_compiles_the_folder_unchanged(houses, tmp_path):
    import kubeflow_runner

    spec = tmp_path / "houses.yaml"
    assert kubeflow_runner.main(["--dataset", houses, "--data-uri", "gs://acme/data/houses",
                                 "--output", str(spec)]) == exit_codes.OK
    compiled = yaml.safe_load(spec.read_text())
    assert {"CsvExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"} <= set(compiled["root"]["dag"]["tasks"])
    assert "RootMeanSquaredError" in spec.read_text() or "MeanAbsoluteError" in spec.read_text()


def test_nan_in_a_float_feature_is_an_anomaly_for_the_prepared_schema(houses, tmp_path):
    from tests.data.test_penguins import anomalies_of

    text = open(os.path.join(houses, "source.csv")).read()
    first = text.splitlines()[1].split(",")
    text = text.replace(",".join(first), ",".join(first[:1] + ["NaN"] + first[2:]), 1)
    anomalies = anomalies_of(text, os.path.join(houses, "schema.pbtxt"), tmp_path)
    assert "Float feature has NaN values" in anomalies["floor area m2"]


def test_a_file_too_small_to_learn_from_is_refused_saying_why(tmp_path, capsys):
    """Columns with values in every row but too few rows are not called 'nearly empty'; with no feature left, exit 2."""
    source = _source_csv(tmp_path, ["size", "colour", "label"], [[1, "red", "a"], [2, "blue", "b"], [3, "red", "a"]])
    assert init.main([source, "--label", "label", "--data-dir", str(tmp_path / "data")]) == exit_codes.BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert "no column is left to learn 'label' from" in err and "too few values to learn from: 3" in err
    assert "nearly empty" not in err and "\n" not in err
    assert not (tmp_path / "data").exists()
