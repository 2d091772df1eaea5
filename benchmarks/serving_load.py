"""Load generation for the serving benchmark: many keep-alive connections for a fixed time.

REST goes through `wrk` and gRPC through `h2load` (C load generators, Debian packages `wrk`
and `nghttp2-client`) when they are installed, so the client costs little of the 2 cores the
server also needs; without them a multi-process Python client holds the connections (one
thread per connection, spread over one process per core). h2load sees HTTP/2 statuses only,
so gRPC failures (sent in trailers) are counted from the server's own metrics.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

import numpy as np


@dataclass
class LoadRun:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    timeouts: int
    tool: str


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def parse_wrk(output: str) -> LoadRun:
    """wrk's --latency report -> LoadRun (non-2xx answers and socket errors count as errors)."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    connect, read, write, timeouts = (int(g) for g in socket.groups()) if socket else (0, 0, 0, 0)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return LoadRun(rate, p50, p99, connect + read + write + (int(non_2xx.group(1)) if non_2xx else 0), timeouts, "wrk")


def wrk_rest(url: str, body: bytes, connections: int, seconds: float, timeout_s: float = 2.0) -> LoadRun:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body.decode())}\n'
                     f'wrk.headers["Content-Type"] = "application/json"\n')
    try:
        out = subprocess.run(["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:g}s",
                              f"--timeout={timeout_s:g}s", "--latency", "-s", script.name, url],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    return parse_wrk(out)


def _worker(kind: str, target: str, payload: bytes, model: str, connections: int, seconds: float,
            timeout_s: float, queue) -> None:
    """One client process: `connections` threads, each on its own connection, for `seconds`."""
    latencies: List[float] = []
    failures = [0, 0]  # errors, timeouts
    lock = threading.Lock()

    if kind == "grpc":
        import grpc
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        request = predict_pb2.PredictRequest.FromString(payload)

        def connect():
            channel = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
            return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict

        def call(predict):
            try:
                predict(request, timeout=timeout_s)
            except grpc.RpcError as e:
                return "timeout" if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED else "error"
            return None
    else:
        import http.client
        import socket

        host, port = target.rsplit(":", 1)

        def connect():
            return [None]

        def call(holder):
            try:
                if holder[0] is None:
                    holder[0] = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
                holder[0].request("POST", f"/v1/models/{model}:predict", body=payload,
                                  headers={"Content-Type": "application/json"})
                response = holder[0].getresponse()
                response.read()
                return None if response.status == 200 else "error"
            except socket.timeout:
                holder[0] = None
                return "timeout"
            except (http.client.HTTPException, OSError):
                holder[0] = None
                return "error"

    def client():
        conn = connect()
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            outcome = call(conn)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                if outcome is None:
                    latencies.append(elapsed)
                else:
                    failures[0 if outcome == "error" else 1] += 1

    stop_at = time.monotonic() + seconds  # after the imports, which take seconds
    threads = [threading.Thread(target=client) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put((latencies, failures))


def python_load(kind: str, target: str, payload: bytes, model: str, connections: int, seconds: float,
                timeout_s: float = 2.0, processes: Optional[int] = None) -> LoadRun:
    processes = min(connections, processes or os.cpu_count() or 1)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    shares = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    procs = [ctx.Process(target=_worker, args=(kind, target, payload, model, n, seconds, timeout_s, queue))
             for n in shares]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    latencies = np.array([x for lat, _ in results for x in lat])
    errors = sum(f[0] for _, f in results)
    timeouts = sum(f[1] for _, f in results)
    p50, p99 = (np.percentile(latencies, [50, 99]) if len(latencies) else (float("nan"),) * 2)
    return LoadRun(len(latencies) / seconds, float(p50), float(p99), errors, timeouts, "python")


def rest_load(url_base: str, model: str, body: bytes, connections: int, seconds: float) -> LoadRun:
    if shutil.which("wrk"):
        return wrk_rest(f"{url_base}/v1/models/{model}:predict", body, connections, seconds)
    return python_load("rest", url_base.split("//", 1)[1], body, model, connections, seconds)


def h2load_grpc(target: str, request: bytes, connections: int, seconds: float,
                failed_calls: Optional[Callable[[], int]] = None) -> LoadRun:
    """Unary Predict calls as raw HTTP/2 (gRPC's 5-byte frame around the request), one stream
    per connection at a time; latency percentiles from h2load's per-request log."""
    with tempfile.TemporaryDirectory() as tmp:
        data, log_file = os.path.join(tmp, "request.bin"), os.path.join(tmp, "requests.tsv")
        with open(data, "wb") as f:
            f.write(b"\x00" + struct.pack(">I", len(request)) + request)
        before = failed_calls() if failed_calls else 0
        subprocess.run(["h2load", f"-c{connections}", "-m1", "-D", f"{seconds:g}", f"-t{min(2, connections)}",
                        "-d", data, "-H", "content-type: application/grpc", "-H", "te: trailers",
                        "--log-file", log_file, f"http://{target}/tensorflow.serving.PredictionService/Predict"],
                       capture_output=True, text=True, check=True)
        rows = np.loadtxt(log_file, ndmin=2) if os.path.getsize(log_file) else np.empty((0, 3))
    failed = (failed_calls() - before) if failed_calls else 0
    ok = rows[rows[:, 1] == 200] if len(rows) else rows
    http_errors = len(rows) - len(ok)
    p50, p99 = np.percentile(ok[:, 2] / 1000, [50, 99]) if len(ok) else (float("nan"),) * 2
    return LoadRun((len(ok) - failed) / seconds, float(p50), float(p99), http_errors + failed, 0, "h2load")


def grpc_load(target: str, request: bytes, model: str, connections: int, seconds: float,
              failed_calls: Optional[Callable[[], int]] = None) -> LoadRun:
    if shutil.which("h2load"):
        return h2load_grpc(target, request, connections, seconds, failed_calls)
    return python_load("grpc", target, request, model, connections, seconds)
