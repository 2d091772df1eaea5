"""The `docker run` command for the real TF Serving over a pipeline output dir.

`python -m serving.deploy.recipe --output-dir outputs` prints it with absolute paths. It
mirrors serving/deploy/tf_serving/docker-compose.yml: image tensorflow/serving, gRPC on
8500, REST on 8501, the model base path mounted read-only at /models/<model>, and the
Prometheus endpoint enabled at /monitoring/prometheus/metrics. Docker cannot run on
the project's build machines, so this is printed, never executed here.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import List, Optional

from runs import exit_codes
from runs.cli import add_model_name, add_output_dir
from runs.layout import LayoutError, OutputLayout

IMAGE = "tensorflow/serving:2.16.1"
GRPC_PORT, REST_PORT = 8500, 8501
MONITORING_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_serving", "monitoring.config")


def docker_command(model_base_path: str, model_name: str) -> List[str]:
    return [
        "docker", "run", "--rm",
        "-p", f"127.0.0.1:{GRPC_PORT}:{GRPC_PORT}", "-p", f"127.0.0.1:{REST_PORT}:{REST_PORT}",
        "-v", f"{os.path.abspath(model_base_path)}:/models/{model_name}:ro",
        "-v", f"{MONITORING_CONFIG}:/config/monitoring.config:ro",
        "-e", f"MODEL_NAME={model_name}",
        IMAGE,
        "--monitoring_config_file=/config/monitoring.config",
        "--file_system_poll_wait_seconds=1",
    ]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m serving.deploy.recipe", description=__doc__.split("\n\n")[0])
    add_output_dir(p, "the pipeline output folder (holds serving_model/)", required=True)
    add_model_name(p)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        base_path, model_name = OutputLayout(args.output_dir).served_model(args.model_name)
    except LayoutError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    print(shlex.join(docker_command(base_path, model_name)))
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
