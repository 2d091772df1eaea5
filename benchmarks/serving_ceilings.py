"""Where serving throughput stops on this machine, and why: the ceilings under issue 12's load targets.

One run, one model, batching on, 64 keep-alive connections (wrk for REST, h2load for gRPC):
  - the real server answering :predict and Predict;
  - the same server with the model call replaced by an instant answer of the right shape:
    what the request path costs without TensorFlow;
  - the same server answering a route that does nothing (a 404): the HTTP layer alone;
  - grpcio answering Predict with a fixed response from a server built like ours (16 threads):
    gRPC's own ceiling in Python, before any work is done;
each with the CPU a request costs (server process tree, including the request-log writer, and
the load generator, read from /proc), then the CPU budget that "3x the serial in-process call
rate" leaves on this machine's cores.
Usage, from the repository root (needs `apt-get install wrk nghttp2-client` and `make run` first):
  python -m benchmarks.serving_ceilings --output-dir outputs [--seconds 10]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import numpy as np

from runs import exit_codes
from runs.cli import add_model_name, add_output_dir
from runs.layout import DEFAULT_OUTPUT_DIR, LayoutError, OutputLayout

CONNECTIONS = 64


@dataclass
class Ceiling:
    name: str
    requests_per_second: float
    p99_ms: float
    errors: int
    server_us: float  # CPU of the server's process tree per answered request
    busiest_us: float  # CPU of its busiest thread per answered request (for REST, the event loop)
    client_us: float  # CPU of the load generator per answered request


def clock_ticks(stat_line: str) -> int:
    """utime + stime, in clock ticks, of one /proc/<pid>/task/<tid>/stat line (the command name
    may hold spaces and parentheses, so fields are counted from the last ')')."""
    fields = stat_line[stat_line.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def thread_ticks(pid: int) -> Dict[Tuple[int, int], int]:
    """CPU clock ticks used so far by each thread of a process and of its child processes (one
    level: the request-log writer), keyed by (pid, tid)."""
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(child) for child in f.read().split()]
    except OSError:
        pass
    ticks = {}
    for p in pids:
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{p}/task/{task}/stat") as f:
                    ticks[(p, int(task))] = clock_ticks(f.read())
            except OSError:  # a thread that ended meanwhile
                pass
    return ticks


def measure(name: str, server_pid: int, load: Callable[[], object], seconds: float) -> Ceiling:
    """Runs `load` (a `seconds`-long wrk or h2load run returning a LoadRun) and charges the CPU
    it caused: the server's, its busiest thread's, and the load generator's (this process's
    waited-for children)."""
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = thread_ticks(server_pid)
    run = load()
    after = thread_ticks(server_pid)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = ((children_after.ru_utime + children_after.ru_stime)
                  - (children_before.ru_utime + children_before.ru_stime))
    used = [ticks - before.get(key, 0) for key, ticks in after.items()]
    tick = 1.0 / os.sysconf("SC_CLK_TCK")
    answered = max(1.0, run.requests_per_second * seconds)
    per_request = tick / answered * 1e6
    return Ceiling(name, run.requests_per_second, run.p99_ms, run.errors, sum(used) * per_request,
                   max(used, default=0) * per_request, client_cpu / answered * 1e6)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def sample_example(base_path: str) -> Tuple[str, bytes]:
    """The newest pushed version's directory, and one serialized tf.Example made from its schema."""
    from serving.contract import schema_path
    from serving.raw_features import RawFeatures
    from serving.server.versions import list_versions

    version_dir = os.path.join(base_path, str(list_versions(base_path)[0]))
    features = RawFeatures.from_file(schema_path(version_dir))
    return version_dir, features.to_example(features.sample_row()).SerializeToString()


def serve_until_sigterm(banner: str, stop_serving: Callable[[], object]) -> int:
    """A child server's last steps: say where it listens (as `python -m serving.server` does, for
    `start_process`), wait for SIGTERM, stop."""
    import threading

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    print(banner, flush=True)
    stopping.wait()
    stop_serving()
    return exit_codes.OK


