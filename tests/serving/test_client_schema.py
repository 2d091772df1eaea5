"""The client types a CSV by the served version's own schema, not the bundled penguins one.

The model here is a regression model whose shipped schema makes every feature optional (as
data.init writes schemas); the CSV lacks `island`, which the bundled penguins schema requires.
"""
import csv
import json
import os

import pytest

from serving import client
from serving.server import ModelServer
from tests.serving.conftest import REGRESSION_MODEL as MODEL

COLUMNS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "sex")


@pytest.fixture(scope="module")
def server(optional_regression_base_path):
    with ModelServer(MODEL, optional_regression_base_path, grpc_port=0, rest_port=0) as srv:
        yield srv


@pytest.fixture
def rows_csv(tmp_path):
    path = tmp_path / "rows.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows([[39.1, 18.7, 181, "male"], [46.1, 13.2, 211, "female"]])
    return str(path)


def _main(server, *extra):
    return client.main(["--rest_api_port", str(server.rest_port), "--port", str(server.grpc_port),
                        "--model-name", MODEL, *extra])


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_the_served_versions_schema_is_read_from_the_output_folder(server, optional_regression_base_path,
                                                                   rows_csv, capsys, protocol):
    output_dir = os.path.dirname(os.path.dirname(optional_regression_base_path))
    assert _main(server, "--protocol", protocol, "--csv", rows_csv, "--output-dir", output_dir) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["features"]["sex"] for line in lines] == ["male", "female"]
    assert all(isinstance(line["prediction"], float) or "predictions" in line["prediction"] for line in lines)


def test_model_base_path_and_schema_flags(server, optional_regression_base_path, rows_csv, capsys):
    assert _main(server, "--csv", rows_csv, "--model-base-path", optional_regression_base_path) == 0
    capsys.readouterr()
    schema = os.path.join(optional_regression_base_path, "1", "assets.extra", "schema.pbtxt")
    assert _main(server, "--csv", rows_csv, "--schema", schema, "--output-dir", "/nonexistent") == 0


@pytest.mark.parametrize("extra, message", [
    (["--model-base-path", "/nowhere/mass"], "no schema of version 1 at /nowhere/mass/1/assets.extra/schema.pbtxt: "
                                             "pass --model-base-path"),
    (["--csv", "/nowhere.csv"], "No such file or directory"),
    (["--schema", __file__], "error: "),
])
def test_bad_input_is_one_line_and_exit_2(server, optional_regression_base_path, capsys, extra, message):
    base = ["--model-base-path", optional_regression_base_path]
    assert _main(server, *base, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_unknown_model_is_the_servers_answer_in_one_line(server, capsys):
    assert client.main(["--rest_api_port", str(server.rest_port), "--model-name", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot tell which version 127.0.0.1 serves: 404") and len(err.splitlines()) == 1
