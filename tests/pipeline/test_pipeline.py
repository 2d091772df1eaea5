"""create_pipeline: the components, their wiring, and the blessing rules, without running them."""
import json
import shutil

import pytest
import tensorflow_model_analysis as tfma
from tfx.dsl.compiler.compiler import Compiler
from tfx.dsl.components.common import resolver

from pipeline import preflight
from pipeline.config import load_config
from pipeline.pipeline import create_pipeline, eval_config
from pipeline.push import AtomicPushExecutor
from tests import datasets
from tests.conftest import PENGUINS


def _nodes(p):
    return {c.id: c for c in p.components}


def _gated(p):
    """Ids of the nodes that run only if a condition holds, from the compiled pipeline IR."""
    ir = Compiler().compile(p)
    return {n.pipeline_node.node_info.id for n in ir.nodes if n.pipeline_node.inputs.conditionals}


def _checked(**overrides):
    return preflight.check(load_config(None, overrides))[0]


@pytest.fixture
def curated(tmp_path):
    return _checked(output_dir=str(tmp_path), train_steps=123)


def test_all_standard_components_are_wired(curated):
    nodes = _nodes(create_pipeline(curated))
    assert set(nodes) == {"CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "Transform",
                          "Trainer", "latest_blessed_model_resolver", "latest_hyperparameters_resolver", "Evaluator",
                          "Pusher"}
    assert nodes["Trainer"].upstream_nodes >= {nodes["Transform"], nodes["ImportSchemaGen"]}
    assert nodes["Evaluator"].upstream_nodes >= {nodes["Trainer"], nodes["latest_blessed_model_resolver"],
                                                 nodes["CsvExampleGen"]}
    assert nodes["Pusher"].upstream_nodes >= {nodes["Trainer"], nodes["Evaluator"]}
    assert json.loads(nodes["Trainer"].exec_properties["train_args"]) == {"num_steps": 123, "splits": ["train"]}


def test_each_component_reads_its_splits(curated):
    """ExampleGen writes train/eval/test 70/15/15; Transform analyses train only; the Trainer fits on train and
    evaluates on eval; the Evaluator judges on test alone (eval chose when to stop)."""
    nodes = _nodes(create_pipeline(curated))
    written = json.loads(nodes["CsvExampleGen"].exec_properties["output_config"])["split_config"]["splits"]
    assert [(s["name"], s["hash_buckets"]) for s in written] == [("train", 70), ("eval", 15), ("test", 15)]
    assert json.loads(nodes["Transform"].exec_properties["splits_config"]) == {
        "analyze": ["train"], "transform": ["train", "eval", "test"]}
    assert json.loads(nodes["Trainer"].exec_properties["eval_args"])["splits"] == ["eval"]
    assert json.loads(nodes["Evaluator"].exec_properties["example_splits"]) == ["test"]


def test_split_weights_come_from_dataset_yaml(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(PENGUINS, folder)
    (folder / "dataset.yaml").write_text(open(folder / "dataset.yaml").read()
                                         + "splits: {train: 8, eval: 1, test: 1}\n")
    nodes = _nodes(create_pipeline(_checked(dataset=str(folder), output_dir=str(tmp_path / "out"))))
    written = json.loads(nodes["CsvExampleGen"].exec_properties["output_config"])["split_config"]["splits"]
    assert [(s["name"], s["hash_buckets"]) for s in written] == [("train", 8), ("eval", 1), ("test", 1)]


def test_curated_schema_gates_training_on_anomalies(curated):
    p = create_pipeline(curated)
    nodes = _nodes(p)
    assert _gated(p) == {"Transform", "Trainer", "latest_blessed_model_resolver", "latest_hyperparameters_resolver",
                         "Evaluator", "Pusher"}
    assert nodes["Transform"].upstream_nodes >= {nodes["ExampleValidator"]}  # the condition's input


def test_inferred_schema_is_not_gated(tmp_path):
    p = create_pipeline(_checked(output_dir=str(tmp_path), schema_mode="inferred"))
    nodes = _nodes(p)
    assert "SchemaGen" in nodes and "ImportSchemaGen" not in nodes
    assert _gated(p) == set()


def test_caching_and_paths_come_from_config(curated):
    p = create_pipeline(curated)
    assert p.enable_cache is True
    assert p.pipeline_info.pipeline_root == curated.pipeline_root
    assert p.beam_pipeline_args == ["--direct_running_mode=in_memory"]
    push = json.loads(_nodes(p)["Pusher"].exec_properties["push_destination"])
    assert push["filesystem"]["base_directory"] == curated.serving_dir


def test_the_pusher_is_atomic_under_tfx_s_name(curated):
    pusher = _nodes(create_pipeline(curated))["Pusher"]
    assert pusher.executor_spec.executor_class is AtomicPushExecutor
    assert set(pusher.outputs) == {"pushed_model"}


def _metric(config):
    return eval_config(config).metrics_specs[-1].metrics[0]


def test_blessing_thresholds_come_from_the_dataset_config(curated):
    config = eval_config(curated)
    assert config.model_specs[0].label_key == "species"
    assert config.model_specs[0].prediction_key == "probabilities"
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["island"], ["sex"]]
    metric = _metric(curated)
    assert metric.class_name == "SparseCategoricalAccuracy"
    assert json.loads(metric.config) == {"name": "accuracy"}  # results carry the name the user wrote
    assert metric.threshold.value_threshold.lower_bound.value == pytest.approx(0.85)
    assert metric.threshold.change_threshold.absolute.value == pytest.approx(-0.02)
    assert metric.threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER


