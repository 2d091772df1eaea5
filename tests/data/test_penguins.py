"""The bundled dataset's curated schema guards numbers: NaN and infinity are anomalies the gate names."""
import os

import pytest
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from tests.conftest import PENGUINS


def anomalies_of(csv_text: str, schema_path: str, tmp_path) -> dict:
    """TFDV's anomalies of a CSV against a schema, as ExampleValidator finds them: feature -> description."""
    path = tmp_path / "data.csv"
    path.write_text(csv_text)
    schema = text_format.Parse(open(schema_path).read(), schema_pb2.Schema())
    found = tfdv.validate_statistics(tfdv.generate_statistics_from_csv(str(path)), schema, environment="TRAINING")
    return {name: info.description for name, info in found.anomaly_info.items()}


@pytest.mark.parametrize("value, description", [("NaN", "Float feature has NaN values"),
                                                 ("inf", "Float feature has Inf values")])
def test_non_finite_floats_are_anomalies(tmp_path, value, description):
    text = open(os.path.join(PENGUINS, "penguins.csv")).read().replace(
        "Adelie,Torgersen,39.1,", f"Adelie,Torgersen,{value},", 1)
    anomalies = anomalies_of(text, os.path.join(PENGUINS, "schema.pbtxt"), tmp_path)
    assert description in anomalies["bill_length_mm"]


def test_the_bundled_data_has_none(tmp_path):
    text = open(os.path.join(PENGUINS, "penguins.csv")).read()
    assert anomalies_of(text, os.path.join(PENGUINS, "schema.pbtxt"), tmp_path) == {}
