"""Reading one feature's values tolerantly: missing, non-finite and wrongly typed values are counted."""
import base64

import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2

from monitoring.feature_columns import CATEGORICAL, NUMERIC, columns_from_rows, columns_from_value_lists, read_rows

TYPES = {"f": schema_pb2.FLOAT, "i": schema_pb2.INT, "s": schema_pb2.BYTES}


def test_every_kind_of_bad_value_is_counted_and_left_out():
    rows = [
        {"f": 1.5, "i": 3, "s": "a"},
        {"f": float("nan"), "i": 10 ** 400, "s": float("-inf")},  # non-finite in each type
        {"f": "1.5", "i": True, "s": 7},  # wrong types
        {"f": None, "i": [], "s": {"b64": base64.b64encode(b"b").decode()}},  # missing; b64 decoded
        {},  # every feature absent
        {"f": float("inf"), "i": -float("inf"), "s": {"b64": "!!"}},
        {"f": 1e300, "i": 2 ** 62, "s": ["c", "d"]},  # float32 overflow; a big exact integer; multivalent
    ]
    columns = read_rows(rows, TYPES)[0]
    f, i, s = columns["f"], columns["i"], columns["s"]
    assert (f.kind, i.kind, s.kind) == (NUMERIC, NUMERIC, CATEGORICAL)
    assert f.rows == i.rows == s.rows == 7
    assert f.values.tolist() == [1.5] and (f.non_finite, f.wrong_type, f.missing) == (3, 1, 6)
    assert i.values.tolist() == [3.0, float(2 ** 62)] and (i.non_finite, i.wrong_type, i.missing) == (2, 1, 5)
    assert s.values.tolist() == ["a", "b", "c", "d"] and (s.non_finite, s.wrong_type, s.missing) == (1, 2, 4)


def test_float_features_compare_at_float32_precision():
    """A logged 39.1 (float64) equals the training split's float32 39.1."""
    logged = columns_from_rows([{"f": 39.1}], {"f": schema_pb2.FLOAT})["f"].values
    trained = columns_from_value_lists({"f": [[np.float32(39.1)]]}, {"f": schema_pb2.FLOAT})["f"].values
    assert logged.tolist() == trained.tolist()


def test_the_first_usable_value_of_each_row_feeds_tfdv():
    _, firsts = read_rows([{"f": [float("nan"), 2.0]}, {"f": "x"}, {}], {"f": schema_pb2.FLOAT})
    assert firsts == {"f": [2.0, None, None]}


def test_training_value_lists_decode_bytes():
    columns = columns_from_value_lists({"s": [[b"Biscoe"], [], [b"\xff"]]}, {"s": schema_pb2.BYTES})
    assert columns["s"].values.tolist() == ["Biscoe", "\ufffd"] and columns["s"].missing == 1
