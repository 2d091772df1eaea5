"""Prometheus metrics, served at TF Serving's path `/monitoring/prometheus/metrics`.

Each server owns its registry, so several servers in one process (tests, the smoke
test inside a pipeline run) never mix their numbers. The metric names are this
project's own (TF Serving's built-in names differ and carry fewer labels).
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

METRICS_PATH = "/monitoring/prometheus/metrics"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds; dense under 10 ms where a small model's requests land.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.log_dropped = Counter(
            "serving_request_log_dropped", "Request log records dropped because the writer fell behind.",
            ["model"], registry=self.registry)

    def observe_request(self, *, model: str, version: str, signature: str, api: str, entrypoint: str,
                        status: str, seconds: float) -> None:
        self.requests.labels(model, version, signature, api, entrypoint, status).inc()
        self.latency.labels(model, version, api, entrypoint).observe(seconds)

    def observe_load(self, model: str, version: int, outcome: str) -> None:
        self.model_loads.labels(model, str(version), outcome).inc()
        if outcome == "ok":
            self.served_version.labels(model).set(version)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
