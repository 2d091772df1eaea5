"""Dynamic batching: TF Serving's parameters file, each caller's own rows back, bounded queue."""
import shutil
import threading
import time

import numpy as np
import pytest
import requests
import tensorflow as tf

from serving.server import ModelServer
from serving.server.batching import Batcher, BatchingParameters
from serving.server.errors import ServingError

MODEL = "penguins"


class Recorder:
    """A stand-in model: doubles its input and records the batch sizes it was called with."""

    def __init__(self, gate=None):
        self.sizes, self.gate = [], gate

    def __call__(self, inputs):
        if self.gate is not None:
            self.gate.wait(30)
        self.sizes.append(int(inputs["x"].shape[0]))
        return {"y": inputs["x"] * 2, "first": inputs["x"][:, 0]}


def in_threads(caller, n):
    """caller(i) for i in range(n), each on its own thread, all at once."""
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def submit(batcher, run, values):
    x = tf.constant(np.array(values, np.float32).reshape(-1, 1))
    return batcher.submit("key", run, {"x": x}, int(x.shape[0]))


def test_parameters_file_in_tf_serving_text_format():
    params = BatchingParameters.from_text("""
        max_batch_size { value: 64 }
        batch_timeout_micros { value: 2000 }
        max_enqueued_batches { value: 100 }
        num_batch_threads { value: 2 }
        allowed_batch_sizes: 16
        allowed_batch_sizes: 64
        pad_variable_length_inputs: true
    """)
    assert params == BatchingParameters(64, 2000, 100, 2, (16, 64), True)
    assert params.padded_size(3) == 16 and params.padded_size(17) == 64


def test_defaults_are_tf_serving_defaults():
    params = BatchingParameters.from_text("")
    assert (params.max_batch_size, params.batch_timeout_micros, params.max_enqueued_batches) == (1000, 0, 10)


@pytest.mark.parametrize("text, message", [
    ("max_batch_size: 64", "1:"),  # a wrapper field needs { value: ... }
    ("max_batch_size { value: 8 }\nbatch_size { value: 8 }", "2:"),
    ("max_batch_size { value: 0 }", "max_batch_size must be positive"),
    ("max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 6", "must equal max_batch_size (8)"),
    ("max_batch_size { value: 8 } allowed_batch_sizes: 8 allowed_batch_sizes: 4", "increasing"),
])
def test_a_bad_parameters_file_is_refused_with_the_line_or_value_at_fault(text, message):
    with pytest.raises(ValueError, match="params.txt: ") as error:
        BatchingParameters.from_text(text, source="params.txt")
    assert message in str(error.value)


def test_concurrent_callers_each_get_their_own_rows_in_order():
    run = Recorder()
    batcher = Batcher(BatchingParameters(max_batch_size=32, batch_timeout_micros=20000, num_batch_threads=1))
    futures = [submit(batcher, run, [i * 10 + j for j in range(1 + i % 3)]) for i in range(40)]
    for i, future in enumerate(futures):
        outputs = future.result(timeout=30)
        expected = np.array([i * 10 + j for j in range(1 + i % 3)], np.float32) * 2
        np.testing.assert_array_equal(outputs["y"].reshape(-1), expected)
        np.testing.assert_array_equal(outputs["first"], expected / 2)
    batcher.stop()
    assert sum(run.sizes) == sum(1 + i % 3 for i in range(40))
    assert len(run.sizes) < 40 and max(run.sizes) <= 32  # batched, never above max_batch_size


def test_callers_from_many_threads():
    run = Recorder()
    batcher = Batcher(BatchingParameters(max_batch_size=16, num_batch_threads=2))
    results, errors = {}, []

    def caller(i):
        try:
            results[i] = submit(batcher, run, [i, -i]).result(timeout=30)["y"].reshape(-1).tolist()
        except Exception as e:  # noqa: BLE001 - asserted empty
            errors.append(e)

    in_threads(caller, 64)
    batcher.stop()
    assert errors == [] and results == {i: [2.0 * i, -2.0 * i] for i in range(64)}


def test_a_full_queue_answers_unavailable_at_once():
    gate = threading.Event()
    run = Recorder(gate)
    batcher = Batcher(BatchingParameters(max_batch_size=4, max_enqueued_batches=2, num_batch_threads=1))
    first = submit(batcher, run, [0, 1, 2, 3])  # taken by the only thread, which blocks on the gate
    time.sleep(0.2)
    queued = [submit(batcher, run, [1, 2, 3, 4]), submit(batcher, run, [5, 6, 7, 8])]
    started = time.monotonic()
    with pytest.raises(ServingError) as error:
        submit(batcher, run, [9])
    assert time.monotonic() - started < 0.5
    assert error.value.code == "UNAVAILABLE" and error.value.http_status == 503
    assert "The batch scheduling queue to which this task was submitted is full" in error.value.message
    gate.set()
    assert [f.result(timeout=30)["y"].shape[0] for f in [first] + queued] == [4, 4, 4]
    batcher.stop()


