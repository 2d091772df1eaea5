"""Reading artifacts into plain facts: anomalies and threshold failures in words."""
import tensorflow_model_analysis as tfma
from tensorflow_metadata.proto.v0 import anomalies_pb2

from runs import results


def test_anomalies_are_read_per_split(tmp_path):
    for split, feature in (("train", "island"), ("eval", "body_mass_g")):
        anomalies = anomalies_pb2.Anomalies()
        info = anomalies.anomaly_info[feature]
        reason = info.reason.add()
        reason.short_description = "Unexpected string values"
        reason.description = "Examples contain values missing from the schema: Atlantis (~1%)."
        (tmp_path / f"Split-{split}").mkdir()
        (tmp_path / f"Split-{split}" / "SchemaDiff.pb").write_bytes(anomalies.SerializeToString())
    found = results.read_anomalies(str(tmp_path))
    assert [(a.split, a.feature) for a in found] == [("eval", "body_mass_g"), ("train", "island")]
    assert str(found[1]) == ("[train] island: Unexpected string values - "
                             "Examples contain values missing from the schema: Atlantis (~1%).")


def test_clean_data_has_no_anomalies(tmp_path):
    (tmp_path / "Split-train").mkdir()
    (tmp_path / "Split-train" / "SchemaDiff.pb").write_bytes(anomalies_pb2.Anomalies().SerializeToString())
    assert results.read_anomalies(str(tmp_path)) == []


def test_value_threshold_says_how_far_short():
    threshold = tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(lower_bound={"value": 0.85}))
    assert results._threshold_text(threshold, 0.7262) == "needs >= 0.85 (short by 0.1238)"


def test_change_threshold_direction():
    higher = tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -0.02}))
    lower = tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.LOWER_IS_BETTER, absolute={"value": 0.1}))
    assert results._threshold_text(higher, -0.27) == "change vs baseline must be >= -0.02"
    assert results._threshold_text(lower, 0.3) == "change vs baseline must be <= 0.1"
