"""One command-line convention for the project's own commands.

Flags are kebab-case (`--model-name`). A flag that was once spelled snake_case is added with
`add_flag`, which keeps that spelling as a hidden alias (`--model_name`), so scripts written against
earlier releases keep working; `--help` shows only the kebab-case name. Flags that were always
kebab-case get no alias. Only `serving.server` keeps TF Serving's own
snake_case flags: they are TF Serving's contract, not ours.

Every command module exposes `build_parser()`; tests/test_command_line.py reads them all. Flags many
commands repeat live here (`add_model_name`, `add_output_dir`); the metadata-store flags are
runs/store.py's `add_store_arguments`.
"""
from __future__ import annotations

import argparse
from typing import Any


def add_flag(parser, name: str, *more: str, **kwargs: Any) -> argparse.Action:
    """`parser.add_argument(name, ...)` plus the hidden snake_case alias of a kebab-case `name`."""
    if not name.startswith("--") or "_" in name:
        raise ValueError(f"{name}: the project's flags are kebab-case (--model-name)")
    action = parser.add_argument(name, *more, **kwargs)
    snake = "--" + name[2:].replace("-", "_")
    if snake != name:
        alias = {k: v for k, v in kwargs.items() if k not in ("help", "default", "required", "metavar")}
        alias["dest"] = action.dest
        parser.add_argument(snake, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **alias)
    return action


def add_model_name(parser, default=None, help: str = "default: the only model under serving_model/") -> None:
    """--model-name (alias --model_name): which model under serving_model/."""
    add_flag(parser, "--model-name", default=default, metavar="NAME", help=help)


def add_output_dir(parser, help: str = "the pipeline output folder; default ./outputs", **kwargs: Any) -> argparse.Action:
    """--output-dir DIR: the folder a pipeline run writes and every other command reads (runs/layout.py)."""
    return parser.add_argument("--output-dir", metavar="DIR", help=help, **kwargs)
