"""REST API of the local server, against TF Serving's documented shapes and codes."""
import base64
import json
import logging
import shutil

import pytest
import requests

from serving.raw_features import RawFeatures
from serving.server import ModelServer

MODEL = "penguins"
ROWS = [
    {"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181,
     "body_mass_g": 3750, "sex": "male"},
    {"island": "Biscoe", "bill_length_mm": 46.1, "bill_depth_mm": 13.2, "flipper_length_mm": 211,
     "body_mass_g": 4500, "sex": None},
]


@pytest.fixture(scope="module")
def server(pipeline_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("rest") / MODEL
    shutil.copytree(pipeline_run.serving_dir, base)
    srv = ModelServer(MODEL, str(base), grpc_port=0, rest_port=0, max_request_bytes=64 * 1024)
    with srv:
        yield srv


@pytest.fixture(scope="module")
def examples(server):
    return server.models.current.raw_features.serialize(ROWS)


def _b64(examples):
    return [{"b64": base64.b64encode(e).decode()} for e in examples]


def post(server, path, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(server.rest_url + path, data=data, timeout=30)


def test_model_status(server):
    r = requests.get(f"{server.rest_url}/v1/models/{MODEL}", timeout=30)
    assert r.status_code == 200
    version = str(server.models.current.version)
    assert r.json() == {"model_version_status": [
        {"version": version, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert requests.get(f"{server.rest_url}/v1/models/{MODEL}/versions/{version}", timeout=30).status_code == 200


def test_classify_answers_tf_servings_shape_and_agrees_with_predict(server):
    """TF Serving's REST classify: {"result": [[[label, score], ...] per example]}."""
    r = post(server, f"/v1/models/{MODEL}:classify", {"signature_name": "classification", "examples": ROWS})
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"]
    result = r.json()["result"]
    predictions = post(server, f"/v1/models/{MODEL}:predict", {"instances": ROWS}).json()["predictions"]
    assert len(result) == len(ROWS)
    for classes, prediction in zip(result, predictions):
        assert [label for label, _ in classes] == ["Adelie", "Chinstrap", "Gentoo"]
        assert [score for _, score in classes] == pytest.approx(prediction["probabilities"], abs=1e-6)
        assert max(classes, key=lambda c: c[1])[0] == prediction["classes"]


def test_classify_merges_the_context_into_each_example(server):
    shared = {k: v for k, v in ROWS[0].items() if k != "sex"}
    both = post(server, f"/v1/models/{MODEL}:classify", {"signature_name": "classification", "context": shared,
                                                         "examples": [{"sex": "male"}, {**ROWS[1]}]}).json()
    alone = post(server, f"/v1/models/{MODEL}:classify",
                 {"signature_name": "classification", "examples": [{**shared, "sex": "male"}, ROWS[1]]}).json()
    assert both == alone


def test_metadata_has_signature_defs(server):
    version = server.models.current.version
    for path in (f"/v1/models/{MODEL}/metadata", f"/v1/models/{MODEL}/versions/{version}/metadata"):
        doc = requests.get(server.rest_url + path, timeout=30).json()
        assert doc["model_spec"] == {"name": MODEL, "version": str(version), "signature_name": ""}
        sig = doc["metadata"]["signature_def"]["signature_def"]["serving_default"]
        assert sig["inputs"]["examples"]["dtype"] == "DT_STRING"
        assert set(sig["outputs"]) == {"classes", "probabilities"}
        assert sig["method_name"] == "tensorflow/serving/predict"


def test_row_format_with_b64_examples(server, examples):
    r = post(server, f"/v1/models/{MODEL}:predict", {"instances": _b64(examples)})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert len(predictions) == 2
    assert predictions[0]["classes"] == "Adelie" and predictions[1]["classes"] == "Gentoo"
    assert all(abs(sum(p["probabilities"]) - 1) < 1e-4 for p in predictions)


def test_all_request_forms_agree(server, examples):
    version = server.models.current.version
    rows = post(server, f"/v1/models/{MODEL}:predict", {"instances": _b64(examples)}).json()["predictions"]
    named = post(server, f"/v1/models/{MODEL}/versions/{version}:predict",
                 {"signature_name": "serving_default",
                  "instances": [{"examples": e} for e in _b64(examples)]}).json()["predictions"]
    raw = post(server, f"/v1/models/{MODEL}:predict", {"instances": ROWS}).json()["predictions"]
    columnar = post(server, f"/v1/models/{MODEL}:predict", {"inputs": {"examples": _b64(examples)}}).json()
    raw_columnar = post(server, f"/v1/models/{MODEL}:predict",
                        {"inputs": {k: [r[k] for r in ROWS] for k in ROWS[0]}}).json()
    assert rows == named == raw
    assert columnar == raw_columnar
    assert columnar["outputs"]["classes"] == [p["classes"] for p in rows]
    assert columnar["outputs"]["probabilities"] == [p["probabilities"] for p in rows]


def test_other_signature_by_name(server):
    features = RawFeatures(server.models.current.raw_features.schema, environment="TRAINING")
    labelled = features.serialize([{**ROWS[0], "species": "Adelie", "year": 2007}])
    r = post(server, f"/v1/models/{MODEL}:predict",
             {"signature_name": "transform_features", "inputs": {"examples": _b64(labelled)}})
    assert r.status_code == 200, r.text
    assert set(r.json()["outputs"]) == set(server.models.current.signature_defs["transform_features"].outputs)


BAD_REQUESTS = [
    # (name, path, body, status, fragment of the error)
    ("malformed JSON", f"/v1/models/{MODEL}:predict", b'{"instances": [', 400, "JSON Parse error"),
    ("empty body", f"/v1/models/{MODEL}:predict", b"", 400, "The document is empty"),
    ("not an object", f"/v1/models/{MODEL}:predict", b"[1, 2]", 400, "Is not object"),
    ("no instances", f"/v1/models/{MODEL}:predict", {"foo": 1}, 400, "Missing 'inputs' or 'instances' key"),
    ("both keys", f"/v1/models/{MODEL}:predict", {"instances": [1], "inputs": [1]}, 400, "only one of"),
    ("empty instances", f"/v1/models/{MODEL}:predict", {"instances": []}, 400, "No values in 'instances'"),
    ("unknown model", "/v1/models/nope:predict", {"instances": ROWS}, 404,
     "Servable not found for request: Latest(nope)"),
    ("unknown version", f"/v1/models/{MODEL}/versions/1:predict", {"instances": ROWS}, 404,
     f"Servable not found for request: Specific({MODEL}, 1)"),
    ("wrong signature", f"/v1/models/{MODEL}:predict", {"signature_name": "nope", "instances": ROWS}, 400,
     'Serving signature name: "nope" not found'),
    ("missing feature", f"/v1/models/{MODEL}:predict",
     {"instances": [{k: v for k, v in ROWS[0].items() if k != "island"}]}, 400, "missing required feature 'island'"),
    ("extra feature", f"/v1/models/{MODEL}:predict", {"instances": [{**ROWS[0], "colour": "grey"}]}, 400,
     "unknown feature(s) ['colour']"),
    ("wrong type", f"/v1/models/{MODEL}:predict", {"instances": [{**ROWS[0], "body_mass_g": "heavy"}]}, 400,
     "feature 'body_mass_g' expects an integer"),
    ("wrong tensor type", f"/v1/models/{MODEL}:predict", {"instances": [1.5]}, 400,
     "is not of expected type: string"),
    ("bad base64", f"/v1/models/{MODEL}:predict", {"instances": [{"b64": "***"}]}, 400, "Unable to base64 decode"),
    ("not a tf.Example", f"/v1/models/{MODEL}:predict", {"instances": [{"b64": "aGVsbG8="}]}, 400,
     "examples: instance 0 is not a serialized tf.Example"),
    ("bytes not utf-8 nor a tf.Example", f"/v1/models/{MODEL}:predict", {"instances": [{"b64": "//4AZ2FyYmFnZQ=="}]},
     400, "examples: instance 0 is not a serialized tf.Example"),
    ("NaN raw feature", f"/v1/models/{MODEL}:predict", b'{"instances": [{"island": "Dream", "bill_length_mm": NaN}]}',
     400, "instance 0: feature 'bill_length_mm' is nan; non-finite numbers are refused"),
    ("Infinity raw feature", f"/v1/models/{MODEL}:predict",
     b'{"instances": [{"island": "Dream", "bill_depth_mm": -Infinity}]}', 400, "feature 'bill_depth_mm' is -inf"),
    ("overflowing float", f"/v1/models/{MODEL}:predict", b'{"instances": [{"island": "Dream", "bill_depth_mm": 1e400}]}',
     400, "feature 'bill_depth_mm' is inf"),
    ("NaN inside a b64 tf.Example", f"/v1/models/{MODEL}:predict", "NAN_EXAMPLE", 400,
     "examples: instance 0: feature 'bill_length_mm' is nan"),
    ("400-digit integer", f"/v1/models/{MODEL}:predict",
     b'{"instances": [{"island": "Dream", "body_mass_g": ' + b"9" * 400 + b"}]}", 400,
     "feature 'body_mass_g' = an integer of about 401 digits does not fit a 64-bit integer"),
    ("5000-digit integer", f"/v1/models/{MODEL}:predict", b'{"instances": [' + b"9" * 5000 + b"]}", 400,
     "JSON Parse error: number too long (Exceeds the limit (4300)"),
    ("lone surrogate in a feature", f"/v1/models/{MODEL}:predict", b'{"instances": [{"island": "\\ud800"}]}', 400,
     "feature 'island' is not valid Unicode"),
    ("lone surrogate in a tensor", f"/v1/models/{MODEL}:predict", b'{"instances": ["\\udfff"]}', 400,
     "string is not valid Unicode"),
    ("invalid UTF-8 body", f"/v1/models/{MODEL}:predict", b'{"instances": ["\xff\xfe"]}', 400,
     "Invalid encoding in string"),
    ("JSON nested 30000 deep", f"/v1/models/{MODEL}:predict", b'{"instances": ' + b"[" * 30000 + b"]" * 30000 + b"}",
     400, "JSON Parse error: nested deeper than 64 levels"),
    ("tensor nested 500 deep", f"/v1/models/{MODEL}:predict", b'{"instances": ' + b"[" * 500 + b'"a"' + b"]" * 500 + b"}",
     400, "nested deeper than 64 levels"),
    ("2-D tensor of examples", f"/v1/models/{MODEL}:predict", "2D_EXAMPLES", 400,
     "examples must be a vector of serialized tf.Example strings, got shape [2, 1]"),
    ("classify on the predict signature", f"/v1/models/{MODEL}:classify", {"examples": ROWS}, 400,
     "Was: tensorflow/serving/predict; this model's classification signature is 'classification'"),
    ("regress on a classifier", f"/v1/models/{MODEL}:regress", {"signature_name": "classification",
                                                               "examples": ROWS}, 400,
     "this model has no regression signature"),
    ("classify without examples", f"/v1/models/{MODEL}:classify", {"signature_name": "classification",
                                                                  "instances": ROWS}, 400, "Missing 'examples' key"),
    ("classify with an unknown feature", f"/v1/models/{MODEL}:classify",
     {"signature_name": "classification", "examples": [{"wingspan": 3}]}, 400, "unknown feature(s) ['wingspan']"),
    ("classify with NaN", f"/v1/models/{MODEL}:classify",
     json.dumps({"signature_name": "classification", "examples": [{**ROWS[0], "bill_length_mm": float("nan")}]}
                ).encode(), 400, "feature 'bill_length_mm' is nan"),
    ("malformed path", "/v1/nothing", {}, 400, "Malformed request: POST /v1/nothing"),
    ("oversized body", f"/v1/models/{MODEL}:predict", {"instances": ROWS * 400}, 413, "exceeds the limit"),
]


@pytest.mark.parametrize("name, path, body, status, fragment", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_input_gets_tf_serving_style_4xx_and_server_keeps_serving(server, examples, name, path, body,
                                                                       status, fragment, caplog):
    if body == "NAN_EXAMPLE":
        example = server.models.current.raw_features.to_example(ROWS[0])
        example.features.feature["bill_length_mm"].float_list.value[0] = float("nan")
        body = {"instances": _b64([example.SerializeToString()])}
    elif body == "2D_EXAMPLES":
        body = {"instances": [[e] for e in _b64(examples)]}
    caplog.set_level(logging.DEBUG)
    r = post(server, path, body)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    error = r.json()
    assert list(error) == ["error"] and fragment in error["error"]
    assert post(server, f"/v1/models/{MODEL}:predict", {"instances": _b64(examples)}).status_code == 200
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING or rec.exc_info]  # no traceback


def test_status_errors(server):
    assert requests.get(f"{server.rest_url}/v1/models/nope", timeout=30).json() == {
        "error": "Could not find any versions of model nope"}
    r = requests.get(f"{server.rest_url}/v1/models/{MODEL}/versions/1", timeout=30)
    assert r.status_code == 404 and "Could not find version 1" in r.json()["error"]
    assert requests.get(f"{server.rest_url}/v1/models", timeout=30).status_code == 400


def test_prometheus_metrics(server, examples):
    post(server, f"/v1/models/{MODEL}:predict", {"instances": _b64(examples)})
    post(server, "/v1/models/nope:predict", {"instances": ROWS})
    r = requests.get(server.rest_url + "/monitoring/prometheus/metrics", timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    text = r.text
    version = server.models.current.version
    assert (f'serving_requests_total{{api="predict",entrypoint="rest",model="{MODEL}",signature="serving_default",'
            f'status="OK",version="{version}"}}') in text
    assert 'model="_unknown",signature="",status="NOT_FOUND"' in text
    assert "serving_request_latency_seconds_bucket" in text
    assert f'serving_model_loads_total{{model="{MODEL}",outcome="ok",version="{version}"}} 1.0' in text
    served = [line for line in text.splitlines() if line.startswith(f'serving_model_version{{model="{MODEL}"}}')]
    assert len(served) == 1 and float(served[0].split()[-1]) == version


def test_tf_serving_metric_names_for_its_dashboards(server, examples):
    post(server, f"/v1/models/{MODEL}:predict", {"instances": _b64(examples)})
    text = requests.get(server.rest_url + "/monitoring/prometheus/metrics", timeout=30).text
    lines = text.splitlines()
    assert "# TYPE :tensorflow:serving:request_count untyped" in lines
    [count] = [line for line in lines if line.startswith(f':tensorflow:serving:request_count{{model_name="{MODEL}",'
                                                        f'status="OK"}}')]
    assert float(count.split()[-1]) >= 1  # no _total suffix, as TF Serving exposes it
    bucket = {'API="predict"', 'entrypoint="REST"', f'model_name="{MODEL}"', 'le="10.0"'}  # microseconds
    assert any(line.startswith(":tensorflow:serving:request_latency_bucket{")
               and bucket <= set(line.split("{", 1)[1].split("}", 1)[0].split(",")) for line in lines)
    assert any(line.startswith(f':tensorflow:serving:runtime_latency_count{{API="predict",model_name="{MODEL}",'
                               f'runtime="TF2"}}') for line in lines)
