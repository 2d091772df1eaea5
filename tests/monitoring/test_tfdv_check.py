"""TFDV beside the drift tests: comparator measures reported apart from schema anomalies."""
import os

from tensorflow_metadata.proto.v0 import schema_pb2

from monitoring import tfdv_check
from serving.contract import ServingFeatures, load_schema
from tests.conftest import PENGUINS

SCHEMA = os.path.join(PENGUINS, "schema.pbtxt")


def table(rows, types):
    return {name: [row.get(name) for row in rows] for name in types}


def test_comparators_are_measured_and_schema_anomalies_kept_apart():
    features = ServingFeatures.from_file(SCHEMA)
    types = {name: spec.type for name, spec in features.specs.items()}
    rows = features.read_csv(os.path.join(PENGUINS, "penguins.csv"))
    train = tfdv_check.statistics_of(table(rows, types), types)
    served_rows = [dict(r, island="Atlantis", bill_length_mm=(r["bill_length_mm"] or 40) + 10) for r in rows]
    served = tfdv_check.statistics_of(table(served_rows, types), types)
    found = tfdv_check.findings(served, train, load_schema(SCHEMA), set(types))
    assert found["drift_threshold_exceeded"] == ["bill_length_mm", "island"]
    assert found["drift"]["bill_length_mm"]["measure"] == "jensen_shannon_divergence"
    assert set(found["anomalies"]) == {"island"}  # Atlantis is outside the domain; the shift is not an anomaly
    assert all(not r["type"].startswith("COMPARATOR_") for r in found["anomalies"]["island"])


def test_statistics_take_missing_values_and_odd_integers():
    types = {"n": schema_pb2.INT, "m": schema_pb2.INT, "s": schema_pb2.BYTES}
    stats = tfdv_check.statistics_of({"n": [1.0, None, 3.0], "m": [1.5, 2.0, None], "s": ["a", None, "b"]}, types)
    features = {f.path.step[0]: f for f in stats.datasets[0].features}
    assert stats.datasets[0].num_examples == 3
    assert features["n"].type == 0 and features["n"].num_stats.common_stats.num_missing == 1  # INT
    assert features["m"].type == 1  # non-integral values in an INT feature are kept as floats
