"""Compiles the pipeline for Kubeflow Pipelines 2.x / Vertex AI Pipelines, and optionally submits it.

Same `create_pipeline`, same configuration and flags as local_runner.py. What changes on a
cluster is where things live: every component runs in its own pod from the project's image,
so data, pipeline root and serving directory must be paths every pod can read.
"""
import os


import argparse
import contextlib
import dataclasses
import json
import re
import sys
import urllib.error
import urllib.request
from typing import Dict, List, Optional, Tuple

import yaml

from runs.layout import DEFAULT_OUTPUT_DIR, OutputLayout

from pipeline.config import (REPO_ROOT, ConfigError, PipelineConfig, add_config_arguments,
                             config_from_args)

IMAGE_PROJECT_DIR = "/pipeline"  # where the Dockerfile copies the project
PLACEHOLDER_BUCKET = "gs://YOUR_BUCKET/tfx-pipeline-template"
PLACEHOLDERS = {
    "--image": "registry.example.com/YOUR_PROJECT/tfx-pipeline-template:latest",
    "--pipeline-root": f"{PLACEHOLDER_BUCKET}/pipeline_root",
    "--serving-dir": f"{PLACEHOLDER_BUCKET}/serving_model",
}
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    cluster = parser.add_argument_group("cluster")
    cluster.add_argument("--output", metavar="FILE",
                         help="the compiled spec; .yaml/.yml (PipelineSpec, for KFP and Vertex) or .json "
                              "(PipelineJob, Vertex); default outputs/kubeflow/<pipeline name>.yaml")
    cluster.add_argument("--image", help="the pipeline image every task runs (built from ./Dockerfile)")
    cluster.add_argument("--pipeline-root", metavar="URI", help="where artifacts go, on object storage (gs://, s3://)")
    cluster.add_argument("--serving-dir", metavar="URI",
                         help="where Pusher puts blessed models, <URI>/<model name>/<version>/; KServe storageUri is "
                              "<URI>/<model name>")
    cluster.add_argument("--data-uri", metavar="URI",
                         help="the dataset folder as the pods see it (CSV + schema.pbtxt); default: the --dataset "
                              f"folder inside the image under {IMAGE_PROJECT_DIR}")
    submit = parser.add_argument_group("submitting (optional)")
    submit.add_argument("--submit", choices=("kfp", "vertex"), help="after compiling, start a run")
    submit.add_argument("--endpoint", default=os.environ.get("KF_PIPELINES_ENDPOINT"),
                        help="Kubeflow Pipelines API URL (default $KF_PIPELINES_ENDPOINT)")
    submit.add_argument("--experiment", default="Default", help="Kubeflow Pipelines experiment")
    submit.add_argument("--project", help="Google Cloud project for Vertex AI (default: from the credentials)")
    submit.add_argument("--region", help="Google Cloud region for Vertex AI, e.g. europe-west4")
    return parser


def image_data_path(dataset_folder: str) -> str:
    """The dataset folder inside the image, where the Dockerfile copied the project."""
    relative = os.path.relpath(dataset_folder, REPO_ROOT)
    if relative.startswith(os.pardir):
        raise ConfigError(f"dataset folder {dataset_folder} is outside the project, so it is not in the image: "
                          "upload it (CSV + schema.pbtxt) and pass --data-uri")
    return f"{IMAGE_PROJECT_DIR}/{relative}"


def cluster_run(args) -> ClusterRun:
    """The local config (dataset checked here), moved to where the pods will find things."""
    if args.output_dir:
        raise ConfigError("--output-dir is for local runs; on a cluster use --pipeline-root and --serving-dir")
    config = config_from_args(args)
    # Measured on the local copy: the direct runner's mode depends on the data size.
    beam_args = config.beam_pipeline_args()
    chosen = {"--image": args.image, "--pipeline-root": args.pipeline_root or config.pipeline_root_uri,
              "--serving-dir": args.serving_dir or config.serving_dir_uri}
    placeholders = [flag for flag, value in chosen.items() if not value]
    values = {flag: value or PLACEHOLDERS[flag] for flag, value in chosen.items()}
    for flag in ("--pipeline-root", "--serving-dir"):
        if not URI.fullmatch(values[flag]):
            raise ConfigError(f"{flag} must be on object storage (gs://, s3://), got {values[flag]!r}: "
                              "each component runs in its own pod and they share no local disk")
    data_uri = args.data_uri or image_data_path(config.dataset.folder)
    if not (URI.fullmatch(data_uri) or data_uri.startswith("/")):
        raise ConfigError(f"--data-uri must be an absolute path in the image or an object-storage URI, "
                          f"got {data_uri!r}")
    if not PIPELINE_NAME.fullmatch(config.pipeline_name):
        raise ConfigError(f"pipeline name {config.pipeline_name!r} is not valid on Kubeflow/Vertex (lowercase "
                          "letters, digits and '-'): set pipeline_name in a --config file")
    config = dataclasses.replace(
        config, dataset=dataclasses.replace(config.dataset, folder=data_uri.rstrip("/")),
        pipeline_root_uri=values["--pipeline-root"], serving_dir_uri=values["--serving-dir"])
    return ClusterRun(config, values["--image"], beam_args, placeholders)


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


