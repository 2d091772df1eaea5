import json
import shutil

import pytest

from serving import client
from serving.server import ModelServer

MODEL = "penguins"


@pytest.fixture(scope="module")
def server(pipeline_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("client") / MODEL
    shutil.copytree(pipeline_run.serving_dir, base)
    with ModelServer(MODEL, str(base), grpc_port=0, rest_port=0) as srv:
        yield srv


def args(server, *extra):
    """The schema is the served version's, from the folder the server serves."""
    return ["--rest_api_port", str(server.rest_port), "--port", str(server.grpc_port),
            "--model-base-path", server.models.base_path, *extra]


@pytest.mark.parametrize("extra", [["--protocol", "rest"], ["--protocol", "rest", "--format", "raw"],
                                   ["--protocol", "grpc"]])
def test_prints_one_prediction_per_row(server, capsys, extra):
    assert client.main(args(server, "--rows", "3", "--batch-size", "2", *extra)) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3 and lines[0]["features"]["island"] == "Torgersen"
    assert lines[0]["prediction"]["classes"] == "Adelie" and len(lines[0]["prediction"]["probabilities"]) == 3
    if "rest" in extra:  # what a label arriving later refers to: two requests of 2 and 1 rows
        assert [(line["row"]) for line in lines] == [0, 1, 0]
        assert lines[0]["request_id"] == lines[1]["request_id"] != lines[2]["request_id"]


def test_rest_and_grpc_agree(server):
    rest = client.RestClient(server.host, server.rest_port, MODEL)
    grpc_client = client.GrpcClient(server.grpc_target, MODEL)
    features = server.models.current.raw_features
    rows = features.read_csv(client.DEFAULT_CSV, limit=10)
    via_rest = rest.predict_rows(rows)
    via_grpc = client.grpc_predictions(grpc_client.predict_examples(features.serialize(rows)))
    assert [p["classes"] for p in via_rest] == [p["classes"] for p in via_grpc]
    rest.close()
    grpc_client.close()


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_load_mode_reports_zero_errors(server, capsys, protocol):
    code = client.main(args(server, "--protocol", protocol, "--sample", "--rows", "50", "--shift",
                            "bill_length_mm=3", "--requests", "60", "--concurrency", "4"))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "60 requests (60 rows)" in out and "errors: 0" in out


def test_server_errors_are_reported(server, capsys):
    assert client.main(args(server, "--model-name", "nope", "--rows", "1")) == 1
    assert "404: Could not find any versions of model nope" in capsys.readouterr().err
    assert client.main(args(server, "--protocol", "grpc", "--model-name", "nope", "--rows", "1")) == 1
    assert "NOT_FOUND" in capsys.readouterr().err
    assert client.main(args(server, "--model-version", "99", "--rows", "1")) == 2  # no such version on disk
    assert client.main(args(server, "--model-version", "99", "--rows", "1", "--schema",
                            server.models.current.path + "/assets.extra/schema.pbtxt")) == 1
    assert "404: Servable not found" in capsys.readouterr().err


def test_run_load_counts_failures():
    def send(i):
        if i % 3 == 0:
            raise RuntimeError("boom")
        return 2
    result = client.run_load(send, 9, 3)
    assert result.requests == 9 and result.rows == 12 and len(result.errors) == 3
    assert "errors: 3" in result.summary()


def test_rest_client_recovers_after_a_refused_connection():
    """A failed connect must not leave a half-used connection behind (CannotSendRequest)."""
    import http.server
    import socket
    import threading

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rest = client.RestClient("127.0.0.1", port, "penguins", timeout=5)
    with pytest.raises(ConnectionRefusedError):
        rest.request("GET", "/v1/models/penguins")

    class Status(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            body = json.dumps({"model_version_status": [{"version": "1", "state": "AVAILABLE"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", port), Status)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        assert rest.request("GET", "/v1/models/penguins")["model_version_status"][0]["state"] == "AVAILABLE"
    finally:
        httpd.shutdown()
        httpd.server_close()
