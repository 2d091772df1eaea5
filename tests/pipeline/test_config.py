"""Configuration: one object, loaded from the dataset folder, a file and flags, validated early."""
import os
import shutil

import pytest

from pipeline.config import ConfigError, DatasetConfig, beam_arg, load_config
from tests.conftest import PENGUINS


@pytest.fixture
def dataset(tmp_path):
    folder = tmp_path / "ds"
    shutil.copytree(PENGUINS, folder)
    return folder


def test_bundled_dataset_is_described_by_its_folder():
    ds = DatasetConfig.load(PENGUINS)
    assert ds.label == "species"
    assert ds.model_name == "penguins"
    assert ds.slice_by == ("island", "sex")
    assert ds.ignore_columns == ("year",)
    assert ds.evaluation.metric == "accuracy"
    assert ds.task == "classification" and ds.classes == ()  # classes come from the pre-flight check
    assert ds.csv_files == (os.path.join(PENGUINS, "penguins.csv"),)


def test_output_layout_derives_from_output_dir(tmp_path):
    config = load_config(None, {"output_dir": str(tmp_path)})
    assert config.pipeline_root == str(tmp_path / "pipeline_root")
    assert config.serving_dir == str(tmp_path / "serving_model" / "penguins")
    assert config.metadata.sqlite_path == str(tmp_path / "metadata.sqlite")
    assert config.pipeline_name == "penguins-pipeline"


def test_file_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train_steps: 7\nschema_mode: inferred\nbeam_mode: multi_processing\nbeam_workers: 3\n")
    config = load_config(str(path), {"train_steps": 9, "output_dir": None})
    assert config.train_steps == 9  # flag beats file
    assert config.schema_mode == "inferred"
    assert config.beam_pipeline_args() == ["--direct_running_mode=multi_processing", "--direct_num_workers=3"]


def test_auto_beam_mode_is_in_memory_for_small_data(tmp_path):
    config = load_config(None, {"output_dir": str(tmp_path)})
    assert config.beam_pipeline_args() == ["--direct_running_mode=in_memory"]


def test_non_direct_runner_args_pass_through_untouched(tmp_path):
    args = ["--runner=FlinkRunner", "--flink_master=localhost:8081"]
    config = load_config(None, {"output_dir": str(tmp_path), "beam_args": args})
    assert config.beam_pipeline_args() == args


@pytest.mark.parametrize("overrides, message", [
    ({"schema_mode": "guessed"}, "schema mode 'guessed'"),
    ({"beam_mode": "fast"}, "beam mode 'fast'"),
    ({"train_steps": 0}, "train steps must be a positive"),
    ({"train_steps": "many"}, "train_steps: expected an integer"),
    ({"colour": "blue"}, "unknown configuration keys ['colour']"),
    ({"dataset": "/nonexistent/folder"}, "dataset folder not found: /nonexistent/folder"),
])
def test_bad_values_are_named(overrides, message):
    with pytest.raises(ConfigError, match=None) as error:
        load_config(None, overrides)
    assert message in str(error.value)


def test_missing_label_column_is_reported(dataset):
    (dataset / "dataset.yaml").write_text("label: penguin_kind\n")
    with pytest.raises(ConfigError, match="label column 'penguin_kind' is not in"):
        DatasetConfig.load(str(dataset))


def test_dataset_without_csv(dataset):
    (dataset / "penguins.csv").unlink()
    with pytest.raises(ConfigError, match=r"no CSV files \(\*\.csv\)"):
        DatasetConfig.load(str(dataset))


