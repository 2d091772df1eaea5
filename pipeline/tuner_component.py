"""TFX's Tuner with an executor that records every trial in ML Metadata and fails clearly.

TFX's executor writes the best hyperparameters and the completed trials' scores
(`tuner_results.json`), and fails with an IndexError when no trial completed. This one also
puts every trial (values, status, eval loss, seconds, why it failed) and the search's time on
the best_hyperparameters artifact (runs/tuning.py reads them), and says so when every trial
failed. Imported only when a run tunes: keras-tuner costs seconds to import.
"""
from __future__ import annotations

import json
import time
from typing import Any, Dict, List

from tfx import types
from tfx.components.tuner import executor as tuner_executor
from tfx.components.tuner.component import Tuner
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs

from runs.tuning import BEST_SCORE_PROPERTY, TRIALS_PROPERTY, TUNING_SECONDS_PROPERTY


class AllTrialsFailed(RuntimeError):
    """No trial of the search completed: nothing to train with."""


def all_failed_message(trials: List[Dict[str, Any]]) -> str:
    reasons = sorted({t.get("reason") or "unknown" for t in trials})
    return (f"every one of the {len(trials)} tuning trials failed ({'; '.join(reasons)}): "
            "narrow tuning.space (e.g. lower learning rates) or check the data")


class RecordingTunerExecutor(tuner_executor.Executor):
    """TFX's Tuner executor, keeping every trial on the best_hyperparameters artifact."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        started = time.monotonic()
        tuner = tuner_executor.search(input_dict, exec_properties, self._get_tmp_dir(), print_tuning_summary=False)
        trials = list(tuner.records)
        completed = [t for t in trials if t["status"] == "completed"]
        if not completed:
            raise AllTrialsFailed(all_failed_message(trials))
        tuner_executor.write_best_hyperparameters(tuner, output_dict)
        best = artifact_utils.get_single_instance(output_dict[standard_component_specs.BEST_HYPERPARAMETERS_KEY])
        best.set_string_custom_property(TRIALS_PROPERTY, json.dumps(trials))
        best.set_float_custom_property(BEST_SCORE_PROPERTY, min(t["score"] for t in completed))
        best.set_float_custom_property(TUNING_SECONDS_PROPERTY, round(time.monotonic() - started, 1))


class RecordingTuner(Tuner):
    """TFX's Tuner component running RecordingTunerExecutor (TFX's way to swap an executor)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(RecordingTunerExecutor)
