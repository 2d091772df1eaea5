"""Prometheus metrics, served at TF Serving's path `/monitoring/prometheus/metrics`.

Each server owns its registry, so several servers in one process (tests, the smoke
test inside a pipeline run) never mix their numbers. TF Serving's own series come
first, under its names, labels and units (microseconds), so dashboards built for TF
Serving work unchanged: `:tensorflow:serving:request_count`, `...:request_latency`,
`...:runtime_latency` and `...:batching_session:queuing_latency`. The project's own
series (with version and signature labels, request-log drops, loads) keep their names.

The per-request series are lean families of this module (one bisect and one lock per
observation) rather than prometheus_client's, which took a lock per value and walked every
bucket: at a few thousand requests/s that was a tenth of the server's time under the GIL.
The exposition is the same text format, names, labels and `le` values.
"""
from __future__ import annotations

import bisect
import threading
import time
from collections import Counter as Tally
from typing import Callable, Dict, List, Sequence, Tuple

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

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


class _Family:
    """A family of series by label values: `labels(...)` once per label set, then the series."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry,
                 new_series: Callable[[], object]):
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self._new_series = new_series
        self._series: Dict[Tuple[str, ...], object] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def labels(self, *values: str):
        series = self._series.get(values)
        if series is None:
            with self._lock:
                series = self._series.get(values) or self._series.setdefault(values, self._new_series())
        return series

    def _sorted(self):
        return sorted(self._series.items())


class _HistogramSeries:
    __slots__ = ("_bounds", "_counts", "_sum", "_lock")

    def __init__(self, bounds: Sequence[float]):
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self._bounds, value)  # the first bucket whose bound is >= value
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    def snapshot(self) -> Tuple[List[int], float]:
        with self._lock:
            return list(self._counts), self._sum


class _Histogram(_Family):
    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float],
                 registry: CollectorRegistry):
        bounds = tuple(float(b) for b in buckets)
        self._le = [floatToGoString(b) for b in bounds] + ["+Inf"]
        super().__init__(name, documentation, labelnames, registry, lambda: _HistogramSeries(bounds))

    def collect(self):
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, series in self._sorted():
            counts, total = series.snapshot()
            cumulative, buckets = 0, []
            for le, count in zip(self._le, counts):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(list(values), buckets, total)
        yield family


class _CounterSeries:
    __slots__ = ("value", "created", "_lock")

    def __init__(self):
        self.value = 0
        self.created = time.time()
        self._lock = threading.Lock()

    def inc(self) -> None:
        with self._lock:
            self.value += 1


class _Counter(_Family):
    """Exposed as `<name>_total` (and `<name>_created`), as prometheus_client's Counter."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry):
        super().__init__(name, documentation, labelnames, registry, _CounterSeries)

    def collect(self):
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for values, series in self._sorted():
            family.add_metric(list(values), series.value, created=series.created)
        yield family


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tf_request_count = _PlainCounter(
            ":tensorflow:serving:request_count", "The total number of requests.", ("model_name", "status"),
            self.registry)
        self.tf_request_latency = _Histogram(
            ":tensorflow:serving:request_latency", "Distribution of wall time (in microseconds) for Tensorflow "
            "Serving request.", ["model_name", "API", "entrypoint"], _TF_SERVING_BUCKETS, self.registry)
        self.tf_runtime_latency = _Histogram(
            ":tensorflow:serving:runtime_latency", "Distribution of wall time (in microseconds) for Tensorflow "
            "runtime.", ["model_name", "API", "runtime"], _TF_SERVING_BUCKETS, self.registry)
        self.tf_queuing_latency = _Histogram(
            ":tensorflow:serving:batching_session:queuing_latency", "Distribution of wall time spent (in "
            "microseconds) in queuing", ["thread_pool_name"], _TF_SERVING_BUCKETS, self.registry)
        self._queuing = self.tf_queuing_latency.labels(BATCH_THREAD_POOL)
        self.requests = _Counter(
            "serving_requests", "Requests by model, version, signature, API, entrypoint and status.",
            ["model", "version", "signature", "api", "entrypoint", "status"], self.registry)
        self.latency = _Histogram(
            "serving_request_latency_seconds", "Time from request received to response ready.",
            ["model", "version", "api", "entrypoint"], _LATENCY_BUCKETS, self.registry)
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
        if series is None:  # looked up once per label set, not per request
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
        self._queuing.observe(seconds * 1e6)

    def observe_load(self, model: str, version: int, outcome: str) -> None:
        self.model_loads.labels(model, str(version), outcome).inc()
        if outcome == "ok":
            self.served_version.labels(model).set(version)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
