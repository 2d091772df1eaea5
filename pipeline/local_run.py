"""Running the pipeline on this machine: LocalDagRunner, one line per component, the summary, the report.

For a dataset of spans, a run does what is pending: each span no earlier run ingested
(or whose files changed since) is read by ExampleGen once, in order; every such span but
the last is only ingested and validated, and the last one's run trains on the window.
Each run's trigger is recorded in ML Metadata. `local_runner.py` and the continuous
loop (pipeline/continuous.py) both run through here.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import List, Optional, TextIO

from pipeline.config import PipelineConfig
from runs import exit_codes, records
from runs.lock import RunLock, RunLockError
from runs.store import StoreError, open_store


@dataclass
class RunResult:
    """What the runs of one invocation did; `exit_code` is the last run's."""

    exit_code: int
    run_ids: List[str] = field(default_factory=list)
    pushed_version: Optional[str] = None
    ingested: List[int] = field(default_factory=list)


def quiet_logs(verbose: bool) -> logging.Logger:
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


def open_for_run(config: PipelineConfig):
    """(metadata store, run lock held on the output folder), or one line on stderr and None (bad input)."""
    try:
        os.makedirs(config.output_dir, exist_ok=True)
        store = open_store(config.metadata)
    except OSError as e:  # not a folder, not writable
        print(f"error: cannot open the metadata store {config.metadata.describe()}: {e}", file=sys.stderr)
        return None
    except StoreError as e:  # not a metadata store, server down
        print(f"error: {e}", file=sys.stderr)
        return None
    try:
        return store, RunLock.for_output(config.layout, config.metadata).acquire()
    except (RunLockError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def run(config: PipelineConfig, *, store, verbose: bool = False, out: TextIO = sys.stdout,
        trigger: str = records.MANUAL, trigger_detail: str = "", spans: Optional[List[int]] = None,
        started: Optional[float] = None, data_check=None, partial=None) -> RunResult:
    """Run what is pending (see the module doc) in `store`, whose run lock the caller holds;
    `spans` overrides which spans to ingest, in order. `data_check` is the pre-flight check's
    result (pipeline/preflight.py), printed and summarized. `partial` (a pipeline.partial_run.Plan)
    makes it one partial run, on the newest span, recorded with the plan's trigger.

    `started` (time.monotonic() when the process began) adds the import time to the first line.
    Beam's job service and workers (--beam-mode portable) are started once for all the runs.
    """
    from pipeline import span_plan
    from pipeline.config import ConfigError
    from pipeline.portable import BeamServiceError, beam_services

    absl_logger = quiet_logs(verbose)
    _import_tfx()
    dataset = config.dataset
    if partial is not None:
        spans, trigger, trigger_detail = [], partial.trigger, partial.detail
    plan = span_plan.pending_spans(config, store) if spans is None else list(spans)
    span_text = ""
    if dataset.spans:
        window = f"newest {dataset.span_window}" if dataset.span_window else "every span"
        span_text = f" (spans {span_plan.span_list(dataset.spans)}; window {window})"
    imports = f" (imports took {time.monotonic() - started:.1f} s)" if started is not None else ""
    print(f"Pipeline {config.pipeline_name}: dataset {dataset.folder}{span_text}, "
          f"schema {config.schema_mode}, Beam {' '.join(config.beam_pipeline_args())}, "
          f"cache {'on' if config.enable_cache else 'off'}{', warm start' if config.warm_starts else ''}{imports}",
          file=out, flush=True)
    if data_check is not None:
        print("\n".join(data_check.lines(config)), file=out, flush=True)
    if partial is not None:
        print("\n".join(partial.lines()), file=out, flush=True)
    result = RunResult(exit_codes.OK)
    # Every pending span but the last is only ingested; with nothing pending, the newest span's run again.
    steps = [(s, i < len(plan) - 1) for i, s in enumerate(plan)] or [((dataset.spans or (0,))[-1], False)]
    try:
        with beam_services(config.beam_pipeline_args(), verbose, out) as beam_args:
            _run_steps(config, store, absl_logger, verbose, out, steps, plan, beam_args, data_check,
                       trigger, trigger_detail, result, partial)
    except ConfigError as e:  # the Beam services' environment, a job endpoint that does not answer
        print(f"error: {e}", file=sys.stderr)
        result.exit_code = exit_codes.BAD_INPUT
    except BeamServiceError as e:
        print(f"error: {e}", file=sys.stderr)
        result.exit_code = exit_codes.FAILED
    return result


def _run_steps(config, store, absl_logger, verbose, out, steps, plan, beam_args, data_check,
               trigger, trigger_detail, result: RunResult, partial=None) -> None:
    dataset = config.dataset
    for span, ingest_only in steps:
        if dataset.spans:
            doing = "ingest and validate" if ingest_only else "ingest, validate and train on the window"
            what = f"Span {span}: {doing}" if span in plan else \
                f"No new span: train on the window again (span {span} ingested earlier)"
            print(what, file=out, flush=True)
        code, run_id, summary = _run_once(dataclasses.replace(config, ingest_span=span), store, absl_logger,
                                          verbose, out, ingest_only, beam_args, data_check, partial)
        if run_id:
            result.run_ids.append(run_id)
            records.record_trigger(store, run_id, trigger, trigger_detail,
                                   records.INGEST_STAGE if ingest_only else "")
        if summary is not None and summary.push is not None and summary.push.pushed:
            result.pushed_version = summary.push.version
        if span in plan and code not in (exit_codes.FAILED, exit_codes.BAD_INPUT):
            result.ingested.append(span)
        result.exit_code = code
        if code in (exit_codes.FAILED, exit_codes.INTERRUPTED):
            break


def _import_tfx() -> None:
    """TFX and the pipeline, imported before the first line, which reports how long imports took."""
    import tfx.orchestration.local.local_dag_runner  # noqa: F401

    import pipeline.pipeline  # noqa: F401


def _run_once(config: PipelineConfig, store, absl_logger, verbose: bool, out: TextIO, ingest_only: bool,
              beam_args: List[str], data_check, partial=None):
    """One LocalDagRunner run, recorded in ML Metadata as finished, failed or interrupted
    (pipeline/run_record.py): (exit code, run id or None, summary or None)."""
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.pipeline import PUSHER_ID, create_pipeline
    from pipeline.progress import ProgressHandler, RunProgress
    from pipeline.run_record import recorded_run
    from pipeline.summary import summarize
    from runs import metadata

    run_started = time.monotonic()
    before = metadata.max_execution_id(store)
    progress = RunProgress(store=store, pipeline_name=config.pipeline_name, after_execution_id=before, out=out,
                           reused_nodes=frozenset(partial.selection.reuse if partial else ()))
    handler = ProgressHandler(progress)
    absl_logger.addHandler(handler)
    try:
        pipeline = create_pipeline(config, config.metadata.connection_config(), ingest_only=ingest_only,
                                   beam_pipeline_args=beam_args)
        with recorded_run(pipeline, store, config.beam_pipeline_args()) as (ir, run_id):
            LocalDagRunner().run_with_ir(ir, run_options=partial.run_options() if partial else None)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (local_runner.main turns it into the same)
        component = progress.stopped_component("INTERRUPTED")
        where = f" while {component} was running" if component else ""
        print(f"interrupted{where}: the run is recorded as interrupted; run again to finish it "
              "(what completed is reused from the cache)", file=sys.stderr)
        return exit_codes.INTERRUPTED, metadata.newest_run_after(store, before), None
    except Exception as e:  # a component failed: one clear message, full trace only if asked
        component = progress.stopped_component() or "the pipeline"
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        print(f"error: {component} failed: {type(e).__name__}: {reason}", file=sys.stderr)
        if verbose:
            traceback.print_exc()
        else:
            print("       (run with --verbose for the full log and traceback)", file=sys.stderr)
        return exit_codes.FAILED, metadata.newest_run_after(store, before), None
    finally:
        absl_logger.removeHandler(handler)
    pushes = partial is None or PUSHER_ID in partial.selection.to_run
    summary = summarize(config, progress, time.monotonic() - run_started, data_check, ingest_only=ingest_only,
                        pushes=pushes)
    summary.run_id = summary.run_id or run_id
    print("\n".join(summary.lines()), file=out, flush=True)
    if not ingest_only:
        _write_reports(config, summary.run_id, store, out)
    return summary.exit_code, summary.run_id, summary


def _write_reports(config: PipelineConfig, run_id, store, out) -> None:
    """The static HTML report of this run and the history page; a report problem never fails the run."""
    from runs.report_html import write_run_report
    from runs.report_history import write_history_report

    try:
        print(f"Report: {write_run_report(store, config.layout, run_id=run_id)} "
              f"(history: {write_history_report(store, config.layout, config.pipeline_name)})", file=out, flush=True)
    except (LookupError, OSError, ValueError) as e:
        print(f"Report: not written ({e})", file=out, flush=True)
