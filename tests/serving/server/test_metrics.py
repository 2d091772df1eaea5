"""serving/server/metrics.py: the lean per-request families expose what Prometheus expects."""
import threading

from prometheus_client.parser import text_string_to_metric_families

from serving.server.metrics import ServingMetrics


def _samples(metrics):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(metrics.exposition().decode()) for s in family.samples}


def _observe(metrics, seconds, status="OK"):
    metrics.observe_request(model="m", version="1", signature="serving_default", api="predict", entrypoint="rest",
                            status=status, seconds=seconds)


def test_histogram_buckets_are_cumulative_and_a_value_on_a_bound_falls_in_it():
    metrics = ServingMetrics()
    for seconds in (0.0005, 0.0004, 0.003, 7.0):  # 0.0005 and 0.003 lie exactly on bounds
        _observe(metrics, seconds)
    samples = _samples(metrics)
    labels = (("api", "predict"), ("entrypoint", "rest"), ("model", "m"), ("version", "1"))

    def bucket(le):
        return samples[("serving_request_latency_seconds_bucket", tuple(sorted(labels + (("le", le),))))]

    assert bucket("0.0005") == 2 and bucket("0.002") == 2 and bucket("0.003") == 3 and bucket("5.0") == 3
    assert bucket("+Inf") == 4
    assert samples[("serving_request_latency_seconds_count", labels)] == 4
    assert abs(samples[("serving_request_latency_seconds_sum", labels)] - 7.0039) < 1e-9
    tf_labels = (("API", "predict"), ("entrypoint", "REST"), ("le", "10.0"), ("model_name", "m"))
    assert samples[(":tensorflow:serving:request_latency_bucket", tf_labels)] == 0  # microseconds: 400 us > 10


def test_counters_keep_their_names_and_count_every_concurrent_request():
    metrics = ServingMetrics()
    threads = [threading.Thread(target=lambda: [_observe(metrics, 0.001) for _ in range(2000)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _observe(metrics, 0.001, status="INVALID_ARGUMENT")
    samples = _samples(metrics)
    ok = (("api", "predict"), ("entrypoint", "rest"), ("model", "m"), ("signature", "serving_default"),
          ("status", "OK"), ("version", "1"))
    assert samples[("serving_requests_total", ok)] == 16000
    assert (":tensorflow:serving:request_count", (("model_name", "m"), ("status", "OK"))) in samples
    assert samples[(":tensorflow:serving:request_count", (("model_name", "m"), ("status", "OK")))] == 16000
    assert samples[("serving_request_latency_seconds_count", (("api", "predict"), ("entrypoint", "rest"),
                                                              ("model", "m"), ("version", "1")))] == 16001
    text = metrics.exposition().decode()
    assert "# TYPE serving_requests_total counter" in text and "serving_requests_created{" in text
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
