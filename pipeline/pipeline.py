"""`create_pipeline`: the TFX components and their wiring, for any runner.

This module knows no ML: the model code is referenced by dotted path
(`models.preprocessing.preprocessing_fn`, `models.training.run_fn`), which needs no
pip or wheel building and resolves wherever the project is installed; only the
exported signatures' names come from models/export.py, for the Evaluator.
Components are imported from their own modules, not `tfx.v1`, which would also
import every Google Cloud extension and slow every start-up (docs/performance.md, "Start-up").

A dataset of spans runs the TFX way (RFC "TFX Periodic Training"): ExampleGen reads one
span per run (`span-{SPAN}/*.csv`), StatisticsGen and ExampleValidator check that span,
and a resolver hands Transform, the Trainer and the Evaluator the window of newest spans
from every run's Examples, with Transform's analyzer cache so old spans are not
analysed again.
"""
from __future__ import annotations

import functools
import json
from typing import List, Optional

import tensorflow_model_analysis as tfma
from tfx.components.evaluator.component import Evaluator
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.schema_gen.component import SchemaGen
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.components.trainer.component import Trainer
from tfx.components.transform.component import Transform
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.experimental.conditionals.conditional import Cond
from tfx.dsl.placeholder.placeholder import logical_and
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, range_config_pb2, trainer_pb2, transform_pb2
from tfx.types import Channel, standard_artifacts

from data import tasks
from models.export import PREDICTIONS, PROBABILITIES, SERVING_SIGNATURE, TRANSFORM_SIGNATURE
from pipeline.config import PipelineConfig
from pipeline.labelled_examples import labelled_csv_example_gen
from pipeline.push import AtomicPusher
from pipeline.resolvers import LatestCacheStrategy, ServingModelStrategy, SpanWindowStrategy
from pipeline.splits import EVAL, TEST, TRAIN
from pipeline.tuning import hyperparameter_nodes

PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
RUN_FN = "models.training.run_fn"

# Node ids, shared with progress reporting and metadata queries.
EXAMPLE_GEN_ID = "CsvExampleGen"
RESOLVER_ID = "latest_blessed_model_resolver"
PUSHER_ID = "Pusher"  # TFX's own name, kept for the atomic Pusher
SPAN_WINDOW_ID = "span_window_resolver"
TRANSFORM_CACHE_ID = "transform_cache_resolver"


def metric_config(config: PipelineConfig) -> tfma.MetricConfig:
    """The dataset's metric as TFMA computes it, under the name the user wrote, with its bounds.

    A higher-is-better metric has a lower bound and may drop by at most max_regression
    against the baseline; a lower-is-better one the mirror image.
    """
    evaluation = config.dataset.evaluation
    metric = tasks.find_metric(evaluation.metric)
    threshold = tfma.MetricThreshold()
    bound = getattr(evaluation, metric.bound_key)
    if bound is not None:
        side = "lower_bound" if metric.higher_is_better else "upper_bound"
        threshold.value_threshold.CopyFrom(tfma.GenericValueThreshold(**{side: {"value": bound}}))
    allowed = evaluation.regression_allowed
    if allowed is not None:
        threshold.change_threshold.CopyFrom(tfma.GenericChangeThreshold(
            direction=(tfma.MetricDirection.HIGHER_IS_BETTER if metric.higher_is_better
                       else tfma.MetricDirection.LOWER_IS_BETTER),
            absolute={"value": -allowed if metric.higher_is_better else allowed}))
    return tfma.MetricConfig(class_name=metric.tfma_class, config=json.dumps({"name": evaluation.metric}),
                             threshold=threshold if threshold.ByteSize() else None)


def metrics_specs(config: PipelineConfig) -> List[tfma.MetricsSpec]:
    """The example count, and the dataset's metric; a binary metric is about the positive class
    (the last class), through TFMA's binarization, so its value and its threshold share one key."""
    dataset = config.dataset
    specs = [tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="ExampleCount")])]
    metric = tfma.MetricsSpec(metrics=[metric_config(config)])
    if tasks.find_metric(dataset.evaluation.metric).positive_class:
        metric.binarize.class_ids.values.append(len(dataset.classes) - 1)
    return specs + [metric]


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """Overall and per-slice metrics; bless on an absolute bar and no regression vs baseline."""
    dataset = config.dataset
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=SERVING_SIGNATURE,
            label_key=dataset.label,
            prediction_key=PREDICTIONS if dataset.task == tasks.REGRESSION else PROBABILITIES,
            preprocessing_function_names=[TRANSFORM_SIGNATURE])],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[f]) for f in dataset.slice_by],
        metrics_specs=metrics_specs(config),
    )


def input_config(config: PipelineConfig) -> example_gen_pb2.Input:
    """One input split: the folder's CSV files, or one span's (`span-{SPAN}/*.csv`)."""
    return example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name="single_split", pattern=config.dataset.input_pattern)])


def output_config(config: PipelineConfig) -> example_gen_pb2.Output:
    """train/eval/test by hash of each row, weighted as dataset.yaml's `splits` says (pipeline/splits.py)."""
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=weight) for name, weight in config.dataset.splits]))


