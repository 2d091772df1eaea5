import os

import pytest

from serving.lineage import LineageError, training_statistics
from serving.versions import list_versions


def test_finds_the_train_split_statistics_of_the_pushed_model(pipeline_run):
    [version] = list_versions(pipeline_run.serving_dir)
    found = training_statistics(pipeline_run.metadata.sqlite_path,
                                os.path.join(pipeline_run.serving_dir, str(version)))
    assert found.path.endswith(os.path.join("Split-train", "FeatureStats.pb")) and os.path.exists(found.path)
    assert "StatisticsGen" in found.path


def test_unknown_destination_is_explained(pipeline_run, tmp_path):
    with pytest.raises(LineageError, match="no PushedModel with destination") as error:
        training_statistics(pipeline_run.metadata.sqlite_path, str(tmp_path / "other" / "1"))
    assert pipeline_run.serving_dir in str(error.value)  # lists the known destinations


def test_missing_store_is_explained(tmp_path):
    with pytest.raises(LineageError, match="no metadata store"):
        training_statistics(str(tmp_path / "metadata.sqlite"), str(tmp_path))
