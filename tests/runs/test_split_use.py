"""Which splits each component read, from its recorded execution properties: inspect, lineage and history."""
import json

from runs import history, inspect, lineage, split_use
from tests.mlmd_fake import FakeTfxStore

TRANSFORM = {"force_tf_compat_v1": "1", "splits_config": json.dumps({"analyze": ["train"],
                                                                     "transform": ["train", "eval", "test"]})}
TRAINER = {"train_args": json.dumps({"num_steps": 5, "splits": ["train"]}),
           "eval_args": json.dumps({"num_steps": 2, "splits": ["eval"]})}
EVALUATOR = {"eval_config": "{}", "example_splits": json.dumps(["test"])}


def _run(tmp_path, evaluator=EVALUATOR):
    """One run's Transform -> Trainer -> Evaluator -> Pusher with the split properties TFX records."""
    fake = FakeTfxStore(str(tmp_path / "metadata.sqlite"))
    run = fake.run("run-1")
    examples = fake.execute(run, "CsvExampleGen", outputs={"examples": fake.artifact(
        "Examples", "/p/examples", split_names='["train", "eval", "test"]')})["examples"]
    graph = fake.execute(run, "Transform", inputs={"examples": examples}, **TRANSFORM,
                         outputs={"transform_graph": fake.artifact("TransformGraph", "/p/graph")})["transform_graph"]
    model = fake.execute(run, "Trainer", inputs={"transform_graph": graph}, **TRAINER,
                         outputs={"model": fake.artifact("Model", "/p/model")})["model"]
    outputs = fake.execute(run, "Evaluator", inputs={"model": model, "examples": examples}, **evaluator, outputs={
        "blessing": fake.artifact("ModelBlessing", "/p/blessing", blessed=1),
        "evaluation": fake.artifact("ModelEvaluation", str(tmp_path / "gone"))})
    fake.execute(run, "Pusher", inputs={"model": model, "model_blessing": outputs["blessing"]}, outputs={
        "pushed_model": fake.artifact("PushedModel", "/p/pushed", pushed=1, pushed_version="7")})
    return fake.store, outputs["evaluation"]


def test_inspect_runs_shows_the_splits_each_component_read(tmp_path, capsys):
    _run(tmp_path)
    assert inspect.main(["runs", "--output-dir", str(tmp_path), "--json"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    read = {c["component"]: c["splits_read"] for c in run["components"]}
    assert read == {"CsvExampleGen": {}, "Transform": {"analyze": ["train"], "transform": ["train", "eval", "test"]},
                    "Trainer": {"train": ["train"], "eval": ["eval"]}, "Evaluator": {"evaluate": ["test"]},
                    "Pusher": {}}
    assert inspect.main(["runs", "--output-dir", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "splits read" in table
    assert any(line.split()[0] == "Evaluator" and line.endswith("evaluate: test") for line in table.splitlines())


def test_lineage_names_the_splits_that_made_each_artifact(tmp_path):
    store, _ = _run(tmp_path)
    steps = {s.role: s.details.get("splits_read") for s in lineage.trace(store, lineage.find_start(store))}
    assert steps["blessing"] == "evaluate: test"
    assert steps["model"] == "train: train; eval: eval"
    assert steps["transform_graph"] == "analyze: train; transform: train, eval, test"


def test_history_says_which_split_the_evaluation_used(tmp_path):
    store, evaluation = _run(tmp_path)
    assert split_use.evaluated_on(store, evaluation) == ["test"]
    row = history.HistoryRow("r", "", 0, "manual", "", history.PUSHED, evaluated_on=["test"], evaluated_examples=52)
    assert "test (52 examples)" in "\n".join(inspect.format_history([row.to_dict()]))


def test_tfx_defaults_are_named_when_a_property_was_left_empty(tmp_path):
    """A run from before the test split: the Evaluator's example_splits unset means TFX judged on eval."""
    store, evaluation = _run(tmp_path, evaluator={"eval_config": "{}", "example_splits": "null"})
    assert split_use.evaluated_on(store, evaluation) == ["eval"]
    assert split_use.splits_read(None) == {}