def test_binary_metric_is_computed_on_the_positive_class(tmp_path):
    folder = datasets.write_dataset(tmp_path / "churn", *datasets.churn(60), {
        "label": "churned", "evaluation": {"metric": "AUC", "min_value": 0.7}})
    config = _checked(dataset=folder, output_dir=str(tmp_path / "out"), schema_mode="inferred")
    assert config.dataset.classes == ("no", "yes")
    metric = _metric(config)
    assert metric.class_name == "AUC" and json.loads(metric.config) == {"name": "AUC"}
    assert list(eval_config(config).metrics_specs[-1].binarize.class_ids.values) == [1]  # "yes"
    assert metric.threshold.value_threshold.lower_bound.value == pytest.approx(0.7)


def test_lower_is_better_metric_has_an_upper_bound_and_may_rise_by_max_regression(tmp_path):
    folder = datasets.write_dataset(tmp_path / "houses", *datasets.house_prices(60), {
        "label": "price", "evaluation": {"metric": "rmse", "max_value": 30, "max_regression": 1.5}})
    config = _checked(dataset=folder, output_dir=str(tmp_path / "out"), schema_mode="inferred")
    assert eval_config(config).model_specs[0].prediction_key == "predictions"
    metric = _metric(config)
    assert metric.class_name == "RootMeanSquaredError"
    assert metric.threshold.value_threshold.upper_bound.value == pytest.approx(30)
    assert not metric.threshold.value_threshold.HasField("lower_bound")
    assert metric.threshold.change_threshold.direction == tfma.MetricDirection.LOWER_IS_BETTER
    assert metric.threshold.change_threshold.absolute.value == pytest.approx(1.5)


def test_error_metric_without_bounds_has_no_threshold(tmp_path):
    folder = datasets.write_dataset(tmp_path / "houses", *datasets.house_prices(60), {"label": "price"})
    config = _checked(dataset=folder, output_dir=str(tmp_path / "out"), schema_mode="inferred")
    assert config.dataset.evaluation.metric == "mean_absolute_error"  # the regression default
    assert not _metric(config).HasField("threshold")


def test_a_dataset_of_spans_reads_one_span_and_trains_on_the_window(spanned, tmp_path):
    (spanned / "dataset.yaml").write_text(open(spanned / "dataset.yaml").read() + "span_window: 2\n")
    config = preflight.check(load_config(None, {"dataset": str(spanned), "output_dir": str(tmp_path), "ingest_span": 3}))[0]
    p = create_pipeline(config)
    nodes = _nodes(p)
    example_gen = nodes["CsvExampleGen"].exec_properties
    assert json.loads(example_gen["input_config"])["splits"][0]["pattern"] == "span-{SPAN}/*.csv"
    assert json.loads(example_gen["range_config"]) == {"static_range": {"start_span_number": 3,
                                                                        "end_span_number": 3}}
    window = nodes["span_window_resolver"]
    assert window.exec_properties[resolver.RESOLVER_CONFIG] == {"num_spans": 2, "validated_only": True,
                                                                "split_names": ["train", "eval", "test"]}
    assert nodes["Transform"].inputs["examples"] is window.outputs["examples"]
    assert nodes["Evaluator"].inputs["examples"] is window.outputs["examples"]
    assert nodes["StatisticsGen"].inputs["examples"] is nodes["CsvExampleGen"].outputs["examples"]
    transform = nodes["Transform"]
    assert "updated_analyzer_cache" in transform.outputs
    assert transform.inputs["analyzer_cache"] is nodes["transform_cache_resolver"].outputs["cache"]
    assert _gated(p) >= {"span_window_resolver", "transform_cache_resolver", "Transform"}


def test_a_folder_without_spans_is_unchanged(curated):
    nodes = _nodes(create_pipeline(curated))
    assert json.loads(nodes["CsvExampleGen"].exec_properties["input_config"])["splits"][0]["pattern"] == "*.csv"
    assert nodes["CsvExampleGen"].exec_properties["range_config"] is None
    assert "updated_analyzer_cache" not in nodes["Transform"].outputs and "analyzer_cache" not in nodes["Transform"].inputs
    assert "base_model" not in nodes["Trainer"].inputs


def test_ingest_only_stops_after_validation(spanned, tmp_path):
    config = preflight.check(load_config(None, {"dataset": str(spanned), "output_dir": str(tmp_path), "ingest_span": 1}))[0]
    assert set(_nodes(create_pipeline(config, ingest_only=True))) == {
        "CsvExampleGen", "ImportSchemaGen", "StatisticsGen", "ExampleValidator"}


def test_warm_start_trains_from_the_serving_model(tmp_path):
    config = preflight.check(load_config(None, {"output_dir": str(tmp_path), "warm_start": True}))[0]
    nodes = _nodes(create_pipeline(config))
    assert nodes["Trainer"].inputs["base_model"] is nodes["latest_blessed_model_resolver"].outputs["model"]