def serve_instant(base_path: str, model_name: str, log_dir: str) -> int:
    """Child process: the real server, batching on, whose model call answers at once with the
    outputs of one real call repeated to the batch's size."""
    import gc

    from serving.server.batching import BatchingParameters
    from serving.server.model_server import ModelServer
    from serving.server.servable import Servable

    real_call = Servable.call
    answers: Dict[tuple, dict] = {}

    def instant(self, name, tensors):
        rows = len(next(iter(tensors.values())))
        key = (self.path, name)
        if key not in answers:
            one = {k: v[:1] for k, v in tensors.items()}
            answers[key] = {k: np.asarray(v) for k, v in real_call(self, name, one).items()}
        return {k: np.repeat(v, rows, axis=0) for k, v in answers[key].items()}

    Servable.call = instant
    server = ModelServer(model_name, base_path, grpc_port=0, rest_port=0, request_log_dir=log_dir,
                         batching=BatchingParameters()).start()
    gc.freeze()  # as `python -m serving.server` does after start-up
    return serve_until_sigterm(f"instant model: REST {server.rest_url}, gRPC {server.grpc_target}",
                               lambda: server.stop(5.0))


def serve_grpc_canned(base_path: str, model_name: str) -> int:
    """Child process: grpcio's sync server with 16 threads (as serving/server/grpc_api.py builds
    it) whose Predict sends the request id and returns one fixed, real PredictResponse."""
    from concurrent import futures

    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving.contract import REQUEST_ID_HEADER, SERVING_SIGNATURE

    version_dir, example = sample_example(base_path)
    outputs = tf.saved_model.load(version_dir).signatures[SERVING_SIGNATURE](examples=tf.constant([example]))
    response = predict_pb2.PredictResponse()
    response.model_spec.name = model_name
    for key, value in outputs.items():
        response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))

    class Canned(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 - generated API name
            context.send_initial_metadata(((REQUEST_ID_HEADER, "fixed"),))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Canned(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return serve_until_sigterm(f"canned gRPC: REST http://127.0.0.1:0, gRPC 127.0.0.1:{port}",
                               lambda: server.stop(1.0))


def serial_call_rate(base_path: str, calls: int = 500) -> float:
    """Serial single-row calls/s of the serving signature in this process (from the p50), as
    benchmarks.serving_speed measures the floor."""
    import tensorflow as tf

    from benchmarks.serving_speed import timed
    from serving.contract import SERVING_SIGNATURE

    version_dir, example = sample_example(base_path)
    one = tf.constant([example])
    signature = tf.saved_model.load(version_dir).signatures[SERVING_SIGNATURE]
    return 1000.0 / float(np.percentile(timed(lambda: signature(examples=one), calls), 50))


def budget_lines(serial: float, cores: int, measured: Ceiling) -> List[str]:
    """What 3x the serial call rate leaves per request, against what a request costs now: in all
    (CPU on every core) and on the busiest thread (which cannot use more than one core)."""
    need = 3 * serial
    spent = measured.server_us + measured.client_us
    return [
        f"3x the serial call rate = {need:,.0f} req/s, which leaves {cores / need * 1e6:.0f} us of CPU per request "
        f"on {cores} cores: {measured.name} spends {measured.server_us:.0f} us in the server "
        f"+ {measured.client_us:.0f} us in the load generator = {spent:.0f} us (all cores busy at "
        f"{cores / spent * 1e6:,.0f} req/s)",
        f"and {1e6 / need:.0f} us per request on any one thread: its busiest thread spends "
        f"{measured.busiest_us:.0f} us (that thread alone, at 100% of a core, stops at "
        f"{1e6 / max(measured.busiest_us, 1e-9):,.0f} req/s)",
    ]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.serving_ceilings", description=__doc__.split("\n\n")[0])
    add_output_dir(p, default=DEFAULT_OUTPUT_DIR)
    add_model_name(p)
    p.add_argument("--seconds", type=float, default=10.0, help="length of each load run")
    p.add_argument("--child", choices=["instant", "grpc-canned"], help=argparse.SUPPRESS)
    p.add_argument("--log-dir", help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        base_path, model_name = OutputLayout(args.output_dir).served_model(args.model_name)
    except LayoutError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    if args.child == "instant":
        return serve_instant(base_path, model_name, args.log_dir)
    if args.child == "grpc-canned":
        return serve_grpc_canned(base_path, model_name)
    missing = [tool for tool in ("wrk", "h2load") if not shutil.which(tool)]
    if missing:
        print(f"error: {', '.join(missing)} not installed; run `apt-get install wrk nghttp2-client`", file=sys.stderr)
        return exit_codes.BAD_INPUT
    if args.seconds <= 0:
        print(f"error: --seconds must be > 0, got {args.seconds:g}", file=sys.stderr)
        return exit_codes.BAD_INPUT

    import base64
    import json

    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from benchmarks.serving_load import h2load_grpc, wrk_rest
    from benchmarks.serving_speed import start_process, start_server

    _, example = sample_example(base_path)
    body = json.dumps({"instances": [{"b64": base64.b64encode(example).decode()}]}).encode()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto([example], dtype=tf.string))
    grpc_request = request.SerializeToString()

    serial = serial_call_rate(base_path)
    cores = os.cpu_count() or 1
    print(f"model {model_name}; {cores} CPUs; batching on, request log on; {CONNECTIONS} connections, "
          f"{args.seconds:g} s per run; in-process floor {serial:,.0f} serial single-row calls/s", flush=True)
    print(f"{'what answers':<44}{'req/s':>9}{'p99 ms':>9}{'errors':>8}{'server us/req':>15}"
          f"{'busiest thread':>16}{'client us/req':>15}")
    results: List[Ceiling] = []

    def show(result: Ceiling) -> None:
        results.append(result)
        print(f"{result.name:<44}{result.requests_per_second:>9,.0f}{result.p99_ms:>9.1f}{result.errors:>8}"
              f"{result.server_us:>15.0f}{result.busiest_us:>16.0f}{result.client_us:>15.0f}", flush=True)

    def rest_predict(port: int):
        return lambda: wrk_rest(f"http://127.0.0.1:{port}/v1/models/{model_name}:predict", body,
                                CONNECTIONS, args.seconds)

    def grpc_predict(target: str):
        return lambda: h2load_grpc(target, grpc_request, CONNECTIONS, args.seconds)

    with tempfile.TemporaryDirectory() as log_dir:
        proc, rest_port, grpc_target = start_server(base_path, model_name, f"{log_dir}/real", timeout=180.0,
                                                    extra=["--enable_batching"])
        try:
            rest_predict(rest_port)()  # warm
            show(measure("real server, REST :predict", proc.pid, rest_predict(rest_port), args.seconds))
            show(measure("real server, gRPC Predict", proc.pid, grpc_predict(grpc_target), args.seconds))
            show(measure("real server, REST 404 (HTTP layer alone)", proc.pid, lambda: wrk_rest(
                f"http://127.0.0.1:{rest_port}/v1/nothing", b"{}", CONNECTIONS, args.seconds), args.seconds))
        finally:
            stop(proc)
        instant = [sys.executable, "-m", "benchmarks.serving_ceilings", f"--output-dir={args.output_dir}",
                   f"--model-name={model_name}", "--child=instant", f"--log-dir={log_dir}/instant"]
        proc, rest_port, grpc_target = start_process(instant, timeout=180.0)
        try:
            rest_predict(rest_port)()
            show(measure("instant model, REST :predict", proc.pid, rest_predict(rest_port), args.seconds))
            show(measure("instant model, gRPC Predict", proc.pid, grpc_predict(grpc_target), args.seconds))
        finally:
            stop(proc)
        canned = [sys.executable, "-m", "benchmarks.serving_ceilings", f"--output-dir={args.output_dir}",
                  f"--model-name={model_name}", "--child=grpc-canned"]
        proc, _, grpc_target = start_process(canned, timeout=180.0)
        try:
            show(measure("grpcio alone, fixed Predict response", proc.pid, grpc_predict(grpc_target), args.seconds))
        finally:
            stop(proc)
    print("\n(the 404 row's 'errors' are its answers: every request there is answered 404 by design)")
    for line in budget_lines(serial, cores, results[0]):
        print(line)
    grpc_alone, rest_real = results[5], results[0]
    print(f"gRPC 'the same or better' than REST: grpcio alone answers {grpc_alone.requests_per_second:,.0f} req/s "
          f"with a fixed response, against {rest_real.requests_per_second:,.0f} req/s of real REST predictions")
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
