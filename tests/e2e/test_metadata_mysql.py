"""A shared MySQL-protocol metadata store: the pipeline records its run in MariaDB; inspect, the
report, the drift monitor and the smoke test read it.

Needs a server on MLMD_MYSQL_HOST:MLMD_MYSQL_PORT (default 127.0.0.1:3306) with a user that may
create `mlmd%` databases (scripts/ci_services.sh sets one up); skipped when none is reachable.
"""
import io
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from monitoring import drift
from pipeline.config import load_config
from runs import exit_codes, inspect
from serving import smoke, synthetic_traffic
from serving.client import RestClient
from serving.raw_features import RawFeatures
from serving.server import ModelServer

pytestmark = [pytest.mark.mysql, pytest.mark.e2e]

HOST = os.environ.get("MLMD_MYSQL_HOST", "127.0.0.1")
PORT = int(os.environ.get("MLMD_MYSQL_PORT", "3306"))
USER = os.environ.get("MLMD_MYSQL_USER", "mlmd")
PASSWORD = os.environ.get("MLMD_MYSQL_PASSWORD", "mlmd")
COMPONENTS = ["CsvExampleGen", "ImportSchemaGen", "StatisticsGen", "ExampleValidator", "Transform",
              "latest_blessed_model_resolver", "latest_hyperparameters_resolver", "Trainer", "Evaluator", "Pusher"]


@pytest.fixture(scope="module")
def database():
    """A fresh database per session (MLMD creates it), dropped afterwards when a client is at hand."""
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError:
        pytest.skip(f"no MySQL/MariaDB server on {HOST}:{PORT} (scripts/ci_services.sh starts one)")
    name = f"mlmd_test_{os.getpid()}_{int(time.time())}"
    yield name
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client:
        subprocess.run([client, "-h", HOST, "-P", str(PORT), "-u", USER, f"-p{PASSWORD}",
                        "-e", f"DROP DATABASE IF EXISTS `{name}`"], capture_output=True, timeout=60)


def _flags(database, password=PASSWORD):
    return ["--mysql-host", HOST, "--mysql-port", str(PORT), "--mysql-database", database,
            "--mysql-user", USER, "--mysql-password", password]


@pytest.fixture(scope="module")
def mysql_run(database, tmp_path_factory):
    import local_runner

    output = tmp_path_factory.mktemp("mysql")
    config = load_config(None, {"output_dir": str(output), "mysql_host": HOST, "mysql_port": PORT,
                                "mysql_database": database, "mysql_user": USER, "mysql_password": PASSWORD})
    assert config.metadata.describe() == f"mysql://{USER}@{HOST}:{PORT}/{database}"
    out = io.StringIO()
    assert local_runner.run(config, out=out) == 0, out.getvalue()
    assert not os.path.exists(output / "metadata.sqlite")  # nothing went to the default SQLite store
    return config


def test_inspect_runs_reads_the_mysql_store(mysql_run, database, capsys):
    assert inspect.main(["runs", "--json", *_flags(database)]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert run["pipeline"] == mysql_run.pipeline_name
    assert [c["component"] for c in run["components"]] == COMPONENTS
    assert {c["state"] for c in run["components"]} == {"complete"}


def test_lineage_and_report_from_the_mysql_store(mysql_run, database, tmp_path, capsys):
    assert inspect.main(["lineage", *_flags(database)]) == 0
    out = capsys.readouterr().out
    assert os.path.join(mysql_run.dataset.folder, "*.csv") in out
    assert mysql_run.serving_dir in out

    path = tmp_path / "report.html"
    assert inspect.main(["report", "--out", str(path), *_flags(database)]) == 0
    assert capsys.readouterr().out.strip() == str(path)
    assert 'id="evaluation"' in path.read_text()


@pytest.fixture(scope="module")
def served_traffic(mysql_run):
    """200 rows served and logged where the monitor looks by default (<output>/request_log/<model>)."""
    rows = RawFeatures.from_file(os.path.join(mysql_run.dataset.folder, "schema.pbtxt")).read_csv(
        mysql_run.dataset.csv_files[0])
    with ModelServer(mysql_run.model_name, mysql_run.serving_dir, grpc_port=0, rest_port=0,
                     request_log_dir=mysql_run.layout.request_log_dir(mysql_run.model_name)) as server:
        client = RestClient(server.host, server.rest_port, mysql_run.model_name)
        sample = synthetic_traffic.sample_rows(rows, 200, seed=3)
        for start in range(0, len(sample), 20):
            client.predict_rows(sample[start:start + 20])
        client.close()


def test_monitor_finds_the_training_baseline_in_the_mysql_store(mysql_run, served_traffic, database, tmp_path,
                                                                 capsys):
    """The drift monitor opens the same store the run wrote: no SQLite file exists at all."""
    code = drift.main(["--output-dir", mysql_run.output_dir, "--report-dir", str(tmp_path), *_flags(database)])
    out = capsys.readouterr().out
    assert code in (exit_codes.OK, exit_codes.FOUND), out
    [result] = [json.load(open(tmp_path / p)) for p in os.listdir(tmp_path) if p.endswith(".json")]
    assert result["rows"] == 200 and "MLMD lineage" in result["baseline"]["source"]
    assert result["baseline"]["statistics"].startswith(mysql_run.pipeline_root)
    assert not os.path.exists(mysql_run.layout.metadata_sqlite)


def test_smoke_sends_the_rows_the_model_was_trained_on_found_in_the_mysql_store(mysql_run, database, capsys):
    assert smoke.main(["--output-dir", mysql_run.output_dir, "--rows", "8", *_flags(database)]) == exit_codes.OK
    assert "PASSED" in capsys.readouterr().out


def test_monitor_without_the_store_flags_says_where_it_looked(mysql_run, served_traffic, tmp_path, capsys):
    code = drift.main(["--output-dir", mysql_run.output_dir, "--report-dir", str(tmp_path), "--min-rows", "1"])
    assert code == exit_codes.BAD_INPUT
    assert f"no metadata store at {mysql_run.layout.metadata_sqlite}" in capsys.readouterr().err


def test_wrong_password_is_one_line(database, capsys):
    assert inspect.main(["runs", *_flags(database, password="wrong")]) == exit_codes.BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot open the metadata store mysql://{USER}@{HOST}:{PORT}/{database}")
    assert err.count("\n") == 1