def range_config(config: PipelineConfig) -> Optional[range_config_pb2.RangeConfig]:
    """The span this run ingests; None lets ExampleGen take the newest span."""
    if not config.ingest_span:
        return None
    span = range_config_pb2.StaticRange(start_span_number=config.ingest_span, end_span_number=config.ingest_span)
    return range_config_pb2.RangeConfig(static_range=span)


def create_pipeline(config: PipelineConfig, metadata_connection_config=None,
                    beam_pipeline_args: Optional[List[str]] = None, ingest_only: bool = False,
                    example_gen_inputs: Optional[dict] = None) -> tfx_pipeline.Pipeline:
    """The pipeline for a config that has passed `pipeline.preflight.check` (task and classes settled).

    `ingest_only` stops after ExampleValidator (a span ingested and checked, no training);
    `example_gen_inputs` replaces ExampleGen's input and range configs (a cluster passes
    runtime parameters).
    """
    dataset = config.dataset
    if not dataset.task:
        raise ValueError("create_pipeline needs the config pipeline.preflight.check returns")
    inputs = example_gen_inputs or {"input_config": input_config(config), "range_config": range_config(config)}
    example_gen = labelled_csv_example_gen(
        label=dataset.label,
        input_base=dataset.folder,
        output_config=output_config(config),
        **inputs,
    ).with_id(EXAMPLE_GEN_ID)
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    if config.schema_mode == "curated":
        schema_gen = ImportSchemaGen(schema_file=dataset.schema_path)
    else:
        schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])

    components = [example_gen, statistics_gen, schema_gen, example_validator]
    if ingest_only:
        model_components = []
    elif config.schema_mode == "curated":
        # Curated schema is a contract: data with anomalies never reaches training.
        blessed = example_validator.outputs["anomalies"].future()[0].custom_property("blessed")
        with Cond(functools.reduce(logical_and, (blessed[split] == 1 for split, _ in dataset.splits))):
            model_components = _model_components(config, example_gen, schema_gen)
    else:
        model_components = _model_components(config, example_gen, schema_gen)
    components += model_components

    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args if beam_pipeline_args is not None else config.beam_pipeline_args(),
    )


def _span_resolvers(config: PipelineConfig, example_gen) -> tuple:
    """(the window of Examples from every run, Transform's newest analyzer cache or None when turned off)."""
    window = Resolver(
        strategy_class=SpanWindowStrategy,
        config={"num_spans": config.dataset.span_window, "validated_only": config.schema_mode == "curated",
                "split_names": [name for name, _ in config.dataset.splits]},
        examples=Channel(type=standard_artifacts.Examples, producer_component_id=example_gen.id,
                         output_key="examples"),
    ).with_id(SPAN_WINDOW_ID)
    window.add_upstream_node(example_gen)
    cache = Resolver(
        strategy_class=LatestCacheStrategy,
        cache=Channel(type=standard_artifacts.TransformCache),
    ).with_id(TRANSFORM_CACHE_ID) if config.analyzer_cache else None
    return window, cache


def _model_components(config: PipelineConfig, example_gen, schema_gen) -> list:
    custom_config = config.dataset.custom_config()
    window, cache = _span_resolvers(config, example_gen) if config.dataset.spanned else (None, None)
    examples = window.outputs["examples"] if window else example_gen.outputs["examples"]
    transform = Transform(
        examples=examples,
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config=custom_config,
        # Speed (docs/performance.md, "Transform settings"):
        # StatisticsGen already describes the data, so no pre/post statistics;
        # a TF1 graph traces preprocessing_fn without autograph;
        # the analyzer cache only pays off over a window of spans, where each run
        # analyses the new span only (benchmarks/continuous_speed.py).
        disable_statistics=True,
        force_tf_compat_v1=True,
        # Vocabularies and scales from the training rows only; every split transformed.
        splits_config=transform_pb2.SplitsConfig(analyze=[TRAIN], transform=[TRAIN, EVAL, TEST]),
        analyzer_cache=cache.outputs["cache"] if cache else None,
        disable_analyzer_cache=cache is None,
    )
    model_resolver = Resolver(
        strategy_class=ServingModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id(RESOLVER_ID)
    tuning_nodes, hyperparameters = hyperparameter_nodes(config, transform, schema_gen, custom_config)
    trainer = Trainer(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        base_model=model_resolver.outputs["model"] if config.warm_starts else None,
        hyperparameters=hyperparameters,
        train_args=trainer_pb2.TrainArgs(splits=[TRAIN], num_steps=config.train_steps),
        eval_args=trainer_pb2.EvalArgs(splits=[EVAL], num_steps=config.eval_steps),
        custom_config=custom_config,
    )
    evaluator = Evaluator(
        examples=examples,
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        eval_config=eval_config(config),
        # Judged on rows no choice was made on: eval picks hyperparameters and stops training.
        example_splits=[TEST],
    )
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=config.serving_dir)),
    ).with_id(PUSHER_ID)
    return [n for n in (window, cache) if n] + [transform, model_resolver, *tuning_nodes, trainer, evaluator, pusher]
