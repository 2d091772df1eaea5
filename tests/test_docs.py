"""The documentation holds: the site builds strictly, links resolve, and the commands it shows exist.

README.md and docs/*.md are what a newcomer follows; a renamed flag, module or make target, or a
moved page, must fail here rather than in a user's terminal.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re
import runpy
import subprocess
import sys
import unicodedata
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Set
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
DOC_FILES = [README] + sorted(DOCS.glob("*.md"))
README_MAX_LINES = 200
# Top-level names of the project's own modules: their flags are checked against their parsers.
PROJECT_MODULES = {"pipeline", "runs", "models", "data", "serving", "monitoring", "benchmarks",
                   "local_runner", "kubeflow_runner", "continuous_demo"}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")
COMMAND = re.compile(r"(?:^|[\s$`(/])python3? (?:-m ([A-Za-z_][\w.]*)|([\w/]+\.py))")
MAKE = re.compile(r"(?:^|[\s$`(;&|])make ([a-z][\w-]*)(?=\s|$)")
FLAG = re.compile(r"^--[A-Za-z][\w-]*")


class Command(NamedTuple):
    doc: str
    line: int
    module: str  # dotted module, or "make:<target>"
    flags: tuple
    text: str

    def where(self) -> str:
        return f"{self.doc}:{self.line}: {self.text.strip()}"


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def code_lines(path: Path) -> Iterator[tuple]:
    """(line number, text) of the lines inside fenced code blocks, continuation lines joined."""
    inside, pending, start = False, "", 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            inside, pending = not inside, ""
            continue
        if not inside:
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield start, pending + line
        pending = ""


def _flags(words: List[str]) -> tuple:
    found = []
    for word in words:
        word = word.strip("[]()'\"`,;")
        match = FLAG.match(word)
        if match:
            found.append(match.group(0))
    return tuple(found)


def _segments(text: str) -> List[str]:
    """A code line's commands: split at comments and shell separators."""
    return [part for chunk in text.split("#") for part in re.split(r"&&|;|\|\|", chunk)]


def commands() -> List[Command]:
    found = []
    for path in DOC_FILES:
        for number, text in code_lines(path):
            for segment in _segments(text):
                for match in COMMAND.finditer(segment):
                    module = match.group(1) or match.group(2)[:-3].replace("/", ".")
                    rest = segment[match.end():].split()
                    found.append(Command(_rel(path), number, module, _flags(rest), text))
                for match in MAKE.finditer(segment):
                    args = re.search(r"ARGS=(\"[^\"]*\"|'[^']*'|\S+)", segment[match.end():])
                    flags = _flags(args.group(1).strip("\"'").split()) if args else ()
                    found.append(Command(_rel(path), number, "make:" + match.group(1), flags, text))
    return found


# ---------------------------------------------------------------- the site builds strictly


def test_site_builds_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: run `make setup` (it is in requirements.lock)")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    assert (tmp_path / "site" / "index.html").exists()


# ---------------------------------------------------------------- README and links


def test_readme_is_a_door_not_a_manual():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; at most {README_MAX_LINES}: move content into docs/"


def slug(heading: str) -> str:
    """The anchor Python-Markdown's toc extension (and GitHub, for these headings) gives a heading."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


@lru_cache(maxsize=None)
def anchors(path: Path) -> Set[str]:
    found, inside = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            inside = not inside
        elif not inside and line.startswith("#"):
            found.add(slug(line.lstrip("#").strip()))
    return found


def test_relative_links_resolve():
    broken = []
    for path in DOC_FILES:
        inside = False
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if FENCE.match(line):
                inside = not inside
            if inside:
                continue
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):
                    continue  # http:, https:, mailto:
                file_part, _, anchor = target.partition("#")
                linked = (path.parent / file_part).resolve() if file_part else path
                if not linked.exists():
                    broken.append(f"{_rel(path)}:{number}: {target} (no such file)")
                elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                    broken.append(f"{_rel(path)}:{number}: {target} (no heading #{anchor} in {_rel(linked)})")
    assert not broken, "broken links:\n" + "\n".join(broken)


# ---------------------------------------------------------------- the commands the docs show


def _all_options(parser: argparse.ArgumentParser) -> Set[str]:
    options = set()
    for action in parser._actions:
        options.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options |= _all_options(sub)
    return options


class _Parsed(Exception):
    """Raised in place of parsing, carrying the parser a command's main() built."""

    def __init__(self, parser):
        super().__init__()
        self.parser = parser


