"""The tuner's search: defaults first, failed (NaN) trials recorded while the search goes on, the budget."""
import math
import types

import pytest

from models import search_space, tuning
from models.model import Hyperparameters


def _search(tmp_path, monkeypatch, losses, max_trials=4, time_budget=600.0, space=None):
    """A search whose trials score `losses(hparams)` instead of training; returns the tuner."""
    monkeypatch.setattr(tuning, "fit", lambda data, hparams: types.SimpleNamespace(eval_loss=losses(hparams)))
    monkeypatch.setattr(tuning.TrainingData, "from_fn_args", classmethod(lambda cls, fn_args: None))
    settings = {"max_trials": max_trials, "time_budget": time_budget,
                "space": space or search_space.to_json(search_space.DEFAULT_SPACE)}
    fn_args = types.SimpleNamespace(working_dir=str(tmp_path), transform_graph_path=None,
                                    custom_config={search_space.TUNING_KEY: settings})
    tuner = tuning.tuner_fn(fn_args).tuner
    tuner.search()
    return tuner


def test_first_trial_is_the_default_model_and_the_best_has_the_lowest_loss(tmp_path, monkeypatch):
    tuner = _search(tmp_path, monkeypatch, lambda h: h.learning_rate)
    first = Hyperparameters.from_values(tuner.records[0]["values"])
    assert first == Hyperparameters()
    assert len(tuner.records) == 4 and all(r["status"] == "completed" for r in tuner.records)
    best = tuner.get_best_hyperparameters()[0].values
    assert best["learning_rate"] == min(r["values"]["learning_rate"] for r in tuner.records)


def test_a_nan_trial_is_recorded_as_failed_and_the_search_goes_on(tmp_path, monkeypatch):
    tuner = _search(tmp_path, monkeypatch, lambda h: math.nan if h.model_type == "dnn" else 1.0,
                    space={"model_type": ["dnn", "linear"]}, max_trials=5)
    failed = [r for r in tuner.records if r["status"] == "failed"]
    assert failed and all(r["values"]["model_type"] == "dnn" and "diverged" in r["reason"] for r in failed)
    assert any(r["status"] == "completed" for r in tuner.records)
    assert tuner.get_best_hyperparameters()[0].values["model_type"] == "linear"


def test_the_time_budget_stops_the_search_before_max_trials(tmp_path, monkeypatch):
    monkeypatch.setattr(tuning.time, "monotonic", _clock(step=10.0))
    tuner = _search(tmp_path, monkeypatch, lambda h: 1.0, max_trials=10, time_budget=45.0)
    assert 1 <= len(tuner.records) < 10


def _clock(step):
    """A monotonic clock that moves `step` seconds each time it is read."""
    now = [0.0]

    def read():
        now[0] += step
        return now[0]
    return read


@pytest.mark.parametrize("raw, message", [
    ({"lerning_rate": [0.1]}, "unknown hyperparameter"),
    ({"units": {"min": 128, "max": 8}}, "inverted"),
    ({"batch_size": []}, "empty"),
    ({"learning_rate": {"min": 0, "max": 0.1, "log": True}}, "log range needs min > 0"),
    ({"dropout": {"low": 0}}, "a range is"),
])
def test_a_space_that_cannot_be_searched_names_the_key_and_the_fix(raw, message):
    with pytest.raises(search_space.SpaceError, match=message) as error:
        search_space.space(raw)
    assert f"tuning.space.{next(iter(raw))}" in str(error.value)


def test_a_list_of_whole_and_decimal_numbers_is_searched_as_decimals(tmp_path, monkeypatch):
    tuner = _search(tmp_path, monkeypatch, lambda h: h.l2, space={"l2": [0, 0.001]}, max_trials=2)
    assert {r["values"]["l2"] for r in tuner.records} <= {0.0, 0.001}
