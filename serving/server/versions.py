"""Which version is served: the highest complete one under the base path, watched.

TF Serving's default version policy serves the latest version and polls the base
path (`--file_system_poll_wait_seconds`). The Pusher copies a model directory file by
file, so a new version is only tried once its files stopped changing between two
polls; it must be complete (every file `serving.contract` requires: a push cut short
never serves), load, and answer a warm-up call before the server switches to it.
Requests hold a reference to the servable they started with, so a switch never fails
an in-flight request. A version that is incomplete or fails is remembered with its file
fingerprint and retried only if its files change; the old version keeps serving meanwhile.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from serving import contract
from serving.server.errors import ServingError, not_found
from serving.server.servable import Servable

log = logging.getLogger(__name__)

Fingerprint = Tuple[Tuple[str, int, int], ...]
LoadListener = Callable[[int, str], None]  # (version, outcome: "ok" | "error" | "incomplete")


@dataclass
class VersionState:
    """A version as GetModelStatus reports it (TF Serving's ModelVersionStatus)."""

    version: int
    state: str  # START | LOADING | AVAILABLE | UNLOADING | END
    error_code: str = "OK"
    error_message: str = ""


def list_versions(base_path: str) -> List[int]:
    """Integer-named subdirectories, highest first (other entries are ignored, as TF Serving does)."""
    try:
        names = os.listdir(base_path)
    except FileNotFoundError:
        return []
    return sorted((int(n) for n in names if n.isdigit() and os.path.isdir(os.path.join(base_path, n))),
                  reverse=True)


def fingerprint(version_dir: str) -> Fingerprint:
    """Names, sizes and mtimes of every file (empty for an empty or vanished folder)."""
    entries = []
    for root, _, files in os.walk(version_dir):
        for name in files:
            path = os.path.join(root, name)
            try:
                stat = os.stat(path)
            except FileNotFoundError:  # removed while we looked: not settled
                continue
            entries.append((os.path.relpath(path, version_dir), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


class ModelVersions:
    """Loads, switches and reports the versions of one model."""

    def __init__(self, name: str, base_path: str, poll_seconds: float = 1.0,
                 on_load: Optional[LoadListener] = None):
        self.name = name
        self.base_path = os.path.abspath(base_path)
        self.poll_seconds = poll_seconds
        self._on_load = on_load or (lambda version, outcome: None)
        self._lock = threading.Lock()
        self._current: Optional[Servable] = None
        self._states: Dict[int, VersionState] = {}
        self._seen: Dict[int, Fingerprint] = {}
        self._failed: Dict[int, Fingerprint] = {}
        self._first_poll = True
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.available = threading.Event()

    # ---- serving side ----------------------------------------------------------------

    def get(self, model_name: str, version: Optional[int] = None) -> Servable:
        """The servable for a request; NOT_FOUND in TF Serving's words otherwise."""
        current = self._current
        if model_name == self.name and current is not None and version in (None, current.version):
            return current
        request = f"Latest({model_name})" if version is None else f"Specific({model_name}, {version})"
        raise not_found(f"Servable not found for request: {request}")

    @property
    def current(self) -> Optional[Servable]:
        return self._current

    def states(self, model_name: str, version: Optional[int] = None) -> List[VersionState]:
        if model_name != self.name:
            raise not_found(f"Could not find any versions of model {model_name}")
        with self._lock:
            states = sorted(self._states.values(), key=lambda s: s.version, reverse=True)
        if not states:
            raise not_found(f"Could not find any versions of model {model_name}")
        if version is None:
            return states
        chosen = [s for s in states if s.version == version]
        if not chosen:
            raise not_found(f"Could not find version {version} of model {model_name}")
        return chosen

    # ---- watching side -----------------------------------------------------------------

    def poll(self) -> None:
        """One look at the base path: switch to the highest loadable settled version."""
        first, self._first_poll = self._first_poll, False
        current = self._current
        present = list_versions(self.base_path)
        if not present and first:
            log.warning("No versions of servable %s found under base path %s", self.name, self.base_path)
        for version in present:
            if current is not None and version == current.version:
                return  # the served version is still the highest usable one
            path = os.path.join(self.base_path, str(version))
            fp = fingerprint(path)
            if self._failed.get(version) == fp:
                continue
            settled = first or self._seen.get(version) == fp
            self._seen[version] = fp
            if not settled:
                continue  # still being written: look again at the next poll
            missing = contract.missing_files(path)
            if missing:
                self._skip(version, fp, "FAILED_PRECONDITION", f"incomplete version, missing {', '.join(missing)}",
                           outcome="incomplete")
                continue
            if self._load(version, path, fp):
                return

    def _skip(self, version: int, fp: Fingerprint, code: str, reason: str, outcome: str) -> None:
        """Remembers a version that cannot serve, until its files change."""
        self._failed[version] = fp
        self._set_state(VersionState(version, "END", code, f"not loaded: {reason}"))
        log.error("Skipping version %s of %s: %s (still serving %s)", version, self.name, reason,
                  self._current.version if self._current else "nothing")
        self._on_load(version, outcome)

    def _load(self, version: int, path: str, fp: Fingerprint) -> bool:
        self._set_state(VersionState(version, "LOADING"))
        log.info("Loading version %s of %s from %s", version, self.name, path)
        try:
            servable = Servable(self.name, version, path)
            servable.warm_up()
        except Exception as e:  # noqa: BLE001 - any load failure skips the version
            reason = e.message if isinstance(e, ServingError) else f"{type(e).__name__}: {e}"
            reason = reason.strip().splitlines()[0] if reason.strip() else type(e).__name__
            if fingerprint(path) != fp:
                self._set_state(VersionState(version, "START"))
                log.info("Version %s of %s changed while loading; will retry", version, self.name)
                return False
            self._skip(version, fp, "UNKNOWN", f"failed to load: {reason}", outcome="error")
            return False
        if fingerprint(path) != fp:
            self._set_state(VersionState(version, "START"))
            log.info("Version %s of %s changed while loading; will retry", version, self.name)
            return False
        previous = self._current
        self._current = servable  # atomic swap: new requests see the new version
        self._set_state(VersionState(version, "AVAILABLE"))
        if previous is not None:
            self._set_state(VersionState(previous.version, "END"))
            log.info("Unloaded version %s of %s", previous.version, self.name)
        log.info("Serving version %s of %s", version, self.name)
        self._on_load(version, "ok")
        self.available.set()
        return True

    def _set_state(self, state: VersionState) -> None:
        with self._lock:
            self._states[state.version] = state

    def start(self) -> None:
        """Loads what is there now, then keeps watching in a daemon thread."""
        self.poll()
        self._thread = threading.Thread(target=self._watch, name=f"watch-{self.name}", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - the watcher must survive a bad poll
                log.exception("Polling %s failed; will retry", self.base_path)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
