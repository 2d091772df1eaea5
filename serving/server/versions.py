"""Which versions are served: the highest complete ones under the base path, watched.

TF Serving's default version policy serves the latest version and polls the base
path (`--file_system_poll_wait_seconds`); a model config file may ask for the latest N,
specific versions or all of them (`model_config.VersionPolicy`). The Pusher copies a model directory file by
file, so a new version is only tried once its files stopped changing between two
polls; it must be complete (every file `serving.contract` requires: a push cut short
never serves), load, and answer a warm-up call before the server switches to it.
Requests hold a reference to the servable they started with, so a switch never fails
an in-flight request. A version that is incomplete or fails is remembered with its file
fingerprint and retried only if its files change; the old version keeps serving meanwhile.
Unlike TF Serving, a version that cannot load does not leave a hole: the next lower
usable version serves in its place, and the versions serving are kept until a
replacement loads, even if their folders vanish.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from serving import contract
from serving.server.errors import ServingError, not_found
from serving.server.model_config import VersionPolicy
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
                 on_load: Optional[LoadListener] = None, policy: VersionPolicy = VersionPolicy()):
        self.name = name
        self.base_path = os.path.abspath(base_path)
        self.poll_seconds = poll_seconds
        self.policy = policy
        self._on_load = on_load or (lambda version, outcome: None)
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._pending: Optional[VersionPolicy] = None  # a reload's policy, served beside the current one
        self._serving: Dict[int, Servable] = {}  # replaced whole, never mutated: readers need no lock
        self._states: Dict[int, VersionState] = {}
        self._seen: Dict[int, Fingerprint] = {}
        self._failed: Dict[int, Fingerprint] = {}
        self._load_errors: Dict[int, str] = {}  # why a version that was complete failed to load
        self._first_poll = True
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.available = threading.Event()

    # ---- serving side ----------------------------------------------------------------

    def get(self, model_name: str, version: Optional[int] = None) -> Servable:
        """The servable for a request (the highest serving version by default); NOT_FOUND in
        TF Serving's words otherwise."""
        serving = self._serving
        if model_name == self.name and serving:
            servable = serving.get(max(serving) if version is None else version)
            if servable is not None:
                return servable
        request = f"Latest({model_name})" if version is None else f"Specific({model_name}, {version})"
        raise not_found(f"Servable not found for request: {request}")

    @property
    def current(self) -> Optional[Servable]:
        """The highest version serving (what a request without a version gets)."""
        serving = self._serving
        return serving[max(serving)] if serving else None

    @property
    def serving_versions(self) -> List[int]:
        return sorted(self._serving, reverse=True)

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

    def load_failure(self) -> Optional[str]:
        """Why nothing can serve until files change, in one line; None while a version serves or may load.

        A version that was complete and failed to load is tried again only when its files
        change (as TF Serving does), so once every version the policy may serve has failed
        that way, waiting longer cannot help. An incomplete version may still be being written."""
        if self._serving:
            return None
        reasons = []
        for version in self.policy.candidates(list_versions(self.base_path)):
            reason = self._load_errors.get(version)
            if reason is None or self._failed.get(version) != fingerprint(os.path.join(self.base_path, str(version))):
                return None
            reasons.append(f"version {version} {reason}")
        return "; ".join(reasons) or None

    def why_not_serving(self) -> str:
        """What is known of each version that does not serve (GetModelStatus's error messages), in one line."""
        with self._lock:
            states = sorted(self._states.values(), key=lambda s: s.version, reverse=True)
        reasons = [f"version {s.version} {s.error_message}" for s in states if s.error_message]
        return "; ".join(reasons) or ("no version folder (an integer-named folder holding saved_model.pb) there"
                                      if not list_versions(self.base_path) else "no version finished loading")

    # ---- watching side -----------------------------------------------------------------

    def widen(self, policy: VersionPolicy) -> None:
        """Loads what `policy` serves while keeping what the current policy serves, so that a
        config reload can move its labels before anything is unloaded; `set_policy` ends it."""
        with self._poll_lock:
            self._pending = policy
            waiting = self._poll()
        if waiting:  # versions seen for the first time: look again once they can have settled
            time.sleep(min(self.poll_seconds, 1.0))
            self.poll()

    def set_policy(self, policy: VersionPolicy) -> None:
        """Serves by `policy` from now on; versions it no longer serves are unloaded."""
        with self._poll_lock:
            self.policy, self._pending = policy, None
            self._poll()

    def poll(self) -> None:
        """One look at the base path: serve the highest loadable settled versions the policy allows."""
        with self._poll_lock:
            self._poll()

    def _poll(self) -> bool:
        """Returns True when a version the policy wants is still settling."""
        first, self._first_poll = self._first_poll, False
        serving = self._serving
        present = list_versions(self.base_path)
        if not present and first:
            log.warning("No versions of servable %s found under base path %s", self.name, self.base_path)
        chosen: Dict[int, Servable] = {}
        waiting = False
        for policy in filter(None, (self.policy, self._pending)):
            loaded = {**serving, **chosen}
            picked, unsettled = self._select(policy, present, loaded, first)
            chosen.update(picked)
            waiting = waiting or unsettled
        if chosen and chosen.keys() != serving.keys():
            self._switch(serving, chosen)
        return waiting

    def _select(self, policy: VersionPolicy, present: List[int], loaded: Dict[int, Servable],
                first: bool) -> Tuple[Dict[int, Servable], bool]:
        """The versions `policy` serves, loading those not loaded yet; and whether one is settling."""
        chosen: Dict[int, Servable] = {}
        waiting = False
        for version in policy.candidates(present):
            if policy.limit is not None and len(chosen) >= policy.limit:
                break
            if version in loaded:
                chosen[version] = loaded[version]
                continue
            path = os.path.join(self.base_path, str(version))
            fp = fingerprint(path)
            if self._failed.get(version) == fp:
                continue
            settled = first or self._seen.get(version) == fp
            self._seen[version] = fp
            if not settled:
                waiting = True
                continue  # still being written: look again at the next poll
            missing = contract.missing_files(path)
            if missing:
                self._skip(version, fp, "FAILED_PRECONDITION", f"incomplete version, missing {', '.join(missing)}",
                           outcome="incomplete")
                continue
            servable = self._load(version, path, fp)
            if servable is not None:
                chosen[version] = servable
        return chosen, waiting

    def _switch(self, previous: Dict[int, Servable], chosen: Dict[int, Servable]) -> None:
        """Atomic swap: new requests see the new set; requests in flight keep their servable."""
        self._serving = chosen
        for version in sorted(chosen.keys() - previous.keys()):
            self._set_state(VersionState(version, "AVAILABLE"))
            log.info("Serving version %s of %s", version, self.name)
            self._on_load(version, "ok")
        for version in sorted(previous.keys() - chosen.keys()):
            self._set_state(VersionState(version, "END"))
            log.info("Unloaded version %s of %s", version, self.name)
        self.available.set()

    def _skip(self, version: int, fp: Fingerprint, code: str, reason: str, outcome: str) -> None:
        """Remembers a version that cannot serve, until its files change."""
        self._failed[version] = fp
        if outcome == "error":
            self._load_errors[version] = reason
        self._set_state(VersionState(version, "END", code, f"not loaded: {reason}"))
        log.error("Skipping version %s of %s: %s (still serving %s)", version, self.name, reason,
                  ", ".join(map(str, self.serving_versions)) or "nothing")
        self._on_load(version, outcome)

    def _load(self, version: int, path: str, fp: Fingerprint) -> Optional[Servable]:
        """The version loaded and warmed up, or None (skipped, or changed while loading)."""
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
                return None
            self._skip(version, fp, "UNKNOWN", f"failed to load: {reason}", outcome="error")
            return None
        if fingerprint(path) != fp:
            self._set_state(VersionState(version, "START"))
            log.info("Version %s of %s changed while loading; will retry", version, self.name)
            return None
        return servable

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
