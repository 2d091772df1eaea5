"""The ML Metadata store: where it is (SQLite under the output folder, or a shared MySQL
server), and the one way every command opens it.

The runner, `inspect`, the report, the drift monitor, the notebook and the benchmarks
all build their connection here, so a team on a MySQL store can use every one of them.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sqlite3
from dataclasses import dataclass
from typing import Any, Dict, Optional

import yaml

from runs.cli import add_output_dir
from runs.layout import DEFAULT_OUTPUT_DIR, OutputLayout

SQLITE_READWRITE_OPENCREATE = 3  # metadata_store_pb2.SqliteMetadataSourceConfig, without importing MLMD here
MLMD_TABLE = "MLMDEnv"  # the table every ML Metadata schema version has (it holds the schema version)


class StoreError(ValueError):
    """The store cannot be opened (missing file, server down, wrong password); one line says why."""


def read_config_file(path: str, error=StoreError) -> Dict[str, Any]:
    """The YAML configuration file every command accepts with --config: a mapping of keys to values."""
    if not os.path.isfile(path):
        raise error(f"config file not found: {path}")
    try:
        with open(path) as f:
            loaded = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise error(f"{path} is not valid YAML: {e}") from e
    if not isinstance(loaded, dict):
        raise error(f"{path} must be a mapping of keys to values")
    return loaded


@dataclass(frozen=True)
class MetadataConfig:
    """Where ML Metadata lives: an embedded SQLite file (default) or a shared MySQL server."""

    sqlite_path: Optional[str] = None
    mysql_host: Optional[str] = None
    mysql_port: int = 3306
    mysql_database: str = "mlmd"
    mysql_user: str = "root"
    mysql_password: str = ""

    @classmethod
    def for_output(cls, output_dir: str, **mysql) -> "MetadataConfig":
        """The configured MySQL store, else <output>/metadata.sqlite."""
        config = cls(**{k: v for k, v in mysql.items() if v not in (None, "")})
        if config.mysql_host or config.sqlite_path:
            return config
        return dataclasses.replace(config, sqlite_path=OutputLayout(output_dir).metadata_sqlite)

    def connection_config(self, readonly: bool = False):
        from ml_metadata.proto import metadata_store_pb2

        config = metadata_store_pb2.ConnectionConfig()
        if self.mysql_host:
            config.mysql.host = self.mysql_host
            config.mysql.port = self.mysql_port
            config.mysql.database = self.mysql_database
            config.mysql.user = self.mysql_user
            config.mysql.password = self.mysql_password
        else:
            config.sqlite.filename_uri = self.sqlite_path
            config.sqlite.connection_mode = (metadata_store_pb2.SqliteMetadataSourceConfig.READONLY if readonly
                                             else SQLITE_READWRITE_OPENCREATE)
        return config

    def describe(self) -> str:
        if self.mysql_host:
            return f"mysql://{self.mysql_user}@{self.mysql_host}:{self.mysql_port}/{self.mysql_database}"
        return self.sqlite_path or ""


def check_sqlite_store(path: str, readonly: bool) -> None:
    """Refuses a file that is not an ML Metadata store, before MLMD reads it ("Error when executing
    query") or, worse, writes its tables into someone else's database."""
    if not os.path.isfile(path):
        return
    if os.path.getsize(path) == 0:
        if readonly:
            raise StoreError(f"{path} is not an ML Metadata store (the file is empty): "
                             "point --output-dir or --sqlite at a run's output")
        return  # nothing to lose: MLMD makes it a store
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.OperationalError as e:
        if "locked" in str(e):  # a run is writing it: a store, busy; MLMD waits for it
            return
        raise StoreError(f"{path} is not an ML Metadata store ({e})") from None
    except sqlite3.Error as e:
        raise StoreError(f"{path} is not an ML Metadata store ({e})") from None
    if MLMD_TABLE not in tables:
        raise StoreError(f"{path} is not an ML Metadata store (an SQLite database without ML Metadata's "
                         "tables): point --output-dir or --sqlite at a run's output")


def open_store(config: MetadataConfig, readonly: bool = False):
    """An MLMD MetadataStore. Readers pass readonly=True: a wrong SQLite path is an error, not a new empty store."""
    from ml_metadata import metadata_store

    if not config.mysql_host:
        if readonly and not os.path.isfile(config.sqlite_path):
            raise StoreError(f"no metadata store at {config.sqlite_path}: run the pipeline first (make run), "
                             f"or point --output-dir or --sqlite at a run's output")
        check_sqlite_store(config.sqlite_path, readonly)
        if not readonly:
            try:
                os.makedirs(os.path.dirname(os.path.abspath(config.sqlite_path)), exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot open the metadata store {config.describe()}: {e}") from None
    try:
        return metadata_store.MetadataStore(config.connection_config(readonly=readonly))
    except RuntimeError as e:  # MLMD reports connection and schema problems as RuntimeError
        detail = str(e).strip().splitlines()[0].split(" query:  ")[0].strip()  # never MLMD's SQL
        hint = " (is the server up, and are the user and password right?)" if config.mysql_host else ""
        raise StoreError(f"cannot open the metadata store {config.describe()}{hint}: {detail}") from None


STORE_KEYS = tuple(f.name for f in dataclasses.fields(MetadataConfig))


def add_store_arguments(parser: argparse.ArgumentParser, output_dir_help: str = "the run output folder") -> None:
    """--config, --output-dir, --sqlite and --mysql-*: the same store flags on every command that reads runs."""
    group = parser.add_argument_group("metadata store (default: <output-dir>/metadata.sqlite)")
    group.add_argument("--config", metavar="FILE", help="pipeline YAML config (its sqlite_path/mysql_* keys count)")
    add_output_dir(group, output_dir_help)
    group.add_argument("--sqlite", metavar="PATH", help="an ML Metadata SQLite file")
    group.add_argument("--mysql-host", metavar="HOST", help="a shared MySQL/MariaDB ML Metadata store")
    group.add_argument("--mysql-port", type=int, metavar="PORT", help="default 3306")
    group.add_argument("--mysql-database", metavar="NAME", help="default mlmd")
    group.add_argument("--mysql-user", metavar="USER", help="default root")
    group.add_argument("--mysql-password", metavar="PASSWORD", help="default empty")


def output_dir_from_args(args, default: str = DEFAULT_OUTPUT_DIR) -> str:
    """--output-dir, else the config file's output_dir, else --sqlite's folder, else the default."""
    from_file = read_config_file(args.config) if getattr(args, "config", None) else {}
    if getattr(args, "output_dir", None):
        return os.path.abspath(args.output_dir)
    if from_file.get("output_dir"):
        return os.path.abspath(str(from_file["output_dir"]))
    if getattr(args, "sqlite", None):
        return os.path.dirname(os.path.abspath(args.sqlite))
    return os.path.abspath(default)


def store_from_args(args, default_output_dir: str = DEFAULT_OUTPUT_DIR) -> MetadataConfig:
    """The store the flags name: flags < config file keys < defaults, as the pipeline reads them."""
    values = {k: v for k, v in (read_config_file(args.config) if getattr(args, "config", None) else {}).items()
              if k in STORE_KEYS}
    flags = {"sqlite_path": getattr(args, "sqlite", None) and os.path.abspath(args.sqlite),
             **{k: getattr(args, k, None) for k in STORE_KEYS if k.startswith("mysql_")}}
    values.update({k: v for k, v in flags.items() if v is not None})
    if values.get("mysql_port") is not None:
        try:
            values["mysql_port"] = int(values["mysql_port"])
        except (TypeError, ValueError):
            raise StoreError(f"mysql_port: expected an integer, got {values['mysql_port']!r}") from None
    return MetadataConfig.for_output(output_dir_from_args(args, default_output_dir),
                                     **{k: (v if k == "mysql_port" else str(v)) for k, v in values.items()})
