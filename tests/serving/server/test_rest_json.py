"""serving/server/rest_json.py without a model: JSON bodies in, response bodies out."""
import json

import numpy as np
import pytest

from serving.server.errors import ServingError
from serving.server.rest_json import dumps, parse_body, predict_response


@pytest.mark.parametrize("body, expected", [
    (b'{"instances": [1, 2.5, "a"]}', {"instances": [1, 2.5, "a"]}),
    (b'{"inputs": {"n": 12345678901234567890123}}', {"inputs": {"n": 12345678901234567890123}}),  # exact
    (b'{"inputs": [-9223372036854775809]}', {"inputs": [-9223372036854775809]}),
    (b'{"inputs": [NaN, Infinity]}', None),  # literals orjson refuses: json reads them, the checks word them
    (b'{"inputs": ["\\ud800"]}', {"inputs": ["\ud800"]}),
])
def test_bodies_parse_as_the_standard_library_parses_them(body, expected):
    doc = parse_body(body)
    if expected is None:
        assert np.isnan(doc["inputs"][0]) and doc["inputs"][1] == float("inf")
    else:
        assert doc == expected and type(doc) is type(expected)
        assert json.dumps(doc) == json.dumps(json.loads(body))


@pytest.mark.parametrize("body, message", [
    (b"", "JSON Parse error: The document is empty"),
    (b'{"instances": [', "JSON Parse error: Expecting value at offset: 15"),
    (b"[1, 2]", "JSON Value: [1,2] Is not object"),
])
def test_bad_bodies_get_tf_servings_messages(body, message):
    with pytest.raises(ServingError) as error:
        parse_body(body)
    assert error.value.message == message


def test_float32_outputs_are_written_as_their_shortest_decimal():
    values = np.concatenate([np.random.default_rng(0).standard_normal(2000).astype(np.float32),
                             np.array([0.1, 1e20, 3e38, 1e-45, -0.0, 16777217], np.float32)])
    written = json.loads(dumps(predict_response({"scores": values.reshape(-1, 2)}, row_format=False)))["outputs"]
    assert [v for row in written for v in row] == [float(str(v)) for v in values]


def test_rows_of_several_outputs_and_strings():
    outputs = {"classes": np.array([[b"Adelie", b"Gentoo"]], dtype=object),
               "probabilities": np.array([[0.9, 0.1]], np.float32), "n": np.array([3], np.int64),
               "ok": np.array([True])}
    assert json.loads(dumps(predict_response(outputs, row_format=True))) == {"predictions": [
        {"classes": ["Adelie", "Gentoo"], "n": 3, "ok": True, "probabilities": [0.9, 0.1]}]}
    transposed = {"scores": np.arange(6, dtype=np.float32).reshape(2, 3).T}  # not C-contiguous
    assert json.loads(dumps(predict_response(transposed, row_format=False))) == {
        "outputs": [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]}
