"""Beam's portable runner here: a job service and an SDK worker pool, started for one run.

`--beam-mode portable` runs the Beam components the way a Flink or Spark cluster runs them: each
Beam job is submitted to a job service (`PortableRunner`), which hands its work to separate SDK
worker processes (an EXTERNAL environment, served by a worker pool). Both services are started
here on free loopback ports with this interpreter, and always stopped: when the run ends, fails
or is interrupted, and when the runner itself dies (each service exits once orphaned). With
`--beam-arg=--job_endpoint=HOST:PORT` an existing job service is used and nothing is started.

Two traps, handled: the pool starts every worker as plain `python` from its PATH, so this venv's
`bin` goes first (else workers die on `No module named 'apache_beam'` and the job waits for them
forever); and EXTERNAL workers install nothing that was staged, so the libraries and the project
must import where they run, which is checked, in seconds, before any job is submitted.

`python -m pipeline.portable {job-service,worker-pool} PORT_FILE PARENT_PID` is one service.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence

from pipeline.config import REPO_ROOT, ConfigError, beam_arg
from runs import exit_codes

SERVICES = ("job-service", "worker-pool")
# What the SDK workers run: Beam's worker, the TFX libraries whose Beam code they execute, and the
# project (whose code a Beam step may carry). Found, not imported, except Beam's worker itself.
WORKER_MODULE = "apache_beam.runners.worker.sdk_worker"
WORKER_PACKAGES = ("tfx", "tfx_bsl", "tensorflow_data_validation", "tensorflow_transform",
                   "tensorflow_model_analysis", "models")
_WORKER_CHECK = (
    "import importlib.util, sys\n"
    f"import {WORKER_MODULE}\n"
    "missing = [p for p in sys.argv[1:] if importlib.util.find_spec(p) is None]\n"
    "sys.exit(f\"No module named {', '.join(repr(p) for p in missing)}\" if missing else 0)\n")
# The endpoints change every run (free ports), and Beam arguments are part of TFX's cache key: so the
# arguments hold placeholders that TFX resolves from these variables when a component executes,
# and a re-run still reuses what is cached.
JOB_ENDPOINT_VARIABLE = "PIPELINE_BEAM_JOB_ENDPOINT"
WORKER_POOL_VARIABLE = "PIPELINE_BEAM_WORKER_POOL"
CHECK_TIMEOUT_S = 120
# Importing Beam makes a service slow to start on a loaded machine: this leaves room for several
# times the slowest start seen (docs/performance.md, "Portable runner start-up").
START_TIMEOUT_S = 300
STOP_TIMEOUT_S = 10
REACH_TIMEOUT_S = 10


class BeamServiceError(RuntimeError):
    """A local Beam service did not start; the message says which and why, in one line."""


@dataclass
class _Service:
    name: str
    process: subprocess.Popen
    port_file: str
    log_path: str


def needs_local_services(beam_args: Sequence[str]) -> bool:
    """The portable runner without a job service to submit to: start one here."""
    return beam_arg(beam_args, "--runner") == "PortableRunner" and not beam_arg(beam_args, "--job_endpoint")


def worker_environment() -> dict:
    """This process's environment with this interpreter's `bin` first on PATH and the project importable."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    return env


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def check_worker_environment(env: dict, cwd: str) -> None:
    """The `python` the pool will start must import Beam's worker and find the libraries and the project."""
    python = shutil.which("python", path=env.get("PATH"))
    if python is None:
        raise ConfigError(f"Beam's worker pool starts SDK workers as `python` from PATH, and there is none on "
                          f"{env.get('PATH')!r}")
    try:
        result = subprocess.run([python, "-c", _WORKER_CHECK, *WORKER_PACKAGES], env=env, cwd=cwd,
                                capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"Beam's SDK workers would not start: {python} took over {CHECK_TIMEOUT_S} s to "
                          f"import {WORKER_MODULE}") from None
    if result.returncode != 0:
        raise ConfigError(f"Beam's SDK workers cannot run this pipeline: {python} (the `python` on their PATH) "
                          f"fails with: {_last_line(result.stderr)}")


def check_reachable(endpoint: str) -> None:
    """A job service given with --job_endpoint answers on its port (Beam itself would wait for it)."""
    host, _, port = endpoint.rpartition(":")
    if not port.isdigit():
        return  # a form Beam resolves itself (e.g. dns:///...): let it
    try:
        socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as e:
        raise ConfigError(f"cannot reach the Beam job service at {endpoint} (--job_endpoint): {e}") from None


def _start(name: str, env: dict, workdir: str, verbose: bool) -> _Service:
    port_file = os.path.join(workdir, f"{name}.port")
    log_path = os.path.join(workdir, f"{name}.log")
    with open(log_path, "wb") as log:
        # Its own session: stopping the service's process group also stops the workers it started.
        process = subprocess.Popen([sys.executable, "-m", __name__, name, port_file, str(os.getpid())],
                                   env=env, cwd=workdir, start_new_session=True, stdin=subprocess.DEVNULL,
                                   stdout=None if verbose else log, stderr=None if verbose else subprocess.STDOUT)
    return _Service(name, process, port_file, log_path)


