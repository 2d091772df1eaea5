"""Serving benchmark: latency of single-example requests and throughput by batch size.

Starts `python -m serving.server` as a separate process (request logging on, as by
default) on the pushed model of an output dir, and measures from this process:
  - the floor: the `serving_default` signature called in-process on one example;
  - p50/p99 latency of single-example requests over REST and gRPC, and their
    overhead above the floor (targets: < 3 ms REST, < 2 ms gRPC at p50);
  - rows/s for batched requests (batch sizes 1..128) over REST and gRPC;
  - load: the in-process floor (serial single-row calls/s, rows/s at batch 64), then REST
    and gRPC at 1, 16, 64 and 256 keep-alive connections, one row per request, with
    batching off and on (requests/s, p50, p99, errors, timeouts), against issue 12's targets.
Usage, from the repository root:
  python -m benchmarks.serving_speed --output-dir outputs [--requests 500] [--load-seconds 30]
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Sequence

import numpy as np

from runs import exit_codes
from runs.cli import add_model_name, add_output_dir
from runs.layout import DEFAULT_OUTPUT_DIR, LayoutError, OutputLayout

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_READY = re.compile(r"REST http://([\d.]+):(\d+), gRPC ([\d.]+):(\d+)")
BATCH_SIZES = (1, 8, 32, 128)


CONNECTIONS = (1, 16, 64, 256)


def start_server(base_path: str, model_name: str, log_dir: str, timeout: float = 120.0, extra=()):
    cmd = [sys.executable, "-m", "serving.server", f"--model_name={model_name}",
           f"--model_base_path={base_path}", "--port=0", "--rest_api_port=0", f"--request_log_dir={log_dir}",
           *extra]
    return start_process(cmd, timeout)


def start_process(cmd: Sequence[str], timeout: float = 120.0):
    """Starts a server process; (process, REST port, gRPC target) once it prints where it listens
    (the "REST http://host:port, gRPC host:port" of `python -m serving.server`)."""
    proc = subprocess.Popen(list(cmd), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = _READY.search(line)
        if match:
            return proc, int(match.group(2)), f"{match.group(3)}:{match.group(4)}"
    proc.kill()
    raise RuntimeError(f"`python {' '.join(cmd[1:3])} ...` did not start; run it by hand to see why")


def timed(fn, n: int, warmup: int = 20) -> np.ndarray:
    for _ in range(warmup):
        fn()
    out = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - start) * 1000
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.serving_speed", description=__doc__.split("\n\n")[0])
    add_output_dir(p, default=DEFAULT_OUTPUT_DIR)
    add_model_name(p)
    p.add_argument("--requests", type=int, default=500, help="single-example requests per API")
    p.add_argument("--concurrency", type=int, default=4, help="clients for the throughput runs")
    p.add_argument("--load-seconds", type=float, default=10.0,
                   help="length of each load run (0 skips the load section)")
    p.add_argument("--connections", type=int, nargs="+", default=list(CONNECTIONS),
                   help="connection counts of the load section")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        base_path, model_name = OutputLayout(args.output_dir).served_model(args.model_name)
    except LayoutError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT

    # TensorFlow and the serving client load here, after the flags: --help and bad input answer at once.
    import tensorflow as tf

    from serving import synthetic_traffic
    from serving.client import DEFAULT_CSV, GrpcClient, RestClient, run_load
    from serving.contract import SERVING_SIGNATURE, schema_path
    from serving.raw_features import RawFeatures
    from serving.server.versions import list_versions

    versions = list_versions(base_path)
    if not versions:
        print(f"error: nothing pushed under {base_path}; run the pipeline first", file=sys.stderr)
        return exit_codes.BAD_INPUT
    version_dir = os.path.join(base_path, str(versions[0]))
    features = RawFeatures.from_file(schema_path(version_dir))
    rows = synthetic_traffic.sample_rows(features.read_csv(DEFAULT_CSV), 512, seed=0)
    serialized = features.serialize(rows)
    one = serialized[:1]

    signature = tf.saved_model.load(version_dir).signatures[SERVING_SIGNATURE]
    floor = timed(lambda: signature(examples=tf.constant(one)), args.requests)

    with tempfile.TemporaryDirectory() as log_dir:
        proc, rest_port, grpc_target = start_server(base_path, model_name, log_dir)
        try:
            rest = RestClient("127.0.0.1", rest_port, model_name)
            grpc_client = GrpcClient(grpc_target, model_name)
            rest_lat = timed(lambda: rest.predict_examples(one), args.requests)
            grpc_lat = timed(lambda: grpc_client.predict_examples(one), args.requests)

            print(f"model {model_name} version {versions[0]}; {os.cpu_count()} CPUs; request log on")
            print(f"\nsingle-example latency over {args.requests} sequential requests (ms):")
            print(f"{'path':<22}{'p50':>8}{'p99':>8}{'p50 overhead':>15}")
            f50 = np.percentile(floor, 50)
            for name, lat, target in (("in-process signature", floor, None),
                                      ("gRPC Predict", grpc_lat, 2.0), ("REST :predict", rest_lat, 3.0)):
                p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
                overhead = "" if target is None else (
                    f"{p50 - f50:+.2f} ({'within' if p50 - f50 < target else 'ABOVE'} {target:g} ms target)")
                print(f"{name:<22}{p50:>8.2f}{p99:>8.2f}  {overhead}")

            print(f"\nthroughput, {args.concurrency} concurrent clients (rows/s):")
            print(f"{'batch':>6}{'in-process':>12}{'gRPC':>10}{'REST':>10}")
            for batch in BATCH_SIZES:
                requests = max(40, 2000 // batch)
                batches = [serialized[(i * batch) % 512:(i * batch) % 512 + batch] for i in range(8)]
                batches = [b if len(b) == batch else serialized[:batch] for b in batches]
                start = time.perf_counter()
                for i in range(requests // 4):
                    signature(examples=tf.constant(batches[i % 8]))
                local = (requests // 4) * batch / (time.perf_counter() - start)
                rates = []
                for send in (lambda i: len(grpc_client.predict_examples(batches[i % 8])["classes"]),
                             lambda i: len(rest.predict_examples(batches[i % 8]))):
                    result = run_load(send, requests, args.concurrency)
                    if result.errors:
                        raise RuntimeError(result.errors[0])
                    rates.append(result.rows / result.seconds)
                print(f"{batch:>6}{local:>12.0f}{rates[0]:>10.0f}{rates[1]:>10.0f}")
            rest.close()
            grpc_client.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        if args.load_seconds > 0:
            load_section(base_path, model_name, log_dir, signature, one, args)
    return exit_codes.OK


def load_section(base_path, model_name, log_dir, signature, one, args) -> None:
    import base64
    import json

    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from benchmarks.serving_load import grpc_load, rest_load

    single = tf.constant(one)
    batch64 = tf.constant(one * 64)
    serial = 1000.0 / np.percentile(timed(lambda: signature(examples=single), 500), 50)
    start = time.perf_counter()
    for _ in range(50):
        signature(examples=batch64)
    rows64 = 50 * 64 / (time.perf_counter() - start)
    print(f"\nload: in-process floor: {serial:.0f} serial single-row calls/s (from the p50), "
          f"{rows64:.0f} rows/s at batch 64; {args.load_seconds:g} s per run, one row per request")
    body = json.dumps({"instances": [{"b64": base64.b64encode(one[0]).decode()}]}).encode()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto(one, dtype=tf.string))
    print(f"{'batching':<10}{'api':<6}{'conns':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'timeouts':>9}  client")
    results = {}
    for batching in (False, True):
        proc, rest_port, grpc_target = start_server(base_path, model_name, log_dir,
                                                    extra=["--enable_batching"] if batching else [])
        try:
            for api in ("rest", "grpc"):
                for conns in args.connections:
                    if api == "rest":
                        run = rest_load(f"http://127.0.0.1:{rest_port}", model_name, body, conns, args.load_seconds)
                    else:
                        run = grpc_load(grpc_target, request.SerializeToString(), model_name, conns,
                                        args.load_seconds, failed_calls=lambda: _failed_grpc_calls(rest_port))
                    results[(batching, api, conns)] = run
                    print(f"{'on' if batching else 'off':<10}{api:<6}{conns:>6}{run.requests_per_second:>9.0f}"
                          f"{run.p50_ms:>9.2f}{run.p99_ms:>9.2f}{run.errors:>8}{run.timeouts:>9}  {run.tool}",
                          flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    target = results.get((True, "rest", 64))
    if target is not None:
        need = max(3 * serial, 3000)
        met = (target.requests_per_second >= need and target.p99_ms < 50 and not target.errors
               and not target.timeouts)
        print(f"target REST, 64 connections, batching on: >= {need:.0f} req/s (3x the serial call rate and "
              f">= 3000), p99 < 50 ms, no errors: {'MET' if met else 'NOT MET'} "
              f"({target.requests_per_second:.0f} req/s, p99 {target.p99_ms:.1f} ms, "
              f"{target.errors} errors, {target.timeouts} timeouts)")


def _failed_grpc_calls(rest_port: int) -> int:
    """gRPC calls the server answered with an error, from its Prometheus endpoint."""
    import requests

    text = requests.get(f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics", timeout=10).text
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("serving_requests_total{") and 'entrypoint="grpc"' in line
                   and 'status="OK"' not in line))


if __name__ == "__main__":
    sys.exit(main())
