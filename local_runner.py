"""Run the pipeline on this machine: TFX LocalDagRunner, Beam's direct (or portable) runner, SQLite ML Metadata.

Exit codes: 0 model pushed (and, unless --no-smoke-test, it serves), 1 a component
failed, 2 bad configuration or input, 3 data anomalies stopped the run before
training, 4 model not blessed (not pushed), 5 the pushed model failed its smoke test,
130 interrupted (SIGINT or SIGTERM).
"""
import argparse
import dataclasses
import os
import signal
import sys
import time
from typing import Optional

from pipeline import partial_run, preflight
from pipeline.config import ConfigError, PipelineConfig
from pipeline.config_flags import add_config_arguments, config_from_args
from runs import exit_codes


def run(config: PipelineConfig, verbose: bool = False, out=sys.stdout, smoke_test: bool = True,
        partial: Optional[partial_run.PartialRun] = None) -> int:
    """Check the data, run the pipeline (what is pending, for a dataset of spans), print progress and a
    summary; returns the exit code. One run per output folder: another live run there is refused (exit 2).
    `partial` runs only part of the pipeline, reusing an earlier run's artifacts (pipeline/partial_run.py)."""
    started = time.monotonic()
    try:
        config, data_check = preflight.check(config)
        selection = partial_run.select(config, partial) if partial else None
    except (ConfigError, partial_run.PartialRunError) as e:  # before anything is written
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    from pipeline import local_run

    opened = local_run.open_for_run(config)
    if opened is None:
        return exit_codes.BAD_INPUT
    store, lock = opened
    try:
        if lock.stale_note():
            print(lock.stale_note(), file=out, flush=True)
        plan = None
        if selection is not None:
            try:
                plan = partial_run.plan(config, selection, store)
            except partial_run.PartialRunError as e:
                print(f"error: {e}", file=sys.stderr)
                return exit_codes.BAD_INPUT
            config = dataclasses.replace(config, enable_cache=False)  # the range runs, whatever the cache says
        result = local_run.run(config, store=store, verbose=verbose, out=out, started=started, data_check=data_check,
                               partial=plan)
        if result.exit_code == exit_codes.OK and result.pushed_version and smoke_test \
                and "://" not in config.serving_dir:
            return _smoke_test(config, int(result.pushed_version), store, out)
        return result.exit_code
    finally:
        lock.release()


def _smoke_test(config: PipelineConfig, version: int, store, out) -> int:
    """Serve the pushed version and check REST and gRPC answers before anyone relies on them;
    the verdict is recorded on the run that pushed it (`inspect history` shows a failure)."""
    from serving.smoke import record, smoke_test

    started = time.monotonic()
    result = smoke_test(config.serving_dir, config.model_name, config.dataset.csv_files[0], raise_on_failure=False,
                        version=version)
    unmarked = record(result, store)
    if unmarked:
        print(f"note: the smoke test's verdict is not recorded in ML Metadata: {unmarked}", file=out, flush=True)
    if not result.ok:
        print(result.report(), file=out, flush=True)
        return exit_codes.SMOKE_FAILED
    print(f"Smoke test: version {result.version} serves over REST and gRPC; {result.rows} rows match "
          f"the in-process model ({time.monotonic() - started:.1f} s)", file=out, flush=True)
    return exit_codes.OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow, Beam and TFX logs and tracebacks")
    parser.add_argument("--no-smoke-test", dest="smoke_test", action="store_false",
                        help="skip serving the pushed model once over REST and gRPC to check it")
    partial_run.add_arguments(parser)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM stops a run as Ctrl-C does: the run is marked interrupted and Beam services stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # Quiet means quiet, whatever the environment says (set before TensorFlow is imported).
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if args.verbose else "3"
    os.environ["GLOG_minloglevel"] = "0" if args.verbose else "3"
    try:
        config = config_from_args(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    return run(config, verbose=args.verbose, smoke_test=args.smoke_test, partial=partial_run.from_args(args))


if __name__ == "__main__":
    sys.exit(main())