def _wait_for_port(service: _Service, deadline: float) -> int:
    while not os.path.exists(service.port_file):
        if service.process.poll() is not None:
            with open(service.log_path, errors="replace") as f:
                reason = _last_line(f.read())
            raise BeamServiceError(f"the Beam {service.name} exited at start (code {service.process.returncode}): "
                                   f"{reason}")
        if time.monotonic() > deadline:
            raise BeamServiceError(f"the Beam {service.name} did not start within {START_TIMEOUT_S} s")
        time.sleep(0.2)
    with open(service.port_file) as f:
        return int(f.read())


def _stop(service: _Service) -> None:
    """SIGTERM to the service's process group, SIGKILL to whatever is left after a grace period."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, sig)
        if wait is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=wait)
    service.process.wait()


@contextlib.contextmanager
def beam_services(beam_args: List[str], verbose: bool = False, out=sys.stdout) -> Iterator[list]:
    """The Beam arguments to run with. For the portable runner without a job endpoint: a job service
    and a worker pool run here until the block ends, and their endpoints come first in the arguments
    (the user's own still win). With a job endpoint: it must answer. Otherwise: unchanged."""
    endpoint = beam_arg(beam_args, "--job_endpoint")
    if endpoint:
        check_reachable(endpoint)
    if not needs_local_services(beam_args):
        yield beam_args
        return
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="beam-portable-") as workdir:
        env = worker_environment()
        check_worker_environment(env, workdir)
        services: List[_Service] = []
        try:
            services = [_start(name, env, workdir, verbose) for name in SERVICES]
            deadline = time.monotonic() + START_TIMEOUT_S
            job_port, pool_port = (_wait_for_port(s, deadline) for s in services)
            print(f"Beam job service on localhost:{job_port}, SDK worker pool on localhost:{pool_port} "
                  f"(started in {time.monotonic() - started:.1f} s)", file=out, flush=True)
            with _endpoints_in_environment(f"localhost:{job_port}", f"localhost:{pool_port}"):
                yield with_endpoint_placeholders(beam_args)
        finally:
            for service in services:
                _stop(service)


def with_endpoint_placeholders(beam_args: List[str]) -> list:
    """The endpoints first, as placeholders TFX resolves when a component executes (the user's own
    arguments, after them, still win)."""
    from tfx.dsl.placeholder.runtime_placeholders import environment_variable

    return ["--job_endpoint=" + environment_variable(JOB_ENDPOINT_VARIABLE),
            "--environment_config=" + environment_variable(WORKER_POOL_VARIABLE), *beam_args]


@contextlib.contextmanager
def _endpoints_in_environment(job_endpoint: str, worker_pool: str) -> Iterator[None]:
    """The endpoints, for this run only, where the arguments' placeholders read them."""
    saved = {name: os.environ.get(name) for name in (JOB_ENDPOINT_VARIABLE, WORKER_POOL_VARIABLE)}
    os.environ[JOB_ENDPOINT_VARIABLE], os.environ[WORKER_POOL_VARIABLE] = job_endpoint, worker_pool
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ---- the service processes ----------------------------------------------------------------------

def _job_service():
    from apache_beam.runners.portability import local_job_service

    servicer = local_job_service.LocalJobServicer()
    return servicer.start_grpc_server(0), servicer.stop


def _worker_pool():
    """Beam's worker pool (workers as processes), listening on loopback only (Beam's own binds every
    interface)."""
    import grpc
    from apache_beam.portability.api import beam_fn_api_pb2_grpc
    from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
    from apache_beam.utils import thread_pool_executor

    server = grpc.server(thread_pool_executor.shared_unbounded_instance(),
                         options=[("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)])
    port = server.add_insecure_port("localhost:0")
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
        BeamFnExternalWorkerPoolServicer(use_process=True, state_cache_size=0, data_buffer_time_limit_ms=-1),
        server)
    server.start()
    return port, lambda: server.stop(0)


def _exit_when_orphaned(parent: int, workdir: str) -> None:
    """The runner died without stopping the service (SIGKILL): stop, and clear what it cannot."""
    while os.getppid() == parent:
        time.sleep(1)
    shutil.rmtree(workdir, ignore_errors=True)
    os.kill(os.getpid(), signal.SIGTERM)


def serve(name: str, port_file: str, parent: int) -> None:
    """Runs one service until SIGTERM or until its parent (the runner) is gone."""
    logging.basicConfig(level=logging.INFO)  # into the service's log file (the terminal with --verbose)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=_exit_when_orphaned, args=(parent, os.path.dirname(port_file)), daemon=True).start()
    port, stop = (_job_service if name == "job-service" else _worker_pool)()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(port_file + ".tmp", port_file)  # the runner never reads half a number
    try:
        while True:
            time.sleep(3600)
    finally:
        stop()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.killpg(os.getpgrp(), signal.SIGTERM)  # the SDK workers this service started
        _reap_children(STOP_TIMEOUT_S / 2)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # without waiting for Beam's job threads


def _reap_children(seconds: float) -> None:
    """Waits for the SDK workers (Beam's pool never does), so none is left a zombie and their CPU
    time counts in this process tree's (what the benchmark measures)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3 or args[0] not in SERVICES or not args[2].isdigit():
        print(f"usage: python -m {__name__} {{{','.join(SERVICES)}}} PORT_FILE PARENT_PID", file=sys.stderr)
        return exit_codes.BAD_INPUT
    serve(args[0], args[1], int(args[2]))
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