def test_a_request_larger_than_max_batch_size_is_refused_as_tf_serving_does():
    batcher = Batcher(BatchingParameters(max_batch_size=4, num_batch_threads=1))
    with pytest.raises(ServingError) as error:
        submit(batcher, Recorder(), list(range(5)))
    assert error.value.code == "INVALID_ARGUMENT"
    assert error.value.message == "Task size 5 is larger than maximum input batch size 4"
    batcher.stop()


def test_batches_are_padded_to_an_allowed_size_and_trimmed_back():
    run = Recorder()
    batcher = Batcher(BatchingParameters(max_batch_size=8, num_batch_threads=1, allowed_batch_sizes=(4, 8)))
    outputs = submit(batcher, run, [1, 2, 3]).result(timeout=30)
    batcher.stop()
    assert run.sizes == [4]
    assert outputs["y"].reshape(-1).tolist() == [2.0, 4.0, 6.0]


def test_serialized_examples_stay_numpy_until_the_batch_is_called():
    """REST and gRPC hand over bytes as numpy; the batch joins them and the model sees one array."""
    seen = []

    def echo(inputs):
        seen.append(inputs["examples"])
        return {"length": tf.strings.length(inputs["examples"])}

    batcher = Batcher(BatchingParameters(max_batch_size=8, batch_timeout_micros=50000, num_batch_threads=1,
                                         allowed_batch_sizes=(4, 8)))
    futures = [batcher.submit("key", echo, {"examples": np.array([b"x" * (i + 1)] * (1 + i % 2), dtype=object)},
                              1 + i % 2) for i in range(3)]
    lengths = [f.result(timeout=30)["length"].tolist() for f in futures]
    batcher.stop()
    assert lengths == [[1], [2, 2], [3]]
    assert [type(batch) for batch in seen] == [np.ndarray] and seen[0].shape == (4,)  # padded 4 -> 4


def test_a_failing_batch_fails_each_of_its_callers():
    def broken(inputs):
        raise ServingError("INTERNAL", "boom")

    batcher = Batcher(BatchingParameters(max_batch_size=8, batch_timeout_micros=50000, num_batch_threads=1))
    futures = [submit(batcher, broken, [i]) for i in range(3)]
    for future in futures:
        with pytest.raises(ServingError, match="boom"):
            future.result(timeout=30)
    batcher.stop()


def test_server_with_batching_answers_rest_and_grpc_callers_with_their_own_rows(pipeline_run, tmp_path):
    from serving.client import GrpcClient

    base = tmp_path / MODEL
    shutil.copytree(pipeline_run.serving_dir, base)
    params = BatchingParameters(max_batch_size=16, batch_timeout_micros=5000, num_batch_threads=2)
    with ModelServer(MODEL, str(base), grpc_port=0, rest_port=0, batching=params) as server:
        features = server.models.current.raw_features
        from tests.serving.server.test_server import CSV
        rows = features.read_csv(CSV)[:120]
        expected = server.models.current.run("", {"examples": np.array(features.serialize(rows), object)})
        results, errors = {}, []
        grpc_client = GrpcClient(server.grpc_target, MODEL)

        def caller(i):
            try:
                chunk = rows[i * 3:i * 3 + 3]
                if i % 2:
                    out = grpc_client.predict_examples(features.serialize(chunk))
                    results[i] = [c.decode() for c in out["classes"]]
                else:
                    r = requests.post(f"{server.rest_url}/v1/models/{MODEL}:predict", json={"instances": chunk},
                                      timeout=30)
                    assert r.status_code == 200, r.text
                    results[i] = [p["classes"] for p in r.json()["predictions"]]
            except Exception as e:  # noqa: BLE001 - asserted empty
                errors.append(e)

        in_threads(caller, 40)
        grpc_client.close()
        assert errors == []
        classes = [c.decode() for c in expected["classes"]]
        assert [c for i in range(40) for c in results[i]] == classes
        metrics = server.metrics.exposition().decode()
        assert ':tensorflow:serving:batching_session:queuing_latency_count{thread_pool_name="batch_threads"}' in metrics
