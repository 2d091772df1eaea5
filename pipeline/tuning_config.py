"""The `tuning:` configuration (dataset.yaml, the config file, `--tune`, `--hparams FILE`), checked in one line.

    tuning:
      enabled: true        # run TFX's Tuner before the Trainer (--tune)
      max_trials: 10
      time_budget: 8m      # no trial starts that the rest of the budget cannot fit
      space:               # overrides of models/search_space.py's dimensions
        model_type: [linear, wide_and_deep]
        learning_rate: {min: 0.001, max: 0.1, log: true}
      hparams: FILE        # --hparams: train with these hyperparameters instead (skips tuning)

The structure is checked when the configuration loads (no TensorFlow); `check_values`, called by
the pre-flight check, also asks the model whether it accepts every value of the space and the file.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from models import search_space
from pipeline.errors import ConfigError
from runs import durations

# About the least one trial takes here: building, tracing, training and scoring one model on the
# bundled data (3-8 s each, docs/tuning.md); a shorter budget could not finish one.
MIN_TRIAL_SECONDS = 10.0


@dataclass(frozen=True)
class TuningConfig:
    enabled: bool = False
    max_trials: int = 10
    time_budget: float = 480.0  # seconds
    space: Mapping[str, Any] = field(default_factory=dict)  # overrides, in their YAML form
    hparams: str = ""  # a file of hyperparameters to train with (skips tuning)

    def with_layers(self, layers: Iterable[Tuple[Optional[Mapping[str, Any]], Optional[str]]]) -> "TuningConfig":
        """This config with each (`tuning:` mapping, where it was written) in turn in place, checked."""
        config = self
        for raw, where in layers:
            config = config.layered(raw, where or "")
        config.validate()
        return config

    def layered(self, raw: Optional[Mapping[str, Any]], where: str = "") -> "TuningConfig":
        """This config with the keys of a `tuning:` mapping (YAML, or the flags') in place."""
        if raw is None:
            return self
        where = f"{where}: " if where else ""
        known = [f.name for f in dataclasses.fields(self)]
        if not isinstance(raw, Mapping) or not set(raw) <= set(known):
            extra = sorted(set(raw) - set(known)) if isinstance(raw, Mapping) else raw
            raise ConfigError(f"{where}'tuning' accepts only {known}, got {extra}")
        values: Dict[str, Any] = {key: _parse(key, value, where) for key, value in raw.items()}
        if "space" in values:
            values["space"] = {**self.space, **values["space"]}
        # A later layer that names one way to get the hyperparameters (--hparams, --tune) drops the other.
        if values.get("hparams") and "enabled" not in values:
            values["enabled"] = False
        if values.get("enabled") and "hparams" not in values:
            values["hparams"] = ""
        return dataclasses.replace(self, **values)

    def validate(self) -> None:
        if self.enabled and self.hparams:
            raise ConfigError("--hparams trains with fixed hyperparameters and --tune searches for them: "
                              "give one of them")
        if self.hparams:
            hparams_values(self.hparams)

    @property
    def dimensions(self) -> Dict[str, search_space.Dimension]:
        return search_space.space(self.space)

    def tuner_settings(self) -> Dict[str, Any]:
        """What the Tuner's `tuner_fn` reads (models/tuning.py, custom_config['tuning'])."""
        return {"max_trials": self.max_trials, "time_budget": self.time_budget,
                "space": search_space.to_json(self.dimensions)}


def _parse(key: str, value: Any, where: str) -> Any:
    name = f"{where}tuning.{key}"
    if key == "enabled":
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if key == "max_trials":
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{name} must be a positive number of trials, got {value!r}: set it to 1 or more")
        return value
    if key == "time_budget":
        try:
            seconds = durations.seconds(value)
        except ValueError as e:
            raise ConfigError(f"{name}: {e}") from None
        if seconds < MIN_TRIAL_SECONDS:
            least = durations.text(MIN_TRIAL_SECONDS)
            raise ConfigError(f"{name} {value} cannot fit one trial (one takes at least {least}): "
                              f"give at least {least}, e.g. 10m")
        return seconds
    if key == "space":
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name} must map hyperparameter names to values or ranges, got {value!r}")
        try:
            search_space.space(value)
        except search_space.SpaceError as e:
            raise ConfigError(f"{where}{e}") from None
        return dict(value)
    return os.path.abspath(str(value))  # hparams


def hparams_values(path: str) -> Dict[str, Any]:
    """The name -> value mapping of an --hparams file: a tuned run's best_hyperparameters.txt (keras-tuner's
    {"space": ..., "values": ...}) or plain JSON of name -> value."""
    fix = ("pass the best_hyperparameters.txt a tuned run wrote (python -m runs.inspect tuning shows it) "
           "or a JSON object of name -> value")
    if not os.path.isfile(path):
        raise ConfigError(f"--hparams {path}: no such file; {fix}")
    try:
        with open(path) as f:
            raw = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"--hparams {path} is not JSON ({e}); {fix}") from None
    values = raw.get("values", raw) if isinstance(raw, dict) else None
    if not isinstance(values, dict) or not values:
        raise ConfigError(f"--hparams {path} holds no hyperparameters; {fix}")
    return values


def check_values(tuning: TuningConfig) -> None:
    """Every value the search can try, and the --hparams file's, is one the model accepts (imports TensorFlow)."""
    from models.model import Hyperparameters

    if tuning.hparams:
        try:
            Hyperparameters.from_values(hparams_values(tuning.hparams))
        except ValueError as e:
            raise ConfigError(f"--hparams {tuning.hparams}: {e}; fix the file or drop the name") from None
    if not tuning.enabled:
        return
    for name, dim in tuning.dimensions.items():
        for value in search_space.endpoints(dim):
            try:
                Hyperparameters.from_values({name: value})
            except ValueError as e:
                raise ConfigError(f"tuning.space.{name}: {value!r} is not a value the model accepts ({e}); "
                                  "change the range or the list") from None
