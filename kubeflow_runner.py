"""Compiles the pipeline for Kubeflow Pipelines 2.x / Vertex AI Pipelines, and optionally submits it.

Same `create_pipeline`, same configuration and flags as local_runner.py. What changes on a
cluster is where things live: every component runs in its own pod from the project's image,
so data, pipeline root and serving directory must be paths every pod can read.
"""
import argparse
import os
import sys
import urllib.error
import urllib.request
from typing import Dict, Optional, Tuple

from pipeline import partial_run, preflight
from pipeline.config import ConfigError
from pipeline.config_flags import add_config_arguments, config_from_args
from pipeline.kubeflow import IMAGE_PROJECT_DIR, SPEC_EXTENSIONS, ClusterRun, compile_job, for_cluster, write_spec
from runs import exit_codes
from runs.layout import DEFAULT_OUTPUT_DIR, OutputLayout

PLACEHOLDER_BUCKET = "gs://YOUR_BUCKET/tfx-pipeline-template"
PLACEHOLDERS = {
    "--image": "registry.example.com/YOUR_PROJECT/tfx-pipeline-template:latest",
    "--pipeline-root": f"{PLACEHOLDER_BUCKET}/pipeline_root",
    "--serving-dir": f"{PLACEHOLDER_BUCKET}/serving_model",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    partial_run.refuse_arguments(parser, "a cluster run is the whole pipeline (Kubeflow Pipelines has no TFX partial run); run part of it on this machine")
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


def cluster_run(args) -> ClusterRun:
    """The local config (dataset checked here), moved to where the pods will find things."""
    if args.output_dir:
        raise ConfigError("--output-dir is for local runs; on a cluster use --pipeline-root and --serving-dir")
    config, _ = preflight.check(config_from_args(args))
    chosen = {"--image": args.image, "--pipeline-root": args.pipeline_root or config.pipeline_root_uri,
              "--serving-dir": args.serving_dir or config.serving_dir_uri}
    placeholders = [flag for flag, value in chosen.items() if not value]
    values = {flag: value or PLACEHOLDERS[flag] for flag, value in chosen.items()}
    return for_cluster(config, image=values["--image"], pipeline_root=values["--pipeline-root"],
                       serving_dir=values["--serving-dir"], data_uri=args.data_uri, placeholders=placeholders)


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
        return exit_codes.BAD_INPUT
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
