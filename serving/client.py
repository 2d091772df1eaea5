"""Client and small load generator for TF Serving's REST and gRPC APIs.

`python -m serving.client` reads rows from a CSV (or samples and optionally shifts
them, see serving/synthetic_traffic.py), sends them to a running server (this project's or a
real TF Serving) and prints the predictions; with `--requests N --concurrency C` it
becomes a bounded load generator and prints latency percentiles and errors.
"""
from __future__ import annotations

import argparse
import base64
import csv
import http.client
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from google.protobuf import text_format

from runs import exit_codes
from runs.cli import add_flag, add_model_name, add_output_dir
from runs.layout import DEFAULT_OUTPUT_DIR, OutputLayout
from serving import synthetic_traffic
from serving.contract import EXAMPLES_INPUT, REQUEST_ID_HEADER, FeatureError, schema_path
from serving.raw_features import RawFeatures

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CSV = os.path.join(REPO_ROOT, "data", "penguins", "penguins.csv")


class RequestFailed(RuntimeError):
    """The server answered with an error; `status` is the HTTP status or gRPC code name."""

    def __init__(self, status, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class RestClient:
    """TF Serving REST client on a keep-alive connection per thread."""

    def __init__(self, host: str, port: int, model_name: str, timeout: float = 30.0):
        self.host, self.port, self.model_name, self.timeout = host, port, model_name, timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return conn

    def request(self, method: str, path: str, body: Optional[bytes] = None) -> Any:
        for attempt in (1, 2):  # a kept-alive connection the server closed is reopened once
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError) as error:
                # Never keep a connection a failure left half-used: the next call
                # would fail with CannotSendRequest instead of reaching the server.
                conn.close()
                self._local.conn = None
                dropped = isinstance(error, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
                if attempt == 2 or not dropped:
                    raise
        self._local.request_id = response.getheader(REQUEST_ID_HEADER)
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            self._local.conn = None
        doc = json.loads(payload) if payload else {}
        if response.status != 200:
            raise RequestFailed(response.status, doc.get("error", payload.decode("utf-8", "replace")))
        return doc

    @property
    def last_request_id(self) -> Optional[str]:
        """The x-request-id of this thread's last answer: what delayed labels refer to (monitoring.live_quality)."""
        return getattr(self._local, "request_id", None)

    def _model_path(self, version: Optional[int]) -> str:
        return f"/v1/models/{self.model_name}" + (f"/versions/{version}" if version else "")

    def predict_rows(self, rows: Sequence[Mapping[str, Any]], version: Optional[int] = None) -> List[Any]:
        """Friendly form: raw feature objects; the server encodes them with the model's schema."""
        body = json.dumps({"instances": list(rows)}).encode()
        return self.request("POST", self._model_path(version) + ":predict", body)["predictions"]

    def predict_examples(self, serialized: Sequence[bytes], version: Optional[int] = None) -> List[Any]:
        """TF Serving's documented form: base64 serialized tf.Examples."""
        instances = [{"b64": base64.b64encode(s).decode("ascii")} for s in serialized]
        body = json.dumps({"instances": instances}).encode()
        return self.request("POST", self._model_path(version) + ":predict", body)["predictions"]

    def metadata(self, version: Optional[int] = None) -> Dict:
        return self.request("GET", self._model_path(version) + "/metadata")

    def status(self, version: Optional[int] = None) -> Dict:
        return self.request("GET", self._model_path(version))

    def served_version(self) -> int:
        """The version a request without one gets: the highest AVAILABLE (model status API)."""
        return _highest(int(s["version"]) for s in self.status()["model_version_status"] if s["state"] == "AVAILABLE")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()


class GrpcClient:
    """TF Serving gRPC client on the official generated stubs."""

    def __init__(self, target: str, model_name: str, timeout: float = 30.0):
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self._grpc, self._tf = grpc, tf
        self.model_name, self.timeout = model_name, timeout
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", -1)])
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def _call(self, method: Callable, request):
        try:
            return method(request, timeout=self.timeout)
        except self._grpc.RpcError as e:
            raise RequestFailed(e.code().name, e.details()) from None

    def predict_examples(self, serialized: Sequence[bytes], version: Optional[int] = None,
                         signature_name: str = "") -> Dict[str, np.ndarray]:
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = signature_name
        if version:
            request.model_spec.version.value = version
        request.inputs[EXAMPLES_INPUT].CopyFrom(self._tf.make_tensor_proto(list(serialized), dtype=self._tf.string))
        response = self._call(self.predictions.Predict, request)
        return {key: self._tf.make_ndarray(value) for key, value in response.outputs.items()}

    def metadata(self, version: Optional[int] = None):
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = self.model_name
        if version:
            request.model_spec.version.value = version
        return self._call(self.predictions.GetModelMetadata, request)

    def status(self, version: Optional[int] = None):
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self.model_name
        if version:
            request.model_spec.version.value = version
        return self._call(self.models.GetModelStatus, request)

    def served_version(self) -> int:
        """The version a request without one gets: the highest AVAILABLE (GetModelStatus)."""
        from tensorflow_serving.apis import get_model_status_pb2

        available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        return _highest(s.version for s in self.status().model_version_status if s.state == available)

    def close(self) -> None:
        self.channel.close()


def _highest(versions) -> int:
    versions = list(versions)
    if not versions:
        raise RequestFailed("UNAVAILABLE", "no version of the model is AVAILABLE")
    return max(versions)


def served_schema(client, model_base_path: str, version: Optional[int]) -> str:
    """The raw schema the served version ships (<base>/<version>/assets.extra/schema.pbtxt): the
    features it takes and their types. Asks the server which version it serves unless given."""
    version = version or client.served_version()
    path = schema_path(os.path.join(model_base_path, str(version)))
    if not os.path.isfile(path):
        raise FeatureError(f"no schema of version {version} at {path}: pass --model-base-path (the folder the "
                           f"server serves) or --schema (the version's assets.extra/schema.pbtxt)")
    return path


def named_rows(predictions: Sequence[Any], output_names: Sequence[str]) -> List[Dict]:
    """REST `predictions` as one {output: value} object per row, whatever the signature's output count.

    TF Serving's row format names the outputs only when there are several: with a single
    output each row is its bare value (a number, a list, a string), so a client that expects
    objects must wrap those rows with the one output's name."""
    if len(output_names) == 1:
        return [{output_names[0]: p} for p in predictions]
    return [dict(p) for p in predictions]


def grpc_predictions(outputs: Mapping[str, np.ndarray]) -> List[Dict]:
    """gRPC outputs -> the same per-row shape as REST's `predictions`."""
    n = len(next(iter(outputs.values())))
    return [{key: (v[i].decode() if isinstance(v[i], bytes) else v[i].tolist()) for key, v in outputs.items()}
            for i in range(n)]


@dataclass
class LoadResult:
    requests: int = 0
    rows: int = 0
    seconds: float = 0.0
    latencies_ms: List[float] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def summary(self) -> str:
        rate = self.requests / self.seconds if self.seconds else 0.0
        return (f"{self.requests} requests ({self.rows} rows) in {self.seconds:.2f}s = {rate:.0f} req/s; "
                f"latency p50 {self.percentile(50):.2f} ms, p99 {self.percentile(99):.2f} ms; "
                f"errors: {len(self.errors)}")


def run_load(send: Callable[[int], int], requests: int, concurrency: int) -> LoadResult:
    """Calls send(i) for i in range(requests) from `concurrency` threads; send returns rows sent."""
    if requests < 1 or concurrency < 1:
        raise ValueError("requests and concurrency must be >= 1")
    result = LoadResult()
    lock = threading.Lock()

    def one(i: int) -> None:
        start = time.perf_counter()
        try:
            rows = send(i)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                result.latencies_ms.append(elapsed)
                result.rows += rows
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            with lock:
                result.errors.append(f"request {i}: {type(e).__name__}: {e}")
        with lock:
            result.requests += 1

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load") as pool:
        list(pool.map(one, range(requests)))
    result.seconds = time.perf_counter() - start
    return result


def build_parser() -> argparse.ArgumentParser:
    """The ports keep TF Serving's flag names (--rest_api_port, --port), as the server they talk to does."""
    p = argparse.ArgumentParser(prog="python -m serving.client", description=__doc__.split("\n\n")[0])
    p.add_argument("--protocol", choices=("rest", "grpc"), default="rest")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--rest_api_port", type=int, default=8501)
    p.add_argument("--port", type=int, default=8500, help="gRPC port")
    add_model_name(p, default="penguins", help="the name the server serves the model under (default penguins)")
    add_flag(p, "--model-version", type=int, default=None, help="default: the served (latest) version")
    p.add_argument("--csv", default=DEFAULT_CSV, help="rows to send (header line; empty field = missing)")
    p.add_argument("--schema", default=None,
                   help="raw schema used to type CSV values and encode tf.Examples (default: the one the served "
                        "version ships, read from --model-base-path)")
    p.add_argument("--model-base-path", metavar="DIR", default=None,
                   help="the folder of versions the server serves (default: <output-dir>/serving_model/<model-name>)")
    add_output_dir(p)
    p.add_argument("--rows", type=int, default=5, help="rows taken from the CSV (or sampled with --sample)")
    p.add_argument("--sample", action="store_true", help="sample --rows rows with replacement (seeded)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shift", action="append", default=[], metavar="FEATURE=DELTA",
                   help="add DELTA to a numeric feature (generates drifted traffic); repeatable")
    p.add_argument("--format", choices=("raw", "examples"), default="examples",
                   help="REST body: raw feature objects or base64 tf.Examples (gRPC always sends tf.Examples)")
    add_flag(p, "--batch-size", type=int, default=1, help="rows per request")
    p.add_argument("--requests", type=int, default=0,
                   help="load mode: send this many requests (cycling through the rows) and print a summary")
    p.add_argument("--concurrency", type=int, default=1)
    return p


def _schema(args: argparse.Namespace, client) -> str:
    if args.schema:
        return args.schema
    base_path = args.model_base_path or OutputLayout(args.output_dir or DEFAULT_OUTPUT_DIR).model_base_path(
        args.model_name)
    return served_schema(client, base_path, args.model_version)


def _rows(args: argparse.Namespace, schema: str) -> Tuple[RawFeatures, List[Dict[str, Any]]]:
    """The rows to send, typed by the schema."""
    features = RawFeatures.from_file(schema)
    rows = features.read_csv(args.csv, limit=None if args.sample else args.rows)
    if args.sample:
        rows = synthetic_traffic.sample_rows(rows, args.rows, seed=args.seed)
    rows = synthetic_traffic.shift_rows(rows, synthetic_traffic.parse_shifts(args.shift))
    if not rows:
        raise FeatureError(f"no rows in {args.csv}")
    return features, rows


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    client = (RestClient(args.host, args.rest_api_port, args.model_name) if args.protocol == "rest"
              else GrpcClient(f"{args.host}:{args.port}", args.model_name))
    try:
        features, rows = _rows(args, _schema(args, client))
    except (RequestFailed, ConnectionError) as e:  # asking the server which version it serves
        client.close()
        print(f"error: cannot tell which version {args.host} serves: {e}", file=sys.stderr)
        return exit_codes.FAILED
    except (ValueError, OSError, csv.Error, text_format.ParseError) as e:  # the schema, the CSV, a flag
        client.close()
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    batches = [rows[i:i + args.batch_size] for i in range(0, len(rows), max(1, args.batch_size))]
    if args.protocol == "rest":
        if args.format == "raw":
            def predict(batch):
                return client.predict_rows(batch, args.model_version)
        else:
            def predict(batch):
                return client.predict_examples(features.serialize(batch), args.model_version)
    else:
        def predict(batch):
            return grpc_predictions(client.predict_examples(features.serialize(batch), args.model_version))
    try:
        if args.requests:
            result = run_load(lambda i: len(predict(batches[i % len(batches)])), args.requests, args.concurrency)
            print(result.summary())
            for error in result.errors[:5]:
                print("  " + error)
            return exit_codes.FAILED if result.errors else exit_codes.OK
        for batch in batches:
            predictions = predict(batch)
            request_id = client.last_request_id if args.protocol == "rest" else None
            for index, (row, prediction) in enumerate(zip(batch, predictions)):
                # With the request id and row, a label that arrives later can be joined (monitoring.live_quality).
                ids = {"request_id": request_id, "row": index} if request_id else {}
                print(json.dumps({"features": row, "prediction": prediction, **ids}))
        return exit_codes.OK
    except (RequestFailed, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.FAILED
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
