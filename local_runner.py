"""Run the pipeline on this machine: TFX LocalDagRunner, Beam's direct (or portable) runner, SQLite ML Metadata.

Exit codes: 0 model pushed (and, unless --no-smoke-test, it serves), 1 a component
failed, 2 bad configuration or input, 3 data anomalies stopped the run before
training, 4 model not blessed (not pushed), 5 the pushed model failed its smoke test,
130 interrupted (SIGINT or SIGTERM).
"""
import argparse
import logging
import os
import signal
import sys
import time
import traceback
import warnings

from pipeline import preflight
from pipeline.config import ConfigError, PipelineConfig, add_config_arguments, config_from_args
from runs import exit_codes
from runs.store import StoreError, open_store


def _quiet_logs(verbose: bool) -> logging.Logger:
    """Hide TensorFlow/Beam/TFX noise unless --verbose; return TFX's (absl) logger."""
    from absl import logging as absl_logging

    # Through absl, not logger.setLevel: TensorFlow saves and restores absl's
    # verbosity flag around SavedModel export, which would undo a plain setLevel.
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logger = logging.getLogger("absl")
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        return absl_logger
    warnings.filterwarnings("ignore")
    absl_logger.propagate = False
    # Failures too: Beam logs a failing step's traceback at ERROR, and the runner
    # reports the failure itself, in one line.
    for name in ("tensorflow", "apache_beam", "tfx", "tensorflow_transform", "tensorflow_model_analysis"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.getLogger().setLevel(logging.CRITICAL)
    return absl_logger


def run(config: PipelineConfig, verbose: bool = False, out=sys.stdout, smoke_test: bool = True) -> int:
    """Check the data, run the pipeline and print progress and a summary; returns the exit code."""
    started = time.monotonic()
    try:
        config, data_check = preflight.check(config)
    except ConfigError as e:  # the data or the evaluation settings: before anything is written
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    absl_logger = _quiet_logs(verbose)
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.pipeline import create_pipeline
    from pipeline.portable import BeamServiceError, beam_services
    from pipeline.progress import ProgressHandler, RunProgress
    from pipeline.run_record import recorded_run
    from pipeline.summary import summarize
    from runs import metadata

    try:
        os.makedirs(config.output_dir, exist_ok=True)
        store = open_store(config.metadata)
    except OSError as e:  # not a folder, not writable
        print(f"error: cannot open the metadata store {config.metadata.describe()}: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    except StoreError as e:  # not a metadata store, server down
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    progress = RunProgress(store=store, pipeline_name=config.pipeline_name,
                           after_execution_id=metadata.max_execution_id(store), out=out)
    print(f"Pipeline {config.pipeline_name}: dataset {config.dataset.folder}, "
          f"schema {config.schema_mode}, Beam {' '.join(config.beam_pipeline_args())}, "
          f"cache {'on' if config.enable_cache else 'off'} (imports took {time.monotonic() - started:.1f} s)",
          file=out, flush=True)
    print("\n".join(data_check.lines(config)), file=out, flush=True)
    handler = ProgressHandler(progress)
    absl_logger.addHandler(handler)
    try:
        with beam_services(config.beam_pipeline_args(), verbose, out) as beam_args:
            pipeline = create_pipeline(config, config.metadata.connection_config(), beam_pipeline_args=beam_args)
            with recorded_run(pipeline, store, config.beam_pipeline_args()) as (ir, _):
                LocalDagRunner().run_with_ir(ir)
    except ConfigError as e:  # the Beam services' environment, a job endpoint that does not answer
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    except BeamServiceError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.FAILED
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (main() turns it into the same)
        component = progress.stopped_component("INTERRUPTED")
        where = f" while {component} was running" if component else ""
        print(f"interrupted{where}: the run is recorded as interrupted; run again to finish it "
              "(what completed is reused from the cache)", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except Exception as e:  # a component failed: one clear message, full trace only if asked
        component = progress.stopped_component() or "the pipeline"
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        print(f"error: {component} failed: {type(e).__name__}: {reason}", file=sys.stderr)
        if verbose:
            traceback.print_exc()
        else:
            print("       (run with --verbose for the full log and traceback)", file=sys.stderr)
        return exit_codes.FAILED
    finally:
        absl_logger.removeHandler(handler)
    summary = summarize(config, progress, time.monotonic() - started, data_check)
    print("\n".join(summary.lines()), file=out, flush=True)
    _write_report(config, summary.run_id, store, out)
    if summary.exit_code == exit_codes.OK and smoke_test and "://" not in config.serving_dir:
        return _smoke_test(config, out)
    return summary.exit_code


def _write_report(config: PipelineConfig, run_id, store, out) -> None:
    """The static HTML report of this run; a report problem never fails the run."""
    from runs.report_html import write_run_report

    try:
        print(f"Report: {write_run_report(store, config.layout, run_id=run_id)}", file=out, flush=True)
    except (LookupError, OSError, ValueError) as e:
        print(f"Report: not written ({e})", file=out, flush=True)


def _smoke_test(config: PipelineConfig, out) -> int:
    """Serve the pushed directory and check REST and gRPC answers before anyone relies on them."""
    from serving.smoke import smoke_test

    started = time.monotonic()
    result = smoke_test(config.serving_dir, config.model_name, config.dataset.csv_files[0], raise_on_failure=False)
    if not result.ok:
        print(result.report(), file=out, flush=True)
        return exit_codes.SMOKE_FAILED
    print(f"Smoke test: version {result.version} serves over REST and gRPC; {result.rows} rows match "
          f"the in-process model ({time.monotonic() - started:.1f} s)", file=out, flush=True)
    return exit_codes.OK


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow, Beam and TFX logs and tracebacks")
    parser.add_argument("--no-smoke-test", dest="smoke_test", action="store_false",
                        help="skip serving the pushed model once over REST and gRPC to check it")
    args = parser.parse_args(argv)
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
    return run(config, verbose=args.verbose, smoke_test=args.smoke_test)


if __name__ == "__main__":
    sys.exit(main())
