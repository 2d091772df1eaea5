"""What a run trained with, read back from ML Metadata: the Tuner's trials, an imported file, or nothing."""
import json

from runs import metadata, tuning
from tests.mlmd_fake import FakeTfxStore


def _best(tmp_path, values):
    folder = tmp_path / "best"
    folder.mkdir()
    (folder / "best_hyperparameters.txt").write_text(json.dumps({"space": [], "values": values}))
    return str(folder)


def test_the_trainers_hyperparameters_and_the_tuners_trials_are_read_from_the_store(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    run = fake.run("r1")
    trials = [{"trial": "0", "status": "completed", "score": 0.5, "seconds": 3.0, "values": {"model_type": "dnn"},
               "reason": ""},
              {"trial": "1", "status": "failed", "score": None, "seconds": 1.0, "values": {"model_type": "linear"},
               "reason": "the eval loss is nan: training diverged"}]
    best = fake.execute(run, "Tuner", outputs={"best_hyperparameters": fake.artifact(
        "HyperParameters", _best(tmp_path, {"model_type": "dnn"}), trials=json.dumps(trials), best_score=0.5,
        tuning_seconds=4.0)})["best_hyperparameters"]
    fake.execute(run, "Trainer", inputs={"hyperparameters": best})
    tuned = tuning.trained_with(fake.store, metadata.run_overview(fake.store, "r1"))
    assert tuned.producer == "Tuner" and tuned.values == {"model_type": "dnn"}
    assert tuned.file.endswith("best_hyperparameters.txt")
    lines = tuning.summary_lines(tuned)
    assert "2 trials (1 completed, 1 failed)" in lines[2] and "best eval loss 0.5000" in lines[2]
    assert [row[1] for row in tuning.trial_rows(tuned)] == ["completed", "failed"]
    assert "diverged" in tuning.trial_rows(tuned)[1][4]
    assert tuning.latest_hyperparameters(fake.store, fake.pipeline_name) == best.id


def test_a_run_without_hyperparameters_trained_with_the_defaults(tmp_path):
    fake = FakeTfxStore(str(tmp_path / "m.sqlite"))
    fake.execute(fake.run("r1"), "Trainer")
    assert tuning.trained_with(fake.store, metadata.run_overview(fake.store, "r1")) is None
    assert "default hyperparameters" in tuning.summary_lines(None)[0]
    assert tuning.latest_hyperparameters(fake.store, fake.pipeline_name) is None
