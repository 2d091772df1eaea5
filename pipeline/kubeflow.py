"""What compiling for Kubeflow Pipelines v2 / Vertex AI adds to the pipeline: the config moved to
where pods find things (image, object storage), and TFX 1.16's compiler fixed where it is wrong.

`kubeflow_runner.py` is the command; this module is what any cluster runner would need.
"""
import contextlib
import dataclasses
import json
import os
import re
from typing import Dict, List, Optional

import yaml

from pipeline.config import REPO_ROOT, ConfigError, PipelineConfig, beam_arg

IMAGE_PROJECT_DIR = "/pipeline"  # where the Dockerfile copies the project
SPEC_EXTENSIONS = (".json", ".yaml", ".yml")
# Kubeflow and Vertex accept only these pipeline names.
PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
URI = re.compile(r"[a-z][a-z0-9+.-]*://.+")


@dataclasses.dataclass(frozen=True)
class ClusterRun:
    """What the runner compiles: the cluster-side config plus what only a cluster needs."""

    config: PipelineConfig
    image: str
    beam_args: List[str]
    placeholders: List[str]


def image_data_path(dataset_folder: str) -> str:
    """The dataset folder inside the image, where the Dockerfile copied the project."""
    relative = os.path.relpath(dataset_folder, REPO_ROOT)
    if relative.startswith(os.pardir):
        raise ConfigError(f"dataset folder {dataset_folder} is outside the project, so it is not in the image: "
                          "upload it (CSV + schema.pbtxt) and pass --data-uri")
    return f"{IMAGE_PROJECT_DIR}/{relative}"


def for_cluster(config: PipelineConfig, *, image: str, pipeline_root: str, serving_dir: str,
                data_uri: Optional[str] = None, placeholders: Optional[List[str]] = None) -> ClusterRun:
    """The local config (dataset checked on the local copy) moved to object storage and the image."""
    # Measured on the local copy: the direct runner's mode depends on the data size.
    beam_args = config.beam_pipeline_args()
    if config.resolved_beam_mode() == "portable" and not beam_arg(beam_args, "--job_endpoint"):
        raise ConfigError("--beam-mode portable starts a job service on this machine, which pods cannot reach: "
                          "pass the cluster's with --beam-arg=--job_endpoint=HOST:PORT")
    for flag, value in (("--pipeline-root", pipeline_root), ("--serving-dir", serving_dir)):
        if not URI.fullmatch(value):
            raise ConfigError(f"{flag} must be on object storage (gs://, s3://), got {value!r}: "
                              "each component runs in its own pod and they share no local disk")
    if config.tuning.hparams:
        raise ConfigError("--hparams imports a file of this machine, which pods cannot read: on a cluster, tune "
                          "(--tune) or let the run reuse the latest tuned hyperparameters from ML Metadata")
    data_uri = data_uri or image_data_path(config.dataset.folder)
    if not (URI.fullmatch(data_uri) or data_uri.startswith("/")):
        raise ConfigError(f"--data-uri must be an absolute path in the image or an object-storage URI, "
                          f"got {data_uri!r}")
    if not PIPELINE_NAME.fullmatch(config.pipeline_name):
        raise ConfigError(f"pipeline name {config.pipeline_name!r} is not valid on Kubeflow/Vertex (lowercase "
                          "letters, digits and '-'): set pipeline_name in a --config file")
    config = dataclasses.replace(
        config, dataset=dataclasses.replace(config.dataset, folder=data_uri.rstrip("/")),
        pipeline_root_uri=pipeline_root, serving_dir_uri=serving_dir)
    return ClusterRun(config, image, beam_args, list(placeholders or []))


@contextlib.contextmanager
def _cel_with_string_keys():
    """TFX 1.16 compiles `blessed['train'] == 1` to CEL `blessed[0] == 1.0` (drops string keys).

    The anomalies' `blessed` property is a map from split to 0/1, so the Cond around training would
    fail on a cluster; this keeps the key during compilation.
    """
    from tfx.orchestration.kubeflow.v2 import compiler_utils

    upstream = compiler_utils.placeholder_to_cel

    def placeholder_to_cel(expression):
        if expression.HasField("operator") and expression.operator.WhichOneof("operator_type") == "index_op":
            index_op = expression.operator.index_op
            if index_op.key:
                return f"{compiler_utils.placeholder_to_cel(index_op.expression)}['{index_op.key}']"
        return upstream(expression)

    compiler_utils.placeholder_to_cel = placeholder_to_cel
    try:
        yield
    finally:
        compiler_utils.placeholder_to_cel = upstream


