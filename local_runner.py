"""Runs the pipeline locally: LocalDagRunner, Beam direct runner, embedded SQLite ML Metadata."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import argparse
import sys

from pipeline.config import ConfigError, PipelineConfig, add_config_arguments, config_from_args


def run(config: PipelineConfig, verbose: bool = False) -> int:
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.pipeline import create_pipeline

    os.makedirs(config.output_dir, exist_ok=True)
    LocalDagRunner().run(create_pipeline(config, config.metadata.connection_config()))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_arguments(parser)
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow, Beam and TFX logs")
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return run(config, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
