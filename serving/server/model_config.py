"""TF Serving's `--model_config_file`: which models to serve, which versions, under which labels.

The file is the text form of `tensorflow.serving.ModelServerConfig`, read with the proto
from tensorflow-serving-api, so a file that works with `tensorflow_model_server` works
here unchanged:

    model_config_list {
      config {
        name: "penguins"
        base_path: "/models/penguins"
        model_platform: "tensorflow"
        model_version_policy { specific { versions: 3 versions: 4 } }
        version_labels { key: "stable" value: 3 }
        version_labels { key: "canary" value: 4 }
      }
    }

Every mistake is one `ConfigError` naming the file and the line at fault, so a reload can
refuse a bad file and keep serving with the config it had.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2


class ConfigError(ValueError):
    """A model config file that cannot be used, said in one line."""


@dataclass(frozen=True)
class VersionPolicy:
    """TF Serving's ServableVersionPolicy: `latest` (the N highest), `specific` or `all`."""

    kind: str = "latest"
    num_versions: int = 1
    versions: Tuple[int, ...] = ()

    def candidates(self, present: Sequence[int]) -> List[int]:
        """The versions present (highest first) this policy may serve."""
        if self.kind == "specific":
            return [v for v in present if v in self.versions]
        return list(present)

    @property
    def limit(self) -> Optional[int]:
        """How many versions serve at once; None for no limit."""
        return self.num_versions if self.kind == "latest" else None

    def __str__(self) -> str:
        if self.kind == "latest":
            return f"latest {self.num_versions}"
        if self.kind == "specific":
            return "specific " + ", ".join(map(str, self.versions))
        return "all"


@dataclass(frozen=True)
class ModelSpec:
    """One model of the config: where its versions are, which serve, and their labels."""

    name: str
    base_path: str
    policy: VersionPolicy = VersionPolicy()
    labels: Dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelServerConfig:
    models: Tuple[ModelSpec, ...]
    text: str = ""  # the file's content, to tell whether a reload changes anything


def single_model(name: str, base_path: str) -> ModelServerConfig:
    """What `--model_name/--model_base_path` mean: one model, its latest version."""
    if not os.path.isdir(base_path):
        raise ConfigError(f"--model_base_path {base_path} is not a directory; it must hold "
                          f"<version>/saved_model.pb (run the pipeline first, e.g. `make run`)")
    return ModelServerConfig((ModelSpec(name, os.path.abspath(base_path)),))


def read(path: str) -> ModelServerConfig:
    """Reads and checks a ModelServerConfig text file; ConfigError with the line at fault."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--model_config_file {path}: cannot read it ({e})") from None
    return parse(text, path)


def parse(text: str, path: str = "<model config>") -> ModelServerConfig:
    proto = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as e:
        message = re.sub(r"^\d+:\d+ : ", "", str(e))
        raise ConfigError(f"{path} line {e.GetLine()}: {message}") from None
    if proto.HasField("custom_model_config"):
        raise ConfigError(f"{path} line {_line_of(text, 'custom_model_config')}: custom_model_config is not "
                          f"supported; list the models under model_config_list")
    if not proto.model_config_list.config:
        raise ConfigError(f"{path}: no models; add model_config_list {{ config {{ name: ... base_path: ... }} }}")
    models, seen = [], set()
    for index, config in enumerate(proto.model_config_list.config):
        line = _config_line(text, index)
        where = f"{path} line {line}"
        if not config.name:
            raise ConfigError(f"{where}: a config has no name")
        if not re.fullmatch(r"[^/:\s]+", config.name):
            raise ConfigError(f"{where}: model name {config.name!r} cannot be used in a URL path "
                              f"(no '/', ':' or spaces)")
        if config.name in seen:
            raise ConfigError(f"{where}: model name {config.name!r} is configured twice")
        seen.add(config.name)
        if not config.base_path:
            raise ConfigError(f"{where}: model {config.name!r} has no base_path")
        base_path = os.path.abspath(config.base_path)
        if not os.path.isdir(base_path):
            raise ConfigError(f"{where}: base_path of model {config.name!r} is not a directory: {base_path}")
        if config.model_platform not in ("", "tensorflow"):
            raise ConfigError(f"{where}: model_platform {config.model_platform!r} of model {config.name!r} is not "
                              f"served here; use \"tensorflow\"")
        policy = _policy(config, f"{path} line {_line_of(text, 'specific', line)}")
        labels = dict(config.version_labels)
        for label, version in labels.items():
            label_where = f"{path} line {_line_of(text, label, line)}"
            if not re.fullmatch(r"[^/:\s]+", label):
                raise ConfigError(f"{label_where}: version label {label!r} cannot be used in a URL path")
            if not os.path.isdir(os.path.join(base_path, str(version))):
                raise ConfigError(f"{label_where}: label {label!r} of model {config.name!r} points at version "
                                  f"{version}, which is not under {base_path}")
            if policy.kind == "specific" and version not in policy.versions:
                raise ConfigError(f"{label_where}: label {label!r} of model {config.name!r} points at version "
                                  f"{version}, which its policy does not serve ({policy})")
        models.append(ModelSpec(config.name, base_path, policy, labels))
    return ModelServerConfig(tuple(models), text)


def _policy(config: model_server_config_pb2.ModelConfig, where: str) -> VersionPolicy:
    choice = config.model_version_policy.WhichOneof("policy_choice")
    if choice == "specific":
        versions = tuple(sorted(set(config.model_version_policy.specific.versions), reverse=True))
        if not versions:
            raise ConfigError(f"{where}: model {config.name!r}: specific {{ }} lists no versions")
        return VersionPolicy("specific", versions=versions)
    if choice == "all":
        return VersionPolicy("all")
    # TF Serving serves at least one: num_versions 0 (unset) means 1.
    return VersionPolicy("latest", num_versions=max(config.model_version_policy.latest.num_versions, 1))


def _config_line(text: str, index: int) -> int:
    """Line of the index-th `config` block of the list."""
    starts = [m.start() for m in re.finditer(r"\bconfig\s*:?\s*[{<]", text)]
    start = starts[index] if index < len(starts) else 0
    return text.count("\n", 0, start) + 1


def _line_of(text: str, needle: str, from_line: int = 1) -> int:
    """First line at or after `from_line` that mentions `needle` (the block's line otherwise)."""
    for number, content in enumerate(text.splitlines()[from_line - 1:], start=from_line):
        if needle in content:
            return number
    return from_line
