"""A local, TF Serving compatible model server: `python -m serving.server`.

Takes TF Serving's own flags (`--model_name` and `--model_base_path`, or
`--model_config_file` for several models, version policies and labels; `--port` for
gRPC, `--rest_api_port`, `--file_system_poll_wait_seconds`) plus this project's
flags for the request log and limits, so a command line moves between this server
and `tensorflow_model_server` unchanged. Differences: it binds 127.0.0.1 unless told
otherwise (`--host`), and a port of 0 means "pick a free port" (printed at start).
"""
from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
import time
from typing import List, Optional

from runs import exit_codes
from runs.layout import OutputLayout
from serving.server.batching import Batcher, BatchingParameters
from serving.server.core import ServingCore
from serving.server.grpc_api import GrpcServer
from serving.server.metrics import ServingMetrics
from serving.server.model_config import ConfigError, ModelServerConfig, single_model
from serving.server.model_config import read as read_model_config
from serving.server.registry import ModelRegistry
from serving.server.request_log import RequestLog
from serving.server.rest import RestServer
from serving.server.versions import ModelVersions

log = logging.getLogger("serving.server")

DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024
DEFAULT_GRACE_SECONDS = 10.0


class ModelServer:
    """REST + gRPC over watched model base paths; a context manager that always stops.

    Serves one model (`model_name`, `model_base_path`) or the models of a config
    (`model_config`), whose file is re-read every `config_poll_seconds` when given."""

    def __init__(self, model_name: Optional[str] = None, model_base_path: Optional[str] = None, *,
                 model_config: Optional[ModelServerConfig] = None, model_config_file: Optional[str] = None,
                 config_poll_seconds: float = 0.0, host: str = "127.0.0.1",
                 grpc_port: int = 8500, rest_port: int = 8501, poll_seconds: float = 1.0,
                 request_log_dir: Optional[str] = None, request_log_sample_rate: float = 1.0,
                 request_log_max_bytes: int = 64 * 1024 * 1024, request_log_backups: int = 5,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 batching: Optional[BatchingParameters] = None, rest_timeout_seconds: float = 30.0):
        if model_config is None:
            model_config = (read_model_config(model_config_file) if model_config_file
                            else single_model(model_name, model_base_path))
        self.metrics = ServingMetrics()
        self.registry = ModelRegistry(model_config, poll_seconds, on_load=self.metrics.observe_load)
        self._model_config_file, self._config_poll_seconds = model_config_file, config_poll_seconds
        self.request_log = RequestLog(
            request_log_dir, sample_rate=request_log_sample_rate, max_bytes=request_log_max_bytes,
            backups=request_log_backups,
            on_drop=self.metrics.log_dropped.labels(model_config.models[0].name).inc) if request_log_dir else None
        self.batcher = Batcher(batching, on_batch=self.metrics.observe_queuing) if batching else None
        self.core = ServingCore(self.registry, self.metrics, self.request_log, self.batcher)
        self.host = host
        self._grpc_port, self._rest_port = grpc_port, rest_port
        self._max_request_bytes = max_request_bytes
        self._rest_timeout_seconds = rest_timeout_seconds
        self.grpc: Optional[GrpcServer] = None
        self.rest: Optional[RestServer] = None

    @property
    def models(self) -> ModelVersions:
        """The versions of the first configured model (the only one with --model_name)."""
        return self.registry[self.registry.config.models[0].name]

    @property
    def rest_port(self) -> int:
        return self.rest.port

    @property
    def grpc_port(self) -> int:
        return self.grpc.port

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    def start(self, wait_for_model_seconds: Optional[float] = 60.0) -> "ModelServer":
        """Loads the model, then opens both ports; raises if nothing loads in time."""
        try:
            self.registry.start(wait_for_model_seconds)
            if self._model_config_file and self._config_poll_seconds > 0:
                self.registry.watch_config(self._model_config_file, self._config_poll_seconds)
            self.grpc = GrpcServer(self.core, self.host, self._grpc_port, self._max_request_bytes)
            self.rest = RestServer(self.core, self.host, self._rest_port, self._max_request_bytes,
                                   self._rest_timeout_seconds)
            self.grpc.start()
            self.rest.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> int:
        """Stops accepting at once, lets requests in flight finish within the grace period,
        then writes out the request log. Returns how many connections had to be cut."""
        deadline = time.monotonic() + grace_seconds
        grpc_done = self.grpc.stop(grace_seconds) if self.grpc is not None else None
        cut = 0
        if self.rest is not None:
            self.rest.stop_accepting()
            cut = self.rest.drain(deadline)
        if grpc_done is not None:
            grpc_done.wait(max(0.0, deadline - time.monotonic()) + 1.0)
        if self.batcher is not None:
            self.batcher.stop()
        self.core.close()
        self.registry.stop()
        if self.request_log is not None:
            self.request_log.flush()
            self.request_log.close()
            self.request_log = None
        return cut

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    """TF Serving's own snake_case flags, exactly (its contract); the project's additions match them."""
    p = argparse.ArgumentParser(prog="python -m serving.server", description=__doc__.split("\n\n")[0])
    p.add_argument("--model_name", help="name clients use in /v1/models/<name> and ModelSpec")
    p.add_argument("--model_base_path", help="directory holding <integer version>/saved_model.pb")
    p.add_argument("--model_config_file", default=None,
                   help="TF Serving's text ModelServerConfig: several models, model_version_policy, "
                        "version_labels (instead of --model_name/--model_base_path)")
    p.add_argument("--model_config_file_poll_wait_seconds", type=float, default=0.0,
                   help="re-read --model_config_file this often and apply it when it changed (0: never)")
    p.add_argument("--port", type=int, default=8500, help="gRPC port (0 = any free port)")
    p.add_argument("--rest_api_port", type=int, default=8501, help="REST port (0 = any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                   help="how often to look for new versions")
    p.add_argument("--request_log_dir", default=None,
                   help="where to write requests.jsonl (default: <output>/request_log/<model> when the base "
                        "path is <output>/serving_model/<model>; 'none' disables logging)")
    p.add_argument("--request_log_sample_rate", type=float, default=1.0, help="fraction of requests logged")
    p.add_argument("--request_log_max_bytes", type=int, default=64 * 1024 * 1024,
                   help="rotate requests.jsonl past this size")
    p.add_argument("--request_log_backups", type=int, default=5, help="rotated files kept")
    p.add_argument("--max_request_bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES,
                   help="larger REST bodies get 413, larger gRPC messages RESOURCE_EXHAUSTED")
    p.add_argument("--wait_for_model_seconds", type=float, default=300.0,
                   help="give up at start if no version loads within this time")
    p.add_argument("--rest_api_timeout_in_ms", type=int, default=30000,
                   help="REST: a connection idle this long, or a request taking longer than this to arrive, is closed")
    p.add_argument("--enable_batching", action="store_true",
                   help="run concurrent requests together in one TensorFlow call (TF Serving's flag)")
    p.add_argument("--batching_parameters_file", default=None,
                   help="TF Serving's text BatchingParameters (max_batch_size, batch_timeout_micros, "
                        "max_enqueued_batches, num_batch_threads, allowed_batch_sizes); TF Serving's defaults otherwise")
    p.add_argument("--grace_period_seconds", type=float, default=DEFAULT_GRACE_SECONDS,
                   help="on SIGTERM/SIGINT, how long requests in flight may take to finish")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        model_config = _model_config(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    first = model_config.models[0]
    log_dir = args.request_log_dir
    if log_dir is None:
        layout = OutputLayout.of_model_base_path(first.base_path)
        log_dir = layout.request_log_dir(first.name) if layout else None
    elif log_dir.lower() == "none":
        log_dir = None
    if args.rest_api_timeout_in_ms <= 0:
        print(f"error: --rest_api_timeout_in_ms must be > 0, got {args.rest_api_timeout_in_ms}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    if args.grace_period_seconds < 0:
        print(f"error: --grace_period_seconds must be >= 0, got {args.grace_period_seconds:g}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    try:
        batching = None
        if args.enable_batching:
            batching = (BatchingParameters.from_file(args.batching_parameters_file)
                        if args.batching_parameters_file else BatchingParameters())
        elif args.batching_parameters_file:
            raise ValueError("--batching_parameters_file needs --enable_batching (as in TF Serving)")
        server = ModelServer(
            model_config=model_config, model_config_file=args.model_config_file,
            config_poll_seconds=args.model_config_file_poll_wait_seconds, host=args.host, grpc_port=args.port,
            rest_port=args.rest_api_port, poll_seconds=args.file_system_poll_wait_seconds,
            request_log_dir=log_dir, request_log_sample_rate=args.request_log_sample_rate,
            request_log_max_bytes=args.request_log_max_bytes, request_log_backups=args.request_log_backups,
            max_request_bytes=args.max_request_bytes, batching=batching,
            rest_timeout_seconds=args.rest_api_timeout_in_ms / 1000)
        server.start(wait_for_model_seconds=args.wait_for_model_seconds)
        gc.freeze()  # TensorFlow's millions of start-up objects leave the collector's scans: no long pauses under load
    except (OSError, RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    received: List[int] = []
    stopping = threading.Event()

    def on_signal(signum, _frame) -> None:
        received.append(signum)
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    served = ", ".join(f"'{name}' version {'/'.join(map(str, server.registry[name].serving_versions))}"
                       for name in server.registry.names)
    print(f"Serving model {served}: "
          f"REST {server.rest_url}, gRPC {server.grpc_target}; "
          f"request log: {log_dir or 'off'}; batching: {_describe(batching)}", flush=True)
    stopping.wait()
    log.info("Stopping on %s: no new connections; finishing requests in flight (grace period %g s)",
             signal.Signals(received[0]).name, args.grace_period_seconds)
    cut = server.stop(args.grace_period_seconds)
    if cut:
        log.warning("Stopped: %d connection(s) still busy after the grace period were closed", cut)
    else:
        log.info("Stopped: every request in flight was answered; request log written")
    return exit_codes.OK


def _model_config(args: argparse.Namespace) -> ModelServerConfig:
    """The models to serve, from --model_config_file or --model_name/--model_base_path."""
    if args.model_config_file:
        if args.model_name or args.model_base_path:
            raise ConfigError("give either --model_config_file or --model_name/--model_base_path, not both")
        return read_model_config(args.model_config_file)
    if not (args.model_name and args.model_base_path):
        raise ConfigError("give --model_name and --model_base_path, or --model_config_file")
    if args.model_config_file_poll_wait_seconds:
        raise ConfigError("--model_config_file_poll_wait_seconds needs --model_config_file")
    return single_model(args.model_name, args.model_base_path)


def _describe(batching: Optional[BatchingParameters]) -> str:
    if batching is None:
        return "off"
    return (f"max_batch_size {batching.max_batch_size}, batch_timeout_micros {batching.batch_timeout_micros}, "
            f"{batching.num_batch_threads} threads")
