"""Serve an earlier version again: `python -m serving.rollback --output-dir DIR [--to VERSION]`.

TF Serving serves the highest version number under the model base path, and so does
this project's server; neither needs a restart or a config change. A rollback therefore
copies the chosen version to a new, highest version number: into a hidden folder first
(servers ignore names that are not numbers), renamed into place in one step, so a
server never sees half a model and requests in flight finish on the old version.

Only a version that was pushed after its blessing (by the Pusher, or by an earlier
rollback of such a version) can be restored; the rollback is recorded in ML Metadata as
a push that names the version it restores, so `inspect history`, lineage, the drift
monitor and the next run's baseline all see it. Without `--to`: the version that
served before the current one (the newest earlier push of a different model).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from typing import List, Optional

from runs import exit_codes, lineage, metadata, records
from runs.cli import add_model_name
from runs.layout import LayoutError, OutputLayout
from runs.store import StoreError, add_store_arguments, open_store, output_dir_from_args, store_from_args
STAGING_PREFIX = ".rollback-"


class RollbackError(ValueError):
    """The rollback cannot be done as asked; the message says why and what can be."""


@dataclass(frozen=True)
class Rollback:
    model_name: str
    restored: str
    new_version: int
    replaced: Optional[int]
    path: str
    run_id: str


def _pushes(store, model_name: str) -> List:
    """Blessed pushes of this model (a shared store holds others'), newest first."""
    def of_model(push) -> bool:
        destination = str(metadata.custom_property(push, "pushed_destination") or "")
        return os.path.basename(os.path.dirname(os.path.normpath(destination))) == model_name

    return [p for p in lineage.pushed_models(store) if of_model(p) and lineage.is_blessed_push(store, p)]


def _version(push) -> str:
    return str(metadata.custom_property(push, "pushed_version"))


def _model_id(store, push) -> Optional[int]:
    model = lineage.push_inputs(store, push).get("model")
    return model.id if model is not None else None


def choose(store, base_path: str, model_name: str, to: Optional[str]) -> tuple:
    """(push to restore, the version serving now); refuses what cannot be restored."""
    from serving.server.versions import list_versions

    on_disk = list_versions(base_path)
    current = on_disk[0] if on_disk else None
    pushes = _pushes(store, model_name)
    known = ", ".join(_version(p) for p in pushes if int(_version(p)) in on_disk) or "none"
    if to is not None:
        chosen = next((p for p in pushes if _version(p) == str(to)), None)
        if chosen is None:
            raise RollbackError(f"version {to} was never pushed as a blessed model in this metadata store, so it is "
                                f"not restored; versions you can restore: {known}")
    else:
        serving = next((p for p in pushes if current is not None and _version(p) == str(current)), None)
        serving_model = _model_id(store, serving) if serving is not None else None
        earlier = [p for p in pushes if current is None or int(_version(p)) < current]
        chosen = next((p for p in earlier if _model_id(store, p) != serving_model), None) or \
            (earlier[0] if earlier else None)
        if chosen is None:
            raise RollbackError(f"no earlier blessed version to roll back to (serving {current}; pushed: {known})")
    if int(_version(chosen)) not in on_disk:
        raise RollbackError(f"version {_version(chosen)} was pushed, but {os.path.join(base_path, _version(chosen))} "
                            f"is gone; versions you can restore: {known}")
    if current is not None and int(_version(chosen)) == current:
        raise RollbackError(f"version {current} is already the one serving")
    return chosen, current


def rollback(store, base_path: str, model_name: str, to: Optional[str] = None) -> Rollback:
    chosen, current = choose(store, base_path, model_name, to)
    new_version = max(int(time.time()), (current or 0) + 1)
    source = os.path.join(base_path, _version(chosen))
    staging = os.path.join(base_path, f"{STAGING_PREFIX}{new_version}")
    target = os.path.join(base_path, str(new_version))
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    os.rename(staging, target)
    run_id = records.record_rollback(store, chosen, new_version, target, current)
    return Rollback(model_name, _version(chosen), new_version, current, target, run_id)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m serving.rollback", description=__doc__.split("\n\n")[0])
    add_store_arguments(p, "the pipeline output dir (holds serving_model/); default ./outputs")
    add_model_name(p)
    p.add_argument("--to", metavar="VERSION", help="the version to serve again (default: the one before the current)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # Google client libraries on Python 3.10
    try:
        base_path, model_name = OutputLayout(output_dir_from_args(args)).served_model(args.model_name)
        store = open_store(store_from_args(args))
        done = rollback(store, base_path, model_name, args.to)
    except (LayoutError, StoreError, RollbackError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    print(f"Rolled back {done.model_name}: version {done.new_version} is a copy of version {done.restored} "
          f"(it replaces {done.replaced}) at {done.path}.\n"
          f"TF Serving and `python -m serving.server` serve the highest version: they switch at their next poll, "
          f"no restart. Recorded in ML Metadata as run {done.run_id}.")
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
