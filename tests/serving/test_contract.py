"""The model/server contract is stated once on each side; the two statements must agree."""
import os

from models import model
from serving import contract


def test_both_sides_name_the_same_signature_input_and_schema_asset():
    assert model.SERVING_SIGNATURE == contract.SERVING_SIGNATURE
    assert model.EXAMPLES_INPUT == contract.EXAMPLES_INPUT
    assert os.path.join(model.EXTRA_ASSETS_DIR, model.SCHEMA_ASSET) == \
        os.path.join(contract.EXTRA_ASSETS_DIR, contract.SCHEMA_FILE)


def test_schema_path_of_a_version():
    assert contract.schema_path("/m/7") == "/m/7/assets.extra/schema.pbtxt"
