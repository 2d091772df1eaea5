"""Every command of the project speaks one command-line convention (runs/cli.py), read from its parser.

- A module that builds an argparse parser (its source says `ArgumentParser(`) exposes
  `build_parser() -> argparse.ArgumentParser`, so this test (and the docs) can read it without running it.
- Every option a parser shows in --help is kebab-case (`--model-name`).
- A hidden snake_case option (`--model_name`) is the alias of a kebab twin: it exists only where a
  flag was renamed, so older scripts keep working, and it parses exactly as the twin does.

The exceptions, on purpose:
- `serving.server` (serving/server/model_server.py) takes TF Serving's own flags exactly
  (`--model_name`, `--model_base_path`, `--rest_api_port`, `--enable_batching`, ...): they are TF
  Serving's contract, so a deployment script works against either server. The flags the project
  adds there (`--request_log_dir`, `--grace_period_seconds`, ...) follow the same spelling.
- `serving.client --rest_api_port` mirrors the server flag of the same name (its `--port` is one word).
"""
import argparse
import importlib
import os
import re
from typing import Dict, Iterator, List, Tuple

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("pipeline", "runs", "models", "serving", "data", "benchmarks", "monitoring")
KEBAB = re.compile(r"^(-[a-zA-Z]|--[a-z0-9]+(-[a-z0-9]+)*)$")
ALL = "every flag"
EXCEPTIONS = {
    "serving.server.model_server": ALL,
    "serving.client": {"--rest_api_port"},
}


def _project_modules() -> Dict[str, str]:
    """Module name -> path: the top-level runners and every module of the project's packages."""
    files = {name[:-3]: os.path.join(REPO_ROOT, name) for name in os.listdir(REPO_ROOT)
             if name.endswith(".py") and name != "setup.py"}
    for package in PACKAGES:
        for root, _, names in os.walk(os.path.join(REPO_ROOT, package)):
            for name in names:
                if name.endswith(".py") and name != "__init__.py":
                    path = os.path.join(root, name)
                    files[os.path.relpath(path, REPO_ROOT)[:-3].replace(os.sep, ".")] = path
    return files


COMMANDS = sorted(m for m, path in _project_modules().items() if "ArgumentParser(" in open(path).read())
CHECKED = [m for m in COMMANDS if EXCEPTIONS.get(m) != ALL]


def _parsers(parser: argparse.ArgumentParser, prog: str) -> Iterator[Tuple[str, argparse.ArgumentParser]]:
    """The parser and its subcommands' parsers (runs.inspect runs, artifacts, ...)."""
    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{prog} {name}")


def _all_parsers(module: str) -> List[Tuple[str, argparse.ArgumentParser]]:
    build = getattr(importlib.import_module(module), "build_parser", None)
    assert build is not None, f"{module} builds an argparse parser: expose it as build_parser()"
    return list(_parsers(build(), module))


def _sample(action: argparse.Action, flag: str) -> List[str]:
    """Command-line words that give `flag` a value its type accepts."""
    if action.nargs == 0:
        return [flag]
    candidates = [str(c) for c in action.choices or []] or ["1", "0.5", "6h", "x"]
    for value in candidates:
        try:
            (action.type or str)(value)
            break
        except (TypeError, ValueError, argparse.ArgumentTypeError):
            continue
    return [flag] + [value] * (action.nargs if isinstance(action.nargs, int) else 1)


def _reading(action: argparse.Action) -> tuple:
    """How an option turns its words into a value."""
    return type(action), action.type, action.nargs, action.const, action.choices


def _without_required(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The same parser with nothing required, so one flag can be parsed alone."""
    for action in parser._actions:
        action.required = False
        if not action.option_strings and action.nargs in (None, "+"):
            action.nargs = "?" if action.nargs is None else "*"
    for group in parser._mutually_exclusive_groups:
        group.required = False
    return parser


def test_the_project_has_commands():
    assert {"local_runner", "serving.client", "serving.server.model_server", "data.init", "runs.inspect"} \
        <= set(COMMANDS)


@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_exposes_build_parser(module):
    assert isinstance(_all_parsers(module)[0][1], argparse.ArgumentParser)


@pytest.mark.parametrize("module", CHECKED)
def test_every_shown_flag_is_kebab_case(module):
    allowed = EXCEPTIONS.get(module, set())
    broken = [f"{prog}: {option}" for prog, parser in _all_parsers(module) for action in parser._actions
              if action.help != argparse.SUPPRESS for option in action.option_strings
              if not KEBAB.match(option) and option not in allowed]
    assert not broken, "flags are kebab-case (add them with runs.cli.add_flag)"


@pytest.mark.parametrize("module", CHECKED)
def test_a_hidden_snake_case_flag_is_the_alias_of_its_kebab_twin(module):
    for prog, parser in _all_parsers(module):
        for action in parser._actions:
            if action.help != argparse.SUPPRESS:
                continue
            for option in action.option_strings:
                if KEBAB.match(option):
                    continue
                twin = parser._option_string_actions.get(option.replace("_", "-"))
                assert twin is not None, f"{prog}: hidden {option} has no kebab-case twin"
                assert twin.dest == action.dest, f"{prog}: {option} sets {action.dest}, its twin {twin.dest}"
                assert _reading(action) == _reading(twin), f"{prog}: {option} reads its value differently"
                lenient = _without_required(parser)
                # repr, not ==: 1 and 1.0 are equal, yet an int flag and a float alias differ.
                assert repr(lenient.parse_args(_sample(action, option))) == \
                    repr(lenient.parse_args(_sample(twin, twin.option_strings[0]))), f"{prog}: {option}"


def test_the_exceptions_name_real_flags():
    for module, flags in EXCEPTIONS.items():
        shown = {o for _, parser in _all_parsers(module) for o in parser._option_string_actions}
        assert flags == ALL or flags <= shown, f"{module}: exceptions for flags it does not have"


def test_server_flags_stay_tf_servings():
    """The exception is TF Serving's contract: these names must not drift to kebab-case."""
    [(_, parser)] = _all_parsers("serving.server.model_server")
    assert {"--model_name", "--model_base_path", "--model_config_file", "--port", "--rest_api_port",
            "--file_system_poll_wait_seconds", "--enable_batching", "--batching_parameters_file"} \
        <= set(parser._option_string_actions)
