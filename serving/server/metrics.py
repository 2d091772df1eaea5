"""Prometheus metrics, served at TF Serving's path `/monitoring/prometheus/metrics`.

Each server owns its registry, so several servers in one process (tests, the smoke
test inside a pipeline run) never mix their numbers. TF Serving's own series come
first, under its names, labels and units (microseconds), so dashboards built for TF
Serving work unchanged: `:tensorflow:serving:request_count`, `...:request_latency`,
`...:runtime_latency` and `...:batching_session:queuing_latency`. The project's own
series (with version and signature labels, request-log drops, loads) keep their names.
"""
from __future__ import annotations

import threading
from collections import Counter as Tally
from typing import Dict, Tuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric

METRICS_PATH = "/monitoring/prometheus/metrics"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds; dense under 10 ms where a small model's requests land.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# TF Serving's latency buckets: microseconds, 10 us growing by 1.8x (about 3 hours at the top).
_TF_SERVING_BUCKETS = tuple(10 * 1.8 ** i for i in range(33))
BATCH_THREAD_POOL = "batch_threads"


class _PlainCounter:
    """A counter exposed under its exact name: TF Serving's `request_count` has no `_total`
    suffix, which prometheus_client's Counter would add."""

    def __init__(self, name: str, documentation: str, labelnames: Tuple[str, ...], registry: CollectorRegistry):
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self._values: Tally = Tally()
        self._lock = threading.Lock()
        registry.register(self)

    def inc(self, *labels: str) -> None:
        with self._lock:
            self._values[labels] += 1

    def collect(self):
        metric = Metric(self.name, self.documentation, "unknown")  # "counter" would print a _total TYPE line
        with self._lock:
            for labels, value in sorted(self._values.items()):
                metric.add_sample(self.name, dict(zip(self.labelnames, labels)), value)
        yield metric


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tf_request_count = _PlainCounter(
            ":tensorflow:serving:request_count", "The total number of requests.", ("model_name", "status"),
            self.registry)
        self.tf_request_latency = Histogram(
            ":tensorflow:serving:request_latency", "Distribution of wall time (in microseconds) for Tensorflow "
            "Serving request.", ["model_name", "API", "entrypoint"], buckets=_TF_SERVING_BUCKETS, registry=self.registry)
        self.tf_runtime_latency = Histogram(
            ":tensorflow:serving:runtime_latency", "Distribution of wall time (in microseconds) for Tensorflow "
            "runtime.", ["model_name", "API", "runtime"], buckets=_TF_SERVING_BUCKETS, registry=self.registry)
        self.tf_queuing_latency = Histogram(
            ":tensorflow:serving:batching_session:queuing_latency", "Distribution of wall time spent (in "
            "microseconds) in queuing", ["thread_pool_name"], buckets=_TF_SERVING_BUCKETS, registry=self.registry)
        self.requests = Counter(
            "serving_requests", "Requests by model, version, signature, API, entrypoint and status.",
            ["model", "version", "signature", "api", "entrypoint", "status"], registry=self.registry)
        self.latency = Histogram(
            "serving_request_latency_seconds", "Time from request received to response ready.",
            ["model", "version", "api", "entrypoint"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.model_loads = Counter(
            "serving_model_loads", "Model version load attempts by outcome (ok, error, incomplete).",
            ["model", "version", "outcome"], registry=self.registry)
        self.served_version = Gauge(
            "serving_model_version", "The version currently served.", ["model"], registry=self.registry)
        self._request_series: Dict[tuple, tuple] = {}
        self.log_dropped = Counter(
            "serving_request_log_dropped", "Request log records dropped because the writer fell behind.",
            ["model"], registry=self.registry)

    def observe_request(self, *, model: str, version: str, signature: str, api: str, entrypoint: str,
                        status: str, seconds: float) -> None:
        key = (model, version, signature, api, entrypoint, status)
        series = self._request_series.get(key)
        if series is None:  # labels() takes a lock and checks its arguments: once per label set, not per request
            series = self._request_series[key] = (
                self.requests.labels(*key), self.latency.labels(model, version, api, entrypoint),
                self.tf_request_latency.labels(model, api, entrypoint.upper()))
        series[0].inc()
        series[1].observe(seconds)
        self.tf_request_count.inc(model, status)
        series[2].observe(seconds * 1e6)

    def observe_runtime(self, model: str, api: str, seconds: float) -> None:
        self.tf_runtime_latency.labels(model, api, "TF2").observe(seconds * 1e6)

    def observe_queuing(self, seconds: float, _batch_rows: int) -> None:
        self.tf_queuing_latency.labels(BATCH_THREAD_POOL).observe(seconds * 1e6)

    def observe_load(self, model: str, version: int, outcome: str) -> None:
        self.model_loads.labels(model, str(version), outcome).inc()
        if outcome == "ok":
            self.served_version.labels(model).set(version)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