def compile_job(run: ClusterRun) -> Dict:
    """The PipelineJob as a dict: `pipelineSpec` (with its default root) and `runtimeConfig`."""
    from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import KubeflowV2DagRunner, KubeflowV2DagRunnerConfig

    from pipeline.pipeline import create_pipeline

    runner = KubeflowV2DagRunner(KubeflowV2DagRunnerConfig(display_name=run.config.pipeline_name,
                                                           default_image=run.image))
    with _cel_with_string_keys():
        job = runner.run(create_pipeline(run.config, beam_pipeline_args=run.beam_args), write_out=False)
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


def check_kfp(endpoint: Optional[str], path: str) -> None:
    """Fail before compiling when a KFP submission cannot work."""
    if not endpoint:
        raise ConfigError("--submit kfp needs --endpoint URL (or $KF_PIPELINES_ENDPOINT), e.g. http://localhost:8080 "
                          "after `kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`")
    if path.endswith(".json"):
        raise ConfigError("kfp.Client uploads YAML pipeline specs only: compile with --output FILE.yaml")
    try:
        urllib.request.urlopen(f"{endpoint.rstrip('/')}/apis/v2beta1/healthz", timeout=10).close()
    except urllib.error.HTTPError:
        pass  # the server answered (maybe asking to log in); kfp.Client handles authentication
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise ConfigError(f"cannot reach Kubeflow Pipelines at {endpoint}: {getattr(e, 'reason', e)}") from None


def submit_kfp(path: str, endpoint: str, experiment: str) -> str:
    import kfp

    result = kfp.Client(host=endpoint).create_run_from_pipeline_package(
        path, arguments={}, experiment_name=experiment)
    return f"submitted run {result.run_id} to {endpoint}"


def check_vertex(run: ClusterRun, project: Optional[str], region: Optional[str]) -> Tuple[object, str]:
    """Fail before compiling when a Vertex submission cannot work; returns (credentials, project)."""
    if not region:
        raise ConfigError("--submit vertex needs --region, e.g. --region europe-west4")
    if not run.config.pipeline_root.startswith("gs://"):
        raise ConfigError(f"Vertex AI Pipelines writes to Cloud Storage: --pipeline-root must start with gs://, "
                          f"got {run.config.pipeline_root}")
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, default_project = google.auth.default()
    except DefaultCredentialsError:
        raise ConfigError("no Google Cloud credentials: run `gcloud auth application-default login` "
                          "or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file") from None
    if not (project or default_project):
        raise ConfigError("--submit vertex needs --project (the credentials name none)")
    return credentials, project or default_project


def submit_vertex(path: str, run: ClusterRun, credentials, project: str, region: str) -> str:
    from google.cloud import aiplatform

    job = aiplatform.PipelineJob(display_name=run.config.pipeline_name, template_path=path,
                                 pipeline_root=run.config.pipeline_root, project=project, location=region,
                                 credentials=credentials)
    job.submit()
    return f"submitted {job.resource_name}"


def summary(run: ClusterRun, path: str, job: Dict) -> str:
    config = run.config
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    lines = [f"wrote {path}: {len(tasks)} tasks, image {run.image}",
             f"  data            {config.dataset.folder}",
             f"  pipeline root   {config.pipeline_root}",
             f"  serving dir     {config.serving_dir}  (KServe storageUri)",
             f"  beam args       {' '.join(run.beam_args)}"]
    if "--runner=DataflowRunner" in run.beam_args and not any(
            a.startswith("--sdk_container_image=") for a in run.beam_args):
        lines.append("note: Dataflow workers need this project's code to run preprocessing_fn: "
                     f"add --beam-arg=--sdk_container_image={run.image}")
    if run.placeholders:
        lines.append("placeholders a real run must set: " + ", ".join(run.placeholders))
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run = cluster_run(args)
        path = args.output or OutputLayout(DEFAULT_OUTPUT_DIR).kubeflow_spec(run.config.pipeline_name)
        if not path.endswith(SPEC_EXTENSIONS):
            raise ConfigError(f"--output {path}: use a {'/'.join(SPEC_EXTENSIONS)} file name (the format follows it)")
        if args.submit and run.placeholders:
            raise ConfigError("cannot submit with placeholders: set " + ", ".join(run.placeholders))
        if args.submit == "kfp":
            check_kfp(args.endpoint, path)
        elif args.submit == "vertex":
            credentials, project = check_vertex(run, args.project, args.region)
        job = compile_job(run)
        write_spec(job, path)
        print(summary(run, path, job))
        if args.submit == "kfp":
            print(submit_kfp(path, args.endpoint, args.experiment))
        elif args.submit == "vertex":
            print(submit_vertex(path, run, credentials, project, args.region))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
