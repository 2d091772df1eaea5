"""Tuning: `tuner_fn`, the Tuner's entry point (the pipeline refers to it as `models.tuning.tuner_fn`).

Each trial trains one model with `models.training.fit` (the Trainer's own training, early
stopping included) on the train split and scores it by its loss on the eval split; the
Tuner's best hyperparameters then go to the Trainer. The search is random over
models/search_space.py, starting with the model's defaults so the best trial is never worse
on eval than the untuned model, and bounded by a number of trials and a time budget.

keras-tuner 1.4.8 (the lock's) type-checks models against Keras 3 and rejects tf_keras ones
in its Keras `Tuner` (keras-team/keras-tuner#1039); `BaseTuner`, which only asks `run_trial`
for a score, has no such check, and it is all TFX's Tuner executor calls (docs/tuning.md).
"""
from __future__ import annotations

import math
import time
from typing import Any, Dict, List, Mapping, Optional

import keras_tuner
import tf_keras as keras
from absl import logging
from keras_tuner.engine import base_tuner, trial as trial_lib
from keras_tuner.src import config as keras_tuner_config
from tfx.components.tuner.component import TunerFnResult

from models import search_space
from models.model import HYPERPARAMETERS, Hyperparameters
from models.training import TrainingData, fit

OBJECTIVE = "eval_loss"
MAX_TRIALS = 10
TIME_BUDGET_SECONDS = 480.0
COMPLETED, FAILED = trial_lib.TrialStatus.COMPLETED, trial_lib.TrialStatus.FAILED


def default_values() -> Dict[str, Any]:
    """The model's own hyperparameters in the search's names (depth and width as num_layers, units)."""
    values = HYPERPARAMETERS.to_values()
    hidden = values.pop("hidden_units")
    values.pop("seed")
    return {**values, "num_layers": len(hidden), "units": hidden[0] if hidden else 16}


def _within(dim: search_space.Dimension, value: Any) -> bool:
    if isinstance(dim, search_space.Choice):
        return value in dim.values
    return dim.low <= value <= dim.high


def declare(dims: Mapping[str, search_space.Dimension]) -> keras_tuner.HyperParameters:
    """keras-tuner hyperparameters for the space; each defaults to the model's own value when inside it."""
    hp = keras_tuner.HyperParameters()
    defaults = default_values()
    for name, dim in dims.items():
        default = defaults[name] if _within(dim, defaults.get(name)) else None
        if isinstance(dim, search_space.Choice):
            if len(dim.values) == 1:
                hp.Fixed(name, dim.values[0])
            else:
                hp.Choice(name, list(dim.values), default=default)
        elif dim.low == dim.high:
            hp.Fixed(name, dim.low)
        else:
            kind = hp.Int if dim.integer else hp.Float
            kind(name, dim.low, dim.high, sampling="log" if dim.log else "linear", default=default)
    return hp


class BudgetOracle(keras_tuner.oracles.RandomSearchOracle):
    """Random search whose first trial is the default values, and which starts no trial that the rest
    of the time budget cannot fit (judged by the longest trial so far)."""

    def __init__(self, time_budget: float, **kwargs):
        super().__init__(**kwargs)
        self.time_budget = time_budget
        self.deadline: Optional[float] = None
        self.longest_trial = 0.0

    def populate_space(self, trial_id):
        if self.deadline is not None and self.trials_ended() and \
                time.monotonic() + self.longest_trial > self.deadline:
            logging.info("Tuning: the time budget cannot fit another trial; stopping the search")
            return {"status": trial_lib.TrialStatus.STOPPED, "values": None}
        if not self.trials_ended():
            return {"status": trial_lib.TrialStatus.RUNNING,
                    "values": {hp.name: hp.default for hp in self.hyperparameters.space}}
        return super().populate_space(trial_id)

    def trials_ended(self) -> int:
        return len(self.end_order)


class FitTuner(base_tuner.BaseTuner):
    """A BaseTuner whose trial is `models.training.fit`: its score is the eval loss, and a trial
    whose loss is not finite fails (recorded, the search goes on)."""

    def __init__(self, data: TrainingData, oracle: BudgetOracle, **kwargs):
        super().__init__(oracle=oracle, **kwargs)
        self.data = data
        self.records: List[Dict[str, Any]] = []
        self._seconds: Dict[str, float] = {}

    def on_search_begin(self):
        self.oracle.deadline = time.monotonic() + self.oracle.time_budget

    def run_trial(self, trial, *fit_args, **fit_kwargs) -> float:
        keras.backend.clear_session()
        started = time.monotonic()
        try:
            hparams = Hyperparameters.from_values(trial.hyperparameters.values)
            loss = fit(self.data, hparams).eval_loss
        finally:
            self._seconds[trial.trial_id] = time.monotonic() - started
            self.oracle.longest_trial = max(self.oracle.longest_trial, self._seconds[trial.trial_id])
        if not math.isfinite(loss):
            raise keras_tuner.errors.FailedTrialError(f"the eval loss is {loss}: training diverged")
        return loss

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        ended = self.oracle.trials[trial.trial_id]
        record = trial_record(ended.trial_id, ended.status, ended.score, self._seconds.get(ended.trial_id, 0.0),
                              ended.hyperparameters.values, ended.message)
        self.records.append(record)
        logging.info("Tuning trial %s %s: %s in %.1f s %s%s", record["trial"], record["status"],
                     record["score"], record["seconds"], record["values"],
                     f"\n{ended.message}" if ended.message and record["status"] == "failed" else "")


def trial_record(trial_id: str, status: str, score: Optional[float], seconds: float,
                 values: Mapping[str, Any], message: Optional[str]) -> Dict[str, Any]:
    """What ML Metadata keeps of a trial: its values, status, score (eval loss), time, and why it failed."""
    completed = status == COMPLETED
    reason = ""
    if not completed and message:
        reason = message.strip().splitlines()[-1]
    return {"trial": trial_id, "status": "completed" if completed else "failed",
            "score": float(score) if completed and score is not None else None,
            "seconds": round(seconds, 1), "values": dict(values), "reason": reason}


def tuner_fn(fn_args) -> TunerFnResult:
    """TFX's Tuner contract: the tuner to search with, and what its run_trial needs (nothing: it holds the data)."""
    settings = (fn_args.custom_config or {}).get(search_space.TUNING_KEY) or {}
    keras_tuner_config.DEBUG = False  # a failed trial's traceback goes to the log (--verbose), not stdout
    fn_args.transform_output = fn_args.transform_graph_path  # what the Trainer's FnArgs call it
    max_trials = int(settings.get("max_trials", MAX_TRIALS))
    dims = search_space.space(settings.get("space"))
    oracle = BudgetOracle(
        time_budget=float(settings.get("time_budget", TIME_BUDGET_SECONDS)),
        objective=keras_tuner.Objective(OBJECTIVE, "min"),
        max_trials=max_trials,
        hyperparameters=declare(dims),
        seed=HYPERPARAMETERS.seed,
        max_consecutive_failed_trials=max_trials + 1,  # a failed trial never ends the search early
    )
    oracle.verbose = 0  # keras-tuner's own progress goes to stdout; trials are logged through absl
    tuner = FitTuner(TrainingData.from_fn_args(fn_args), oracle, directory=fn_args.working_dir,
                     project_name="trials", overwrite=True)
    return TunerFnResult(tuner=tuner, fit_kwargs={})
