"""Where the Trainer's hyperparameters come from (Tuner, --hparams, the latest tuned), and tuning's bad input."""
import json
import os

import pytest

import local_runner
from pipeline import preflight
from pipeline.config import ConfigError, load_config
from pipeline.pipeline import create_pipeline
from pipeline.tuning import IMPORTER_ID, RESOLVER_ID, TUNER_ID
from tests.conftest import PENGUINS


def _nodes(config):
    return {c.id: c for c in create_pipeline(preflight.check(config)[0]).components}


def _penguins_with(tmp_path, yaml_text):
    """A copy of the bundled penguins whose dataset.yaml ends with `yaml_text`."""
    folder = tmp_path / "penguins"
    folder.mkdir()
    for name in os.listdir(PENGUINS):
        (folder / name).write_bytes(open(os.path.join(PENGUINS, name), "rb").read())
    with open(folder / "dataset.yaml", "a") as f:
        f.write("\n" + yaml_text)
    return folder


def _hparams_file(tmp_path, content):
    path = tmp_path / "hparams.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_tuning_puts_the_tuner_before_the_trainer_on_train_and_eval(tmp_path):
    nodes = _nodes(load_config(None, {"output_dir": str(tmp_path), "tuning": {"enabled": True, "max_trials": 3}}))
    tuner, trainer = nodes[TUNER_ID], nodes["Trainer"]
    assert trainer.inputs["hyperparameters"].producer_component_id == TUNER_ID
    assert tuner.upstream_nodes >= {nodes["Transform"]} and RESOLVER_ID not in nodes
    assert json.loads(tuner.exec_properties["train_args"])["splits"] == ["train"]
    assert json.loads(tuner.exec_properties["eval_args"])["splits"] == ["eval"]
    settings = json.loads(tuner.exec_properties["custom_config"])["tuning"]
    assert settings["max_trials"] == 3 and set(settings["space"]) >= {"model_type", "learning_rate", "batch_size"}


def test_hparams_file_is_imported_and_skips_tuning(tmp_path):
    path = _hparams_file(tmp_path, {"model_type": "linear"})
    nodes = _nodes(load_config(None, {"output_dir": str(tmp_path / "out"), "tuning": {"hparams": path}}))
    assert TUNER_ID not in nodes
    assert nodes["Trainer"].inputs["hyperparameters"].producer_component_id == IMPORTER_ID
    staged = nodes[IMPORTER_ID].exec_properties["artifact_uri"]
    assert os.listdir(staged) == ["best_hyperparameters.txt"]


def test_without_tuning_the_trainer_gets_the_latest_tuned_hyperparameters(tmp_path):
    nodes = _nodes(load_config(None, {"output_dir": str(tmp_path)}))
    assert TUNER_ID not in nodes
    assert nodes["Trainer"].inputs["hyperparameters"].producer_component_id == RESOLVER_ID


@pytest.mark.parametrize("tuning, key", [
    ({"enabled": True, "space": {"lerning_rate": [0.1]}}, "tuning.space.lerning_rate"),
    ({"enabled": True, "space": {"units": {"min": 64, "max": 8}}}, "tuning.space.units"),
    ({"enabled": True, "space": {"model_type": []}}, "tuning.space.model_type"),
    ({"enabled": True, "max_trials": 0}, "tuning.max_trials"),
    ({"enabled": True, "time_budget": "5s"}, "tuning.time_budget"),
    ({"enabled": True, "time_budget": "soon"}, "tuning.time_budget"),
    ({"enabled": True, "space": {"model_type": ["forest"]}}, "tuning.space.model_type"),
    ({"enabled": True, "space": {"dropout": {"min": 0, "max": 1.5}}}, "tuning.space.dropout"),
])
def test_bad_tuning_settings_exit_2_naming_the_key_before_anything_is_written(tmp_path, capsys, tuning, key):
    config_file = tmp_path / "config.yaml"
    config_file.write_text(json.dumps({"tuning": tuning}))
    out = tmp_path / "out"
    assert local_runner.main(["--config", str(config_file), "--output-dir", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and key in error and not out.exists()


@pytest.mark.parametrize("content, words", [
    (None, "no such file"),
    ("{not json", "is not JSON"),
    ({"lerning_rate": 0.1}, "unknown hyperparameters ['lerning_rate']"),
    ({"values": {"model_type": "forest"}}, "model_type must be one of"),
    ([], "holds no hyperparameters"),
])
def test_a_bad_hparams_file_exits_2_before_anything_is_written(tmp_path, capsys, content, words):
    path = str(tmp_path / "missing.json") if content is None else _hparams_file(tmp_path, content)
    out = tmp_path / "out"
    assert local_runner.main(["--hparams", path, "--output-dir", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--hparams" in error and words in error and not out.exists()


def test_tune_and_hparams_together_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="give one of them"):
        load_config(None, {"output_dir": str(tmp_path),
                           "tuning": {"enabled": True, "hparams": _hparams_file(tmp_path, {"l2": 0.1})}})


def test_dataset_yaml_tuning_is_layered_under_the_flags(tmp_path):
    folder = _penguins_with(tmp_path, "tuning:\n  max_trials: 4\n  time_budget: 2m\n"
                                      "  space:\n    model_type: [linear]\n")
    config = load_config(None, {"dataset": str(folder), "tuning": {"enabled": True}})
    assert (config.tuning.enabled, config.tuning.max_trials, config.tuning.time_budget) == (True, 4, 120.0)
    assert config.tuning.tuner_settings()["space"]["model_type"] == ["linear"]


def test_hparams_on_the_command_line_wins_over_tuning_in_dataset_yaml(tmp_path):
    folder = _penguins_with(tmp_path, "tuning:\n  enabled: true\n")
    path = _hparams_file(tmp_path, {"l2": 0.1})
    config = load_config(None, {"dataset": str(folder), "tuning": {"hparams": path}})
    assert not config.tuning.enabled and config.tuning.hparams == path


def test_a_tuned_runs_file_gives_the_trainer_the_tuners_values(tmp_path):
    import types

    from models.model import Hyperparameters
    from models.training import hyperparameters
    from pipeline.tuning_config import hparams_values

    best = {"space": [{"class_name": "Choice", "config": {"name": "model_type"}}],
            "values": {"model_type": "wide_and_deep", "num_layers": 3, "units": 32, "learning_rate": 0.002}}
    path = _hparams_file(tmp_path, best)
    config = load_config(None, {"output_dir": str(tmp_path / "out"), "tuning": {"hparams": path}})
    assert hparams_values(config.tuning.hparams) == best["values"]
    trained = hyperparameters(types.SimpleNamespace(hyperparameters=best))  # what the Trainer reads
    assert trained == Hyperparameters(model_type="wide_and_deep", hidden_units=(32, 32, 32), learning_rate=0.002)
