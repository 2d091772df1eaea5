"""The output layout: the one statement of where a run's outputs live under --output-dir.

  <output>/pipeline_root/                      TFX artifacts (one folder per component output)
  <output>/metadata.sqlite                     ML Metadata of the runs (unless a MySQL store is configured)
  <output>/serving_model/<model>/<version>/    pushed SavedModels (TF Serving's layout)
  <output>/reports/<run>.html, latest.html     the static run reports
  <output>/request_log/<model>/requests.jsonl  the server's request log
  <output>/monitoring/<model>/                 the monitors' reports (<check>_<time>.json and .md)
  <output>/monitoring/<model>/latest_<check>.json  the newest result of a monitor (drift, live_quality)
  <output>/kubeflow/<pipeline>.yaml            compiled Kubeflow / Vertex specs
  <output>/run.lock                            held by the run (or loop) using the folder
  <output>/develop/                            notebooks/develop.ipynb's own artifacts and ML Metadata

Every module, the Makefile (`python -m runs.layout`) and the notebook ask this module;
nobody else spells these names.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from typing import Optional, Sequence

from runs import exit_codes

PIPELINE_ROOT = "pipeline_root"
METADATA_SQLITE = "metadata.sqlite"
SERVING_MODEL = "serving_model"
REPORTS = "reports"
LATEST_REPORT = "latest.html"
REQUEST_LOG = "request_log"
MONITORING = "monitoring"
KUBEFLOW = "kubeflow"
RUN_LOCK = "run.lock"
HISTORY_REPORT = "history.html"
DEVELOP = "develop"
# Where runs go when no --output-dir is given: outputs/ in the project (ignored by git).
DEFAULT_OUTPUT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "outputs")


class LayoutError(ValueError):
    """The output folder does not hold what was asked for; the message says what to do."""


@dataclass(frozen=True)
class OutputLayout:
    """Paths under one output folder (absolute)."""

    output_dir: str

    def __post_init__(self):
        object.__setattr__(self, "output_dir", os.path.abspath(self.output_dir))

    def _path(self, *parts: str) -> str:
        return os.path.join(self.output_dir, *parts)

    @property
    def pipeline_root(self) -> str:
        return self._path(PIPELINE_ROOT)

    @property
    def metadata_sqlite(self) -> str:
        return self._path(METADATA_SQLITE)

    @property
    def develop_dir(self) -> str:
        """The development notebook's InteractiveContext: its own pipeline root and store, off the runs' history."""
        return self._path(DEVELOP)

    @property
    def serving_root(self) -> str:
        return self._path(SERVING_MODEL)

    def model_base_path(self, model_name: str) -> str:
        """TF Serving's --model_base_path: <output>/serving_model/<model>."""
        return self._path(SERVING_MODEL, model_name)

    @property
    def reports_dir(self) -> str:
        return self._path(REPORTS)

    def report_path(self, run_id: str) -> str:
        """<output>/reports/<run id>.html, the run id made file-name safe."""
        return self._path(REPORTS, re.sub(r"[^A-Za-z0-9._-]", "-", run_id) + ".html")

    @property
    def latest_report(self) -> str:
        return self._path(REPORTS, LATEST_REPORT)

    @property
    def history_report(self) -> str:
        return self._path(REPORTS, HISTORY_REPORT)

    @property
    def run_lock(self) -> str:
        return self._path(RUN_LOCK)

    def request_log_dir(self, model_name: str) -> str:
        return self._path(REQUEST_LOG, model_name)

    def monitoring_dir(self, model_name: str) -> str:
        return self._path(MONITORING, model_name)

    def monitoring_result(self, model_name: str, check: str) -> str:
        """<output>/monitoring/<model>/latest_<check>.json: what the continuous loop reads after a check.

        `check` is "drift" or "live_quality"; the file's keys are documented in monitoring/__init__.py.
        """
        return self._path(MONITORING, model_name, f"latest_{check}.json")

    def kubeflow_spec(self, pipeline_name: str) -> str:
        return self._path(KUBEFLOW, f"{pipeline_name}.yaml")

    def served_model(self, model_name: Optional[str]) -> "tuple[str, str]":
        """(model base path, model name), guessing the model when only one was pushed."""
        if model_name is None:
            root = self.serving_root
            names = sorted(os.listdir(root)) if os.path.isdir(root) else []
            if len(names) != 1:
                raise LayoutError(f"{root} holds {names or 'no models'}; pass --model-name "
                                  f"(and run the pipeline first if nothing was pushed)")
            model_name = names[0]
        return self.model_base_path(model_name), model_name

    @classmethod
    def of_model_base_path(cls, model_base_path: str) -> Optional["OutputLayout"]:
        """The layout a base path of the form <output>/serving_model/<model> belongs to, else None."""
        parent = os.path.dirname(os.path.abspath(model_base_path))
        if os.path.basename(parent) != SERVING_MODEL:
            return None
        return cls(os.path.dirname(parent))


PRINTABLE = ("pipeline_root", "metadata_sqlite", "serving_root", "model_base_path", "reports_dir",
             "request_log_dir", "monitoring_dir")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m runs.layout",
                                description="Print one path of the layout, for the Makefile and shell scripts.")
    p.add_argument("output_dir", metavar="OUTPUT_DIR")
    p.add_argument("path", choices=PRINTABLE)
    p.add_argument("model", nargs="?", metavar="MODEL", help="for model_base_path, request_log_dir, monitoring_dir")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    value = getattr(OutputLayout(args.output_dir), args.path)
    if callable(value) and not args.model:
        parser.error(f"{args.path} needs MODEL")
    print(value(args.model) if callable(value) else value)
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
