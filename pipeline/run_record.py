"""A local run's own record in ML Metadata: which process runs it, then how it ended.

TFX records each component's execution but nothing about the run as a whole, so a run killed
between two components looks exactly like one whose later components the anomaly gate skipped.
Here the runner picks the run id itself, registers the run's contexts before the first component
starts (with TFX's own function, as its launcher would), marks the run context with this machine
and process (and the Beam runner and options), and marks the outcome when the run ends. `runs.metadata.run_status` reads the marks:
a run whose process died unmarked was interrupted.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
from typing import Iterator, List, Tuple

from tfx.dsl.compiler import constants
from tfx.orchestration import metadata as tfx_metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.portable import runtime_parameter_utils, tfx_runner
from tfx.orchestration.portable.mlmd import context_lib
from tfx.proto.orchestration import pipeline_pb2

from runs import metadata


def compile_run(pipeline: tfx_pipeline.Pipeline) -> Tuple[pipeline_pb2.Pipeline, str]:
    """The pipeline IR with its run id chosen, as LocalDagRunner.run would compile and name it."""
    ir = tfx_runner._make_pipeline_proto(pipeline)  # noqa: SLF001 - exactly LocalDagRunner.run's compile step
    run_id = datetime.datetime.now().isoformat()
    runtime_parameter_utils.substitute_runtime_parameter(ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    return ir, run_id


def register_run(pipeline: tfx_pipeline.Pipeline, ir: pipeline_pb2.Pipeline, run_id: str, store,
                 beam_args: List[str]) -> None:
    """Creates the run's contexts as the first component's launcher would, marked with this process and
    the Beam runner and options its Beam components use."""
    with tfx_metadata.Metadata(pipeline.metadata_connection_config) as handle:
        context_lib.prepare_contexts(handle, ir.nodes[0].pipeline_node.contexts)
    metadata.mark_run(store, run_id, **{metadata.RUNNER_HOST: socket.gethostname(),
                                        metadata.RUNNER_PID: os.getpid(),
                                        metadata.RUN_BEAM_ARGS: json.dumps(beam_args)})


@contextlib.contextmanager
def recorded_run(pipeline: tfx_pipeline.Pipeline, store, beam_args: List[str]
                 ) -> Iterator[Tuple[pipeline_pb2.Pipeline, str]]:
    """Yields (IR to run, run id); the run is marked finished, failed or interrupted on the way out."""
    ir, run_id = compile_run(pipeline)
    register_run(pipeline, ir, run_id, store, beam_args)
    outcome = metadata.INTERRUPTED
    try:
        yield ir, run_id
        outcome = metadata.FINISHED
    except Exception:
        outcome = metadata.FAILED
        raise
    finally:  # KeyboardInterrupt and SystemExit (SIGINT, SIGTERM) leave INTERRUPTED
        # Never hide the run's own error behind a bookkeeping one: unmarked, it reads as interrupted.
        with contextlib.suppress(Exception):
            metadata.mark_run(store, run_id, **{metadata.RUN_OUTCOME: outcome})
