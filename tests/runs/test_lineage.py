"""runs.lineage: from a pushed model back to the input files, through MLMD events."""
import json
import os

import pytest

from tests.mlmd_fake import FakeTfxStore
from runs import lineage, metadata
from runs.store import MetadataConfig, StoreError, open_store


@pytest.fixture
def store_with_baseline(tmp_path):
    """Two pushes; the second model was evaluated against the first (its baseline)."""
    fake = FakeTfxStore(str(tmp_path / "metadata.sqlite"))

    def train(run_id: str, data_dir: str, fingerprint: str, pushed: int, baseline=None):
        run = fake.run(run_id)
        examples = fake.execute(
            run, "CsvExampleGen", input_base=data_dir, input_config=json.dumps({"splits": [
                {"name": "single_split", "pattern": "*.csv"}]}),
            input_fingerprint=fingerprint,
            outputs={"examples": fake.artifact("Examples", f"/{run_id}/examples", span=0,
                                               input_fingerprint=fingerprint)})["examples"]
        gate = fake.execute(run, "ExampleValidator", outputs={"anomalies": fake.artifact(
            "ExampleAnomalies", f"/{run_id}/anomalies")})["anomalies"]
        model = fake.execute(run, "Trainer", run_fn="models.model.run_fn",
                             inputs={"examples": examples, "_ExampleValidator.anomalies": gate},
                             outputs={"model": fake.artifact("Model", f"/{run_id}/model")})["model"]
        inputs = {"examples": examples, "model": model, **({"baseline_model": baseline} if baseline else {})}
        evaluated = fake.execute(run, "Evaluator", inputs=inputs, outputs={
            "evaluation": fake.artifact("ModelEvaluation", f"/{run_id}/evaluation"),
            "blessing": fake.artifact("ModelBlessing", f"/{run_id}/blessing", blessed=pushed)})
        fake.execute(run, "Pusher", inputs={"model": model, "model_blessing": evaluated["blessing"]},
                     outputs={"pushed_model": fake.artifact("PushedModel", f"/{run_id}/pushed", pushed=pushed,
                                                            pushed_version=run_id)})
        return model

    first = train("1", "/data/old", "split:single_split,num_files:1,total_bytes:10", pushed=1)
    train("2", "/data/new", "split:single_split,num_files:2,total_bytes:20", pushed=1, baseline=first)
    train("3", "/data/newer", "split:single_split,num_files:3,total_bytes:30", pushed=0)
    return fake.store


def test_latest_push_is_traced_to_its_own_data_not_the_baselines(store_with_baseline):
    start = lineage.find_start(store_with_baseline)
    assert metadata.custom_property(start, "pushed_version") == "2"  # run 3 evaluated but did not push
    steps = lineage.trace(store_with_baseline, start)
    assert [s.role for s in steps] == ["pushed_model", "blessing", "evaluation", "model", "examples", "input_data"]
    assert all(s.run_id == "2" for s in steps)
    assert not any(s.uri.startswith("/1/") for s in steps)  # the baseline is compared with, not an ancestor
    assert not any(s.artifact_type == "ExampleAnomalies" for s in steps)  # a gate, not an input
    by_role = {s.role: s for s in steps}
    assert by_role["blessing"].details["blessed"] is True
    assert by_role["model"].details["run_fn"] == "models.model.run_fn"
    assert by_role["model"].component == "Trainer"
    data = by_role["input_data"]
    assert data.uri == "/data/new/*.csv"
    assert data.details["fingerprint"] == "split:single_split,num_files:2,total_bytes:20"


def test_find_start_by_version_and_by_id(store_with_baseline):
    assert lineage.find_start(store_with_baseline, version="1").uri == "/1/pushed"
    model = lineage.find_start(store_with_baseline, artifact_id=3)
    assert [s.role for s in lineage.trace(store_with_baseline, model)][0] == "model"
    with pytest.raises(lineage.LineageError, match=r"serving version 3 \(pushed versions: 2, 1\)"):
        lineage.find_start(store_with_baseline, version="3")  # evaluated, but never pushed
    with pytest.raises(lineage.LineageError, match="no artifact with id 4242"):
        lineage.find_start(store_with_baseline, artifact_id=4242)


def test_no_push_yet(tmp_path):
    store = FakeTfxStore(str(tmp_path / "metadata.sqlite")).store
    with pytest.raises(lineage.LineageError, match="no model has been pushed yet"):
        lineage.find_start(store)