# Without a window the resolver query takes this many spans: "every span", within reason.
ALL_SPANS_LIMIT = 10000
INPUT_CONFIG_PARAMETER = "input_config"
RANGE_CONFIG_PARAMETER = "range_config"


@contextlib.contextmanager
def project_resolvers():
    """The Kubeflow V2 compiler knows only TFX's latest-artifact and latest-blessed-model resolvers.

    The project's strategies (pipeline/resolvers.py) compile to the same metadata queries:
    the serving model to the latest blessed model (a cluster has no rollback command), the
    analyzer cache to the latest cache, and the span window to the newest `num_spans`
    Examples that carry a span (ExampleGen's; Transform's outputs have none).
    """
    from tfx.dsl.components.common import resolver
    from tfx.orchestration.kubeflow.v2 import step_builder

    from pipeline.resolvers import LatestCacheStrategy, ServingModelStrategy, SpanWindowStrategy

    upstream = step_builder.StepBuilder._build_resolver_spec

    def build(self):
        strategy = self._exec_properties[resolver.RESOLVER_STRATEGY_CLASS]
        if strategy is ServingModelStrategy:
            return self._build_latest_blessed_model_resolver()
        if strategy is LatestCacheStrategy:
            return self._build_latest_artifact_resolver()
        if strategy is SpanWindowStrategy:
            tasks = self._build_latest_artifact_resolver()
            executor = self._deployment_config.executors[step_builder._EXECUTOR_LABEL_PATTERN.format(self._name)]
            for query in executor.resolver.output_artifact_queries.values():
                query.filter += " AND metadata.span.number_value>=1"
                query.limit = self._exec_properties[resolver.RESOLVER_CONFIG].get("num_spans") or ALL_SPANS_LIMIT
            return tasks
        return upstream(self)

    step_builder.StepBuilder._build_resolver_spec = build
    try:
        yield
    finally:
        step_builder.StepBuilder._build_resolver_spec = upstream


def example_gen_parameters(config: PipelineConfig) -> Optional[Dict]:
    """For a dataset of spans: ExampleGen's span pattern and span as pipeline parameters.

    `input_config` (JSON; its pattern holds `{SPAN}`) and `range_config` (JSON of a
    RangeConfig; empty: the newest span), so a recurring run reads each new span as the
    local loop does, and a run can re-read a given span.
    """
    if not config.dataset.spanned:
        return None
    from tfx.orchestration import data_types
    from tfx.utils import proto_utils

    from pipeline.pipeline import input_config

    return {"input_config": data_types.RuntimeParameter(name=INPUT_CONFIG_PARAMETER, ptype=str,
                                                        default=proto_utils.proto_to_json(input_config(config))),
            "range_config": data_types.RuntimeParameter(name=RANGE_CONFIG_PARAMETER, ptype=str, default="")}


def compile_job(run: ClusterRun) -> Dict:
    """The PipelineJob as a dict: `pipelineSpec` (with its default root) and `runtimeConfig`."""
    from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import KubeflowV2DagRunner, KubeflowV2DagRunnerConfig

    from pipeline.pipeline import create_pipeline

    runner = KubeflowV2DagRunner(KubeflowV2DagRunnerConfig(display_name=run.config.pipeline_name,
                                                           default_image=run.image))
    parameters = example_gen_parameters(run.config) or {}
    pipeline = create_pipeline(run.config, beam_pipeline_args=run.beam_args, example_gen_inputs=parameters or None)
    defaults = {p.name: p.default for p in parameters.values()}
    with _cel_with_string_keys(), project_resolvers():
        job = runner.run(pipeline, parameter_values=defaults, write_out=False)
    # TFX writes the parameters' types only; KFP's UI and `kfp.Client` take defaults from the spec.
    for name, default in defaults.items():
        spec = job["pipelineSpec"]["root"]["inputDefinitions"]["parameters"][name]
        spec.update({"parameterType": "STRING", "defaultValue": default, "isOptional": True})
    # A YAML file holds only the PipelineSpec; this keeps the pipeline root in it.
    job["pipelineSpec"]["defaultPipelineRoot"] = run.config.pipeline_root
    return job


def write_spec(job: Dict, path: str) -> None:
    """YAML: the PipelineSpec (what kfp.Client uploads); JSON: the whole PipelineJob (Vertex)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        if path.endswith(".json"):
            json.dump(job, f, indent=1, sort_keys=True)
        else:
            yaml.safe_dump(job["pipelineSpec"], f, sort_keys=True)
