"""serving/example_rows.py: tf.Example bytes -> rows without TensorFlow, as TensorFlow reads them."""
import subprocess
import sys

import numpy as np
from tensorflow.core.example import example_pb2

from serving.example_rows import Example, example_to_row, parse_examples

from tests.conftest import REPO_ROOT


def test_the_bytes_are_read_exactly_as_tensorflows_example_reads_them():
    rng = np.random.default_rng(0)
    for _ in range(500):
        example = example_pb2.Example()
        features = example.features.feature
        features["text"].bytes_list.value.extend([b"Biscoe", b"\xff not utf-8"][:rng.integers(0, 3)])
        features["number"].float_list.value.extend(rng.standard_normal(rng.integers(0, 3)).astype(np.float32))
        features["count"].int64_list.value.extend(int(v) for v in rng.integers(-2**63, 2**63 - 1, rng.integers(0, 3)))
        features["unset"].SetInParent()
        data = example.SerializeToString()
        ours = Example.FromString(data)
        assert ours.SerializeToString(deterministic=True) == example.SerializeToString(deterministic=True)
        assert example_to_row(ours) == example_to_row(example)


def test_rows_take_scalars_lists_and_none():
    example = example_pb2.Example()
    features = example.features.feature
    features["island"].bytes_list.value.append(b"Dream")
    features["bill_length_mm"].float_list.value.append(39.1)  # float32: 39.099998474121094
    features["counts"].int64_list.value.extend([1, 2])
    features["sex"].bytes_list.SetInParent()  # present with no value
    features["unset"].SetInParent()
    assert parse_examples([example.SerializeToString(), b"\xff\xfe not a proto"]) == [
        {"island": "Dream", "bill_length_mm": 39.1, "counts": [1, 2], "sex": None, "unset": None}, None]


def test_importing_it_imports_no_tensorflow():
    out = subprocess.run([sys.executable, "-c", "import sys, serving.example_rows; print('tensorflow' in sys.modules)"],
                         cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