@pytest.mark.e2e
def test_real_run_reaches_the_csv_files(pipeline_run):
    store = open_store(pipeline_run.metadata, readonly=True)
    steps = lineage.trace(store, lineage.find_start(store))
    assert [s.role for s in steps] == list(lineage.ROLE_ORDER)
    by_role = {s.role: s for s in steps}
    [run_id] = metadata.pipeline_runs(store)
    assert {s.run_id for s in steps} == {run_id}
    assert all(os.path.isdir(s.uri) for s in steps if s.role != "input_data")
    pushed = by_role["pushed_model"].details
    assert os.path.dirname(pushed["pushed_destination"]) == pipeline_run.serving_dir
    metrics = by_role["evaluation"].details["metrics"]
    assert metrics["example_count"] > 0
    assert metrics[pipeline_run.dataset.evaluation.metric] >= pipeline_run.dataset.evaluation.min_value
    assert by_role["schema"].details["schema"] == "curated"
    assert by_role["schema"].details["schema_file"] == pipeline_run.dataset.schema_path
    assert by_role["transform_graph"].details["preprocessing_fn"] == "models.preprocessing.preprocessing_fn"
    data = by_role["input_data"]
    assert data.uri == os.path.join(pipeline_run.dataset.folder, "*.csv")
    assert data.details["fingerprint"] == by_role["examples"].details["input_fingerprint"]
    assert f"total_bytes:{pipeline_run.dataset.data_bytes}" in data.details["fingerprint"]


@pytest.mark.e2e
def test_training_statistics_of_a_served_version(pipeline_run):
    store = open_store(pipeline_run.metadata, readonly=True)
    [version] = os.listdir(pipeline_run.serving_dir)
    version_dir = os.path.join(pipeline_run.serving_dir, version)
    found = lineage.training_statistics(store, version_dir)
    assert found.path.endswith(os.path.join("Split-train", "FeatureStats.pb")) and os.path.exists(found.path)
    assert "StatisticsGen" in found.path
    assert lineage.training_data_files(store, version_dir) == list(pipeline_run.dataset.csv_files)


@pytest.mark.e2e
def test_unknown_served_version_lists_the_known_destinations(pipeline_run, tmp_path):
    store = open_store(pipeline_run.metadata, readonly=True)
    with pytest.raises(lineage.LineageError, match="no PushedModel with destination") as error:
        lineage.training_statistics(store, str(tmp_path / "other" / "1"))
    assert pipeline_run.serving_dir in str(error.value)


def test_missing_store_is_explained(tmp_path):
    with pytest.raises(StoreError, match="no metadata store"):
        open_store(MetadataConfig(sqlite_path=str(tmp_path / "metadata.sqlite")), readonly=True)
    assert not os.path.exists(tmp_path / "metadata.sqlite")


def test_training_statistics_follow_the_served_models_own_data_not_its_baseline(tmp_path):
    """The monitor's baseline: statistics of the examples that trained this push, never the baseline's."""
    fake = FakeTfxStore(str(tmp_path / "metadata.sqlite"))
    serving = tmp_path / "serving_model" / "m"

    def train(run_id: str, baseline=None):
        run = fake.run(run_id)
        data = tmp_path / f"data-{run_id}"
        data.mkdir()
        (data / "rows.csv").write_text("a,b\n1,2\n")
        examples = fake.execute(run, "CsvExampleGen", input_base=str(data), input_config=json.dumps(
            {"splits": [{"name": "single_split", "pattern": "*.csv"}]}), outputs={"examples": fake.artifact(
                "Examples", str(tmp_path / run_id / "examples"), split_names='["train", "eval"]')})["examples"]
        stats_uri = tmp_path / run_id / "statistics"
        (stats_uri / "Split-train").mkdir(parents=True)
        (stats_uri / "Split-train" / "FeatureStats.pb").write_bytes(b"")
        fake.execute(run, "StatisticsGen", inputs={"examples": examples},
                     outputs={"statistics": fake.artifact("ExampleStatistics", str(stats_uri))})
        model = fake.execute(run, "Trainer", inputs={"examples": examples},
                             outputs={"model": fake.artifact("Model", f"/{run_id}/model")})["model"]
        fake.execute(run, "Pusher", inputs={"model": model, **({"baseline_model": baseline} if baseline else {})},
                     outputs={"pushed_model": fake.artifact("PushedModel", f"/{run_id}/pushed", pushed=1,
                                                            pushed_destination=str(serving / run_id))})
        return model

    train("2", baseline=train("1"))
    found = lineage.training_statistics(fake.store, str(serving / "2"))
    assert found.path == str(tmp_path / "2" / "statistics" / "Split-train" / "FeatureStats.pb")
    assert lineage.training_data_files(fake.store, str(serving / "1")) == [str(tmp_path / "data-1" / "rows.csv")]
    # The output folder moved since the push: matched by <model>/<version>.
    assert lineage.training_statistics(fake.store, "/elsewhere/serving_model/m/2").path == found.path