def _parser_by_running(module: str):
    """The parser `python -m MODULE` builds, caught when it parses (no build_parser() to ask)."""
    def caught(parser, *args, **kwargs):
        raise _Parsed(parser)

    argv = sys.argv
    sys.argv = [module, "--help"]
    try:
        with mock.patch.object(argparse.ArgumentParser, "parse_args", caught), \
                mock.patch.object(argparse.ArgumentParser, "parse_known_args", caught):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # "found in sys.modules": it was imported before
                runpy.run_module(module, run_name="__main__", alter_sys=False)
    except _Parsed as parsed:
        return parsed.parser
    except SystemExit:
        return None
    finally:
        sys.argv = argv
    return None


def _help_text(module: str) -> str:
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=180)
    return done.stdout + done.stderr


def known_flags(modules: Set[str]) -> Dict[str, object]:
    """Per module: the option strings its parser knows (build_parser(), else the parser its main
    builds), or as a last resort its --help text."""
    known: Dict[str, object] = {}
    for module in sorted(modules):
        imported = importlib.import_module(module)
        parser = imported.build_parser() if hasattr(imported, "build_parser") else _parser_by_running(module)
        known[module] = _all_options(parser) if parser is not None else _help_text(module)
    return known


def _flag_known(flag: str, known) -> bool:
    if isinstance(known, set):
        return flag in known
    # --help wraps long flags at a hyphen ("--beam-\n  arg"): compare without whitespace.
    return re.search(re.escape(flag) + r"(?![\w-])", re.sub(r"-\s+", "-", known)) is not None


def make_targets() -> Dict[str, str]:
    """Each Makefile target and the command its recipe runs (a module, or "" for none)."""
    targets, current = {}, None
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([a-z][\w-]*)\s*:(?!=)", line)
        if match:
            current = match.group(1)
            targets[current] = ""
        elif current and line.startswith("\t") and not targets[current]:
            run = re.search(r"\$\(PY\) (?:-m ([\w.]+)|([\w/]+)\.py)", line)
            if run:
                targets[current] = run.group(1) or run.group(2).replace("/", ".")
    return targets


def module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its package is missing
        return False


def test_commands_in_the_docs_exist():
    found = commands()
    assert found, "no commands found in the docs' code blocks: has the extraction broken?"
    targets = make_targets()
    problems = []
    for command in found:
        if command.module.startswith("make:"):
            target = command.module[5:]
            if target not in targets:
                problems.append(f"{command.where()}\n    no make target {target!r} in the Makefile")
        elif not module_exists(command.module):
            problems.append(f"{command.where()}\n    no module {command.module}")
    to_check = []
    for command in found:
        module = targets.get(command.module[5:], "") if command.module.startswith("make:") else command.module
        if module and module.split(".")[0] in PROJECT_MODULES and command.flags and module_exists(module):
            to_check.append((command, module))
    known = known_flags({module for _, module in to_check})
    for command, module in to_check:
        unknown = [flag for flag in command.flags if not _flag_known(flag, known[module])]
        if unknown:
            problems.append(f"{command.where()}\n    {module} has no flag {', '.join(unknown)}")
    assert not problems, f"{len(problems)} commands in the docs do not hold:\n" + "\n".join(problems)


# ---------------------------------------------------------------- a few commands, run


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=180)


def test_layout_prints_the_model_base_path():
    done = _run("-m", "runs.layout", "outputs", "model_base_path", "penguins")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(ROOT / "outputs" / "serving_model" / "penguins")


def test_data_init_refuses_a_bad_csv_in_one_line_and_writes_nothing(tmp_path):
    """docs/own-data.md: a CSV the checks refuse is one line, exit code 2, and nothing is left behind."""
    csv = tmp_path / "dup.csv"
    csv.write_text("a,a,label\n1,2,x\n3,4,y\n", encoding="utf-8")
    done = _run("-m", "data.init", str(csv), "--label", "label", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "'a' appears twice" in done.stdout + done.stderr
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())
