"""The models a server serves, their version labels, and reloading the model config file.

One `ModelVersions` per configured model. A reload (`--model_config_file_poll_wait_seconds`)
changes nothing until the new file parses and checks; then it loads what the new config
serves while the old versions keep serving, moves the labels and the model list in one
swap, and only then unloads what the new config no longer serves: a request never meets
a label pointing at a version that is not loaded, and requests in flight keep the servable
they started with.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from serving.server.errors import invalid_argument, not_found
from serving.server.model_config import ConfigError, ModelServerConfig, ModelSpec, read
from serving.server.servable import Servable
from serving.server.versions import ModelVersions, VersionState

log = logging.getLogger(__name__)

LoadListener = Callable[[str, int, str], None]  # (model, version, outcome)
Models = Dict[str, ModelVersions]
Labels = Dict[str, Dict[str, int]]


class NoLoadableVersion(RuntimeError):
    """No version of a model serves at start; the message says why, in one line."""


class ModelRegistry:
    def __init__(self, config: ModelServerConfig, poll_seconds: float = 1.0,
                 on_load: Optional[LoadListener] = None):
        self.config = config
        self.poll_seconds = poll_seconds
        self._on_load = on_load or (lambda model, version, outcome: None)
        self._view: Tuple[Models, Labels] = ({}, {})  # replaced whole: a request reads one consistent pair
        self._apply_lock = threading.Lock()
        self._stop = threading.Event()
        self._config_thread: Optional[threading.Thread] = None

    # ---- serving side ----------------------------------------------------------------

    def get(self, model_name: str, version: Optional[int] = None, label: str = "") -> Servable:
        models, labels = self._view
        if label:
            version = self._labelled(model_name, label, labels)
        model = models.get(model_name)
        if model is None:
            request = f"Latest({model_name})" if version is None else f"Specific({model_name}, {version})"
            raise not_found(f"Servable not found for request: {request}")
        return model.get(model_name, version)

    def states(self, model_name: str, version: Optional[int] = None, label: str = "") -> List[VersionState]:
        models, labels = self._view
        if label:
            version = self._labelled(model_name, label, labels)
        model = models.get(model_name)
        if model is None:
            raise not_found(f"Could not find any versions of model {model_name}")
        return model.states(model_name, version)

    @staticmethod
    def _labelled(model_name: str, label: str, labels: Labels) -> int:
        version = labels.get(model_name, {}).get(label)
        if version is None:
            raise invalid_argument(f"Unrecognized servable version label: {label}")
        return version

    def knows(self, model_name: str) -> bool:
        return model_name in self._view[0]

    def __getitem__(self, model_name: str) -> ModelVersions:
        return self._view[0][model_name]

    @property
    def names(self) -> List[str]:
        return list(self._view[0])

    # ---- loading side ------------------------------------------------------------------

    def start(self, wait_seconds: Optional[float]) -> None:
        """Loads every configured model; raises if one has no loadable version in time."""
        models = {spec.name: self._start_model(spec) for spec in self.config.models}
        self._view = (models, {spec.name: dict(spec.labels) for spec in self.config.models})
        for spec in self.config.models:
            model = models[spec.name]
            if wait_seconds is not None:
                self._wait_for(model, wait_seconds)
            self._warn_unserved_labels(spec, model)

    def _wait_for(self, model: ModelVersions, wait_seconds: float) -> None:
        """Returns once a version serves; raises NoLoadableVersion with the versions' own reasons
        as soon as every one failed to load (that is permanent), or after `wait_seconds`."""
        deadline = time.monotonic() + wait_seconds
        while not model.available.is_set():
            failure = model.load_failure()
            if failure:
                raise NoLoadableVersion(f"no loadable version of {model.name} under {model.base_path}: {failure}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NoLoadableVersion(f"no loadable version of {model.name} under {model.base_path} after "
                                        f"{wait_seconds:.0f}s: {model.why_not_serving()}")
            model.available.wait(min(remaining, max(self.poll_seconds, 0.1)))

    def _start_model(self, spec: ModelSpec) -> ModelVersions:
        model = ModelVersions(spec.name, spec.base_path, self.poll_seconds, policy=spec.policy,
                              on_load=lambda version, outcome: self._on_load(spec.name, version, outcome))
        model.start()
        return model

    def apply(self, config: ModelServerConfig) -> None:
        """Serves `config` from now on, without failing a request (see the module docstring)."""
        with self._apply_lock:
            old, _ = self._view
            models: Models = {}
            for spec in config.models:
                kept = old.get(spec.name)
                if kept is not None and kept.base_path == spec.base_path:
                    kept.widen(spec.policy)
                    models[spec.name] = kept
                else:
                    models[spec.name] = self._start_model(spec)
            self._view = (models, {spec.name: dict(spec.labels) for spec in config.models})
            self.config = config
            for spec in config.models:
                if models[spec.name] is old.get(spec.name):
                    models[spec.name].set_policy(spec.policy)
                self._warn_unserved_labels(spec, models[spec.name])
            for name, model in old.items():
                if models.get(name) is not model:
                    model.stop()
                    log.info("Model %s (%s) is no longer served", name, model.base_path)
            log.info("Model config applied: %s", "; ".join(
                f"{s.name} ({s.policy}{', labels ' + ', '.join(f'{k}={v}' for k, v in sorted(s.labels.items())) if s.labels else ''})"
                for s in config.models))

    @staticmethod
    def _warn_unserved_labels(spec: ModelSpec, model: ModelVersions) -> None:
        serving = model.serving_versions
        for label, version in sorted(spec.labels.items()):
            if version not in serving:
                log.error("Label %s of model %s points at version %s, which is not serving (serving: %s); "
                          "requests for it get NOT_FOUND until it loads", label, spec.name, version,
                          ", ".join(map(str, serving)) or "nothing")

    def watch_config(self, path: str, poll_wait_seconds: float) -> None:
        """Re-reads `path` every `poll_wait_seconds` and applies it when its text changed."""
        self._config_thread = threading.Thread(target=self._watch_config, args=(path, poll_wait_seconds),
                                               name="model-config", daemon=True)
        self._config_thread.start()

    def _watch_config(self, path: str, poll_wait_seconds: float) -> None:
        rejected = None
        while not self._stop.wait(poll_wait_seconds):
            try:
                config = read(path)
            except ConfigError as e:
                if str(e) != rejected:  # said once per bad content, not every poll
                    log.error("Model config not reloaded, still serving the previous one: %s", e)
                    rejected = str(e)
                continue
            rejected = None
            if config.text == self.config.text:
                continue
            try:
                self.apply(config)
            except Exception:  # noqa: BLE001 - the reload thread must survive to try the next change
                log.exception("Applying the model config from %s failed", path)

    def stop(self) -> None:
        self._stop.set()
        if self._config_thread is not None:
            self._config_thread.join(timeout=30)
        for model in self._view[0].values():
            model.stop()