def test_invalid_yaml(dataset):
    (dataset / "dataset.yaml").write_text("label: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        DatasetConfig.load(str(dataset))


def test_splits_default_to_70_15_15_and_dataset_yaml_sets_their_weights(dataset):
    assert DatasetConfig.load(str(dataset)).splits == (("train", 70), ("eval", 15), ("test", 15))
    (dataset / "dataset.yaml").write_text("label: species\nsplits: {test: 1, train: 8, eval: 1}\n")
    assert DatasetConfig.load(str(dataset)).splits == (("train", 8), ("eval", 1), ("test", 1))


@pytest.mark.parametrize("splits, message", [
    ("{train: 70, eval: 30}", r"splits must name exactly the three splits \['train', 'eval', 'test'\]"),
    ("{train: 70, eval: 15, test: 15, holdout: 5}", r"got \['eval', 'holdout', 'test', 'train'\]"),
    ("[70, 15, 15]", r"splits must name exactly .* got \[70, 15, 15\]: write e.g. splits: \{train: 70"),
    ("{train: 70, eval: -1, test: 15}", r"splits.eval must be a positive whole number \(a weight, e.g. 15\), got -1"),
    ("{train: yes, eval: 15, test: 15}", r"splits.train must be a positive whole number .* got True"),
    ("{train: 70, eval: 15, test: '15'}", r"splits.test must be a positive whole number .* got '15'"),
])
def test_bad_splits_are_one_line_naming_the_key(dataset, splits, message):
    (dataset / "dataset.yaml").write_text(f"label: species\nsplits: {splits}\n")
    with pytest.raises(ConfigError, match=message) as error:
        DatasetConfig.load(str(dataset))
    assert "\n" not in str(error.value) and str(error.value).startswith(str(dataset / "dataset.yaml"))


def test_unknown_dataset_key(dataset):
    (dataset / "dataset.yaml").write_text("label: species\nlabels: x\n")
    with pytest.raises(ConfigError, match=r"unknown keys \['labels'\]"):
        DatasetConfig.load(str(dataset))


def test_slice_column_must_exist(dataset):
    (dataset / "dataset.yaml").write_text("label: species\nslice_by: [colony]\n")
    with pytest.raises(ConfigError, match=r"slice_by names columns not in the CSV: \['colony'\]"):
        DatasetConfig.load(str(dataset))


def test_curated_schema_required_unless_inferred(dataset):
    (dataset / "schema.pbtxt").unlink()
    with pytest.raises(ConfigError, match="curated schema not found"):
        load_config(None, {"dataset": str(dataset)})
    assert load_config(None, {"dataset": str(dataset), "schema_mode": "inferred"}).schema_mode == "inferred"


def test_empty_csv(dataset):
    (dataset / "penguins.csv").write_text("")
    with pytest.raises(ConfigError, match="is empty: expected a header row"):
        DatasetConfig.load(str(dataset))


def test_a_csv_that_is_not_utf8_is_placed_at_its_first_bad_byte(dataset):
    path = dataset / "penguins.csv"
    text = path.read_text(encoding="utf-8")
    path.write_bytes(text.replace("Torgersen", "T\xf8rgersen", 1).encode("latin-1"))
    with pytest.raises(ConfigError, match=r"penguins.csv: line 2, column 'island': byte 0xF8 is not UTF-8; "
                                          r"save the file as UTF-8 \(it looks like Latin-1"):
        DatasetConfig.load(str(dataset))


def test_mysql_metadata_connection(tmp_path):
    config = load_config(None, {"output_dir": str(tmp_path), "mysql_host": "127.0.0.1", "mysql_port": "3307",
                                "mysql_database": "team"})
    connection = config.metadata.connection_config()
    assert connection.WhichOneof("config") == "mysql"
    assert (connection.mysql.host, connection.mysql.port, connection.mysql.database) == ("127.0.0.1", 3307, "team")


def test_auto_beam_mode_switches_to_multi_processing_for_large_data(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.config.IN_MEMORY_MAX_BYTES", 1000)  # the bundled CSV is ~15 kB
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    config = load_config(None, {"output_dir": str(tmp_path)})
    assert config.beam_pipeline_args() == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def test_portable_mode_submits_to_a_job_service_with_external_workers(tmp_path):
    config = load_config(None, {"output_dir": str(tmp_path), "beam_mode": "portable", "beam_workers": 3,
                                "beam_args": ["--environment_config=pool:50000"]})
    assert config.beam_pipeline_args() == ["--runner=PortableRunner", "--environment_type=EXTERNAL",
                                           "--job_server_timeout=86400", "--direct_num_workers=3",
                                           "--environment_config=pool:50000"]


def test_a_job_endpoint_means_the_portable_runner(tmp_path):
    config = load_config(None, {"output_dir": str(tmp_path), "beam_args": ["--job_endpoint=flink:8099"]})
    assert config.resolved_beam_mode() == "portable"
    assert beam_arg(config.beam_pipeline_args(), "--job_endpoint") == "flink:8099"
    with pytest.raises(ConfigError, match="use it with --beam-mode portable"):
        load_config(None, {"output_dir": str(tmp_path), "beam_mode": "in_memory",
                           "beam_args": ["--job_endpoint=flink:8099"]})


def test_beam_arg_reads_either_form_and_the_last_wins():
    assert beam_arg(["--runner=A", "--job_endpoint", "h:1", "--runner=B"], "--runner") == "B"
    assert beam_arg(["--runner=A", "--job_endpoint", "h:1"], "--job_endpoint") == "h:1"
    assert beam_arg(["--job_endpoint_x=1"], "--job_endpoint") is None


@pytest.mark.parametrize("evaluation, message", [
    ("{metric: f1}", "evaluation.metric: unknown metric 'f1'; accepted: accuracy, auc, pr_auc, precision, recall, "
                     "mean_absolute_error"),
    ("{metric: auc, max_value: 0.3}", "evaluation.max_value does not fit 'auc' (higher is better): use min_value"),
    ("{metric: mae, min_value: 3}", "evaluation.min_value does not fit 'mae' (lower is better): use max_value"),
    ("{metric: accuracy, min_value: 85}", "evaluation.min_value for 'accuracy' must be in [0, 1]"),
    ("{metric: accuracy, max_regression: -1}", "evaluation.max_regression must be >= 0"),
    ("{metric: accuracy, min_value: high}", "evaluation.min_value must be a number, got 'high'"),
    ("{metric: accuracy, threshold: 1}", "'evaluation' accepts only ['metric', 'min_value', 'max_value', "
                                         "'max_regression']"),
])
def test_evaluation_mistakes_are_one_line(dataset, evaluation, message):
    (dataset / "dataset.yaml").write_text(f"label: species\nevaluation: {evaluation}\n")
    with pytest.raises(ConfigError) as error:
        DatasetConfig.load(str(dataset))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_metric_that_does_not_fit_the_task(dataset):
    (dataset / "dataset.yaml").write_text("label: species\ntask: regression\nevaluation: {metric: auc}\n")
    with pytest.raises(ConfigError, match="evaluation.metric 'auc' does not fit task 'regression'; for regression "
                                          "use one of: mean_absolute_error, mean_squared_error"):
        DatasetConfig.load(str(dataset))


def test_unknown_task(dataset):
    (dataset / "dataset.yaml").write_text("label: species\ntask: ranking\n")
    with pytest.raises(ConfigError, match="task 'ranking' is not supported; use one of"):
        DatasetConfig.load(str(dataset))


def test_categorical_columns_must_exist_and_not_be_the_label(dataset):
    (dataset / "dataset.yaml").write_text("label: species\ncategorical: [colony]\n")
    with pytest.raises(ConfigError, match=r"categorical names columns not in the CSV: \['colony'\]"):
        DatasetConfig.load(str(dataset))
    (dataset / "dataset.yaml").write_text("label: species\ncategorical: [species]\n")
    with pytest.raises(ConfigError, match="categorical lists feature columns"):
        DatasetConfig.load(str(dataset))


def test_evaluation_is_described_in_the_users_words(dataset):
    (dataset / "dataset.yaml").write_text("label: species\nevaluation: {metric: RMSE, max_value: 4.5}\n")
    evaluation = DatasetConfig.load(str(dataset)).evaluation
    assert evaluation.describe() == "RMSE <= 4.5, no check against the blessed model (lower is better)"
    (dataset / "dataset.yaml").write_text("label: species\nevaluation: {metric: auc}\n")
    assert DatasetConfig.load(str(dataset)).evaluation.describe() == (
        "auc (no absolute bound), at most 0.02 worse than the blessed model (higher is better)")


def test_span_folders_make_a_dataset_of_spans(spanned):
    (spanned / "span-4").mkdir()  # a span still arriving (no CSV yet) is not a span yet
    (spanned / "dataset.yaml").write_text(open(spanned / "dataset.yaml").read() + "span_window: 2\n")
    ds = DatasetConfig.load(str(spanned))
    assert ds.spans == (1, 2, 3) and ds.spanned
    assert ds.input_pattern == "span-{SPAN}/*.csv"
    assert ds.window() == (2, 3) and ds.window((1, 2, 5, 9)) == (5, 9)
    assert ds.csv_files[0] == str(spanned / "span-1" / "part.csv") and len(ds.csv_files) == 3
    assert ds.data_bytes == sum(os.path.getsize(spanned / f"span-{s}" / "part.csv") for s in (2, 3))
    flat = DatasetConfig.load(PENGUINS)
    assert (flat.spans, flat.spanned, flat.input_pattern, flat.span_window) == ((), False, "*.csv", 0)


@pytest.mark.parametrize("change, message", [
    (lambda f: (f / "span-01").mkdir(), "rename span-01"),
    (lambda f: (f / "span-x").mkdir(), "rename span-x"),
    (lambda f: shutil.copy(os.path.join(PENGUINS, "penguins.csv"), f), "holds both CSV files and span-<N>/ folders"),
    (lambda f: (f / "span-2" / "part.csv").write_text("species,island\nAdelie,Dream\n"),
     "has columns species, island, but"),
    (lambda f: (f / "dataset.yaml").write_text("label: species\nspan_window: -1\n"), "span_window must be zero"),
    (lambda f: (f / "dataset.yaml").write_text("label: species\nspan_window: two\n"), "span_window: expected an"),
    (lambda f: (f / "dataset.yaml").write_text("label: species\nwarm_start: maybe\n"), "warm_start: expected true"),
])
def test_span_layout_mistakes_are_named(spanned, change, message):
    change(spanned)
    with pytest.raises(ConfigError) as error:
        DatasetConfig.load(str(spanned))
    assert message in str(error.value)


def test_warm_start_from_the_dataset_or_the_flag(spanned, tmp_path):
    assert not load_config(None, {"dataset": str(spanned), "output_dir": str(tmp_path)}).warm_starts
    assert load_config(None, {"dataset": str(spanned), "output_dir": str(tmp_path), "warm_start": True}).warm_starts
    (spanned / "dataset.yaml").write_text(open(spanned / "dataset.yaml").read() + "warm_start: true\n")
    assert load_config(None, {"dataset": str(spanned), "output_dir": str(tmp_path)}).warm_starts


def test_the_span_to_ingest_must_exist(spanned, tmp_path):
    assert load_config(None, {"dataset": str(spanned), "ingest_span": 2}).ingest_span == 2
    with pytest.raises(ConfigError, match=r"span 7 is not in .* \(spans: \[1, 2, 3\]\)"):
        load_config(None, {"dataset": str(spanned), "ingest_span": 7})
