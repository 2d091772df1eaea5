"""The model/server contract is stated once on each side; the two statements must agree."""
import os

import pytest

from models import export, warmup
from serving import contract
from tests.conftest import PENGUINS


def test_both_sides_name_the_same_signature_input_and_schema_asset():
    assert export.SERVING_SIGNATURE == contract.SERVING_SIGNATURE
    assert export.EXAMPLES_INPUT == contract.EXAMPLES_INPUT
    assert (export.CLASSIFY_METHOD, export.REGRESS_METHOD, export.API_INPUT) == (
        contract.CLASSIFY_METHOD, contract.REGRESS_METHOD, contract.API_INPUT)
    assert os.path.join(export.EXTRA_ASSETS_DIR, export.SCHEMA_ASSET) == \
        os.path.join(contract.EXTRA_ASSETS_DIR, contract.SCHEMA_FILE)
    assert os.path.join(export.EXTRA_ASSETS_DIR, warmup.WARMUP_FILE) == \
        os.path.relpath(contract.warmup_path("/m/7"), "/m/7")


def test_schema_path_of_a_version():
    assert contract.schema_path("/m/7") == "/m/7/assets.extra/schema.pbtxt"


def _complete_version(path, shards=1):
    for name in ("saved_model.pb", "assets.extra/schema.pbtxt", "variables/variables.index") + tuple(
            f"variables/variables.data-{i:05d}-of-{shards:05d}" for i in range(shards)):
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(b"x")


def test_a_complete_version_misses_nothing(tmp_path):
    _complete_version(tmp_path)
    assert contract.missing_files(str(tmp_path)) == []


@pytest.mark.parametrize("removed", ["saved_model.pb", "assets.extra/schema.pbtxt", "variables/variables.index",
                                     "variables/variables.data-00000-of-00001"])
def test_each_required_file_is_named_when_missing(tmp_path, removed):
    _complete_version(tmp_path)
    (tmp_path / removed).unlink()
    assert contract.missing_files(str(tmp_path)) == [removed]


def test_a_missing_data_shard_is_named_from_the_others(tmp_path):
    _complete_version(tmp_path, shards=3)
    (tmp_path / "variables/variables.data-00001-of-00003").unlink()
    assert contract.missing_files(str(tmp_path)) == ["variables/variables.data-00001-of-00003"]


def test_an_empty_folder_misses_everything(tmp_path):
    assert contract.missing_files(str(tmp_path)) == [
        "saved_model.pb", "variables/variables.index", "assets.extra/schema.pbtxt",
        "variables/variables.data-00000-of-00001"]


def test_the_served_features_are_the_schemas_serving_environment(tmp_path):
    features = contract.ServingFeatures.from_file(os.path.join(PENGUINS, "schema.pbtxt"))
    assert "species" not in features.names and "species" in features.dropped
    assert "bill_length_mm" in features.names
    rows = features.read_csv(os.path.join(PENGUINS, "penguins.csv"), limit=2)
    assert len(rows) == 2 and set(rows[0]) == set(features.names)
    (tmp_path / "bad.csv").write_text("bill_length_mm\n39.1\n")  # island is always present
    with pytest.raises(contract.FeatureError, match="lacks the required column"):
        features.read_csv(str(tmp_path / "bad.csv"))
