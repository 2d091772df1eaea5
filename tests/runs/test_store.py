import argparse
import os
import sqlite3

import pytest

from runs import metadata
from runs.store import (
    MetadataConfig,
    StoreError,
    add_store_arguments,
    open_store,
    output_dir_from_args,
    read_config_file,
    store_from_args,
)
from tests.mlmd_fake import FakeTfxStore


def _args(*argv):
    parser = argparse.ArgumentParser()
    add_store_arguments(parser)
    return parser.parse_args(argv)


def test_default_is_sqlite_in_the_output_folder(tmp_path):
    config = store_from_args(_args("--output-dir", str(tmp_path)))
    assert config == MetadataConfig(sqlite_path=str(tmp_path / "metadata.sqlite"))
    assert config.describe() == str(tmp_path / "metadata.sqlite")


def test_flags_override_the_config_file_which_overrides_defaults(tmp_path):
    team = tmp_path / "team.yaml"
    team.write_text("mysql_host: mlmd.internal\nmysql_port: 3307\nmysql_user: team\ndataset: ignored/here\n"
                    f"output_dir: {tmp_path / 'from-file'}\n")
    config = store_from_args(_args("--config", str(team), "--mysql-user", "me"))
    assert (config.mysql_host, config.mysql_port, config.mysql_user) == ("mlmd.internal", 3307, "me")
    assert config.describe() == "mysql://me@mlmd.internal:3307/mlmd"
    assert output_dir_from_args(_args("--config", str(team))) == str(tmp_path / "from-file")
    assert output_dir_from_args(_args("--config", str(team), "--output-dir", "x")) == os.path.abspath("x")


def test_sqlite_flag_names_the_store_and_its_folder_is_the_output(tmp_path):
    args = _args("--sqlite", str(tmp_path / "runs" / "m.sqlite"))
    assert store_from_args(args).sqlite_path == str(tmp_path / "runs" / "m.sqlite")
    assert output_dir_from_args(args) == str(tmp_path / "runs")


def test_bad_config_files_are_one_clear_error(tmp_path):
    with pytest.raises(StoreError, match="config file not found"):
        read_config_file(str(tmp_path / "nope.yaml"))
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(StoreError, match="must be a mapping"):
        read_config_file(str(tmp_path / "list.yaml"))
    (tmp_path / "port.yaml").write_text("mysql_host: h\nmysql_port: many\n")
    with pytest.raises(StoreError, match="mysql_port: expected an integer, got 'many'"):
        store_from_args(_args("--config", str(tmp_path / "port.yaml")))


def test_readers_never_create_a_store(tmp_path):
    config = MetadataConfig(sqlite_path=str(tmp_path / "out" / "metadata.sqlite"))
    with pytest.raises(StoreError, match="no metadata store at .*run the pipeline first"):
        open_store(config, readonly=True)
    assert not os.path.exists(tmp_path / "out")


def test_writers_create_the_store_and_readers_then_see_it(tmp_path):
    config = MetadataConfig(sqlite_path=str(tmp_path / "out" / "metadata.sqlite"))
    assert metadata.pipeline_runs(open_store(config)) == []  # made, with its folder
    FakeTfxStore(config.sqlite_path).run("run-1")
    assert metadata.pipeline_runs(open_store(config, readonly=True)) == ["run-1"]


def test_a_file_that_is_not_a_store_is_one_line_without_sql_and_left_alone(tmp_path):
    path = tmp_path / "metadata.sqlite"
    path.write_text("not a database")
    with pytest.raises(StoreError) as error:
        open_store(MetadataConfig(sqlite_path=str(path)))
    message = str(error.value)
    assert message == f"{path} is not an ML Metadata store (file is not a database)"
    assert path.read_text() == "not a database"


def test_a_writer_never_adds_its_tables_to_another_database(tmp_path):
    path = tmp_path / "notes.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="without ML Metadata's tables"):
        open_store(MetadataConfig(sqlite_path=str(path)))
    assert path.read_bytes() == before


def test_an_empty_file_is_refused_by_readers_and_made_a_store_by_writers(tmp_path):
    path = tmp_path / "metadata.sqlite"
    path.write_bytes(b"")
    with pytest.raises(StoreError, match=r"is not an ML Metadata store \(the file is empty\)"):
        open_store(MetadataConfig(sqlite_path=str(path)), readonly=True)
    assert metadata.pipeline_runs(open_store(MetadataConfig(sqlite_path=str(path)))) == []


def test_an_unreachable_mysql_server_names_itself_and_what_to_check():
    config = MetadataConfig(mysql_host="127.0.0.1", mysql_port=1, mysql_user="u")
    with pytest.raises(StoreError, match=r"mysql://u@127\.0\.0\.1:1/mlmd \(is the server up"):
        open_store(config, readonly=True)
