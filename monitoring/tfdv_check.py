"""TFDV's view of a window: the schema's drift and skew comparators and its schema checks.

The schema's `drift_comparator` / `skew_comparator` thresholds are the TFX contract and are
reported beside the drift tests, but they do not alarm: a fixed divergence threshold on
histograms ignores sample size (see monitoring/drift_statistics.py for what does). Schema anomalies
of the traffic (values outside a domain, a required feature absent...) do alarm.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

COMPARATOR_PREFIX = "COMPARATOR_"


def statistics_of(values: Mapping[str, List[Any]], schema_types: Mapping[str, int]):
    """TFDV statistics of a table of single values per feature (None = missing), typed as the schema says."""
    import pandas as pd
    import tensorflow_data_validation as tfdv

    frame = pd.DataFrame(index=range(len(next(iter(values.values()), []))))
    for name, schema_type in schema_types.items():
        if schema_type == schema_pb2.BYTES:
            frame[name] = pd.Series(values[name], dtype=object)
            continue
        column = pd.to_numeric(pd.Series(values[name], dtype=object), errors="coerce").astype("float64")
        integral = schema_type == schema_pb2.INT and bool((column.dropna() % 1 == 0).all())
        frame[name] = column.astype("Int64") if integral else column
    return tfdv.generate_statistics_from_dataframe(frame)


def _measurements(anomalies, kind: str, features: set) -> Dict[str, Dict[str, Any]]:
    type_names = anomalies_pb2.DriftSkewInfo.Measurement.Type
    out = {}
    for info in anomalies.drift_skew_info:
        name = ".".join(info.path.step)
        if name not in features:
            continue
        for m in (info.drift_measurements if kind == "drift" else info.skew_measurements):
            out[name] = {"measure": type_names.Name(m.type).lower(), "value": round(m.value, 6),
                         "threshold": m.threshold, "exceeded": m.value > m.threshold}
    return out


def _schema_anomalies(anomalies, features: set) -> Dict[str, List[Dict[str, str]]]:
    """Anomalies other than a comparator's threshold, per serving feature."""
    out = {}
    for name, info in anomalies.anomaly_info.items():
        reasons = [{"type": anomalies_pb2.AnomalyInfo.Type.Name(r.type),
                    "short_description": r.short_description, "description": r.description}
                   for r in info.reason]
        reasons = [r for r in reasons if not r["type"].startswith(COMPARATOR_PREFIX)]
        if name in features and reasons:
            out[name] = reasons
    return out


def findings(served, train, schema: schema_pb2.Schema, features: set) -> Dict[str, Any]:
    """TFDV drift (serving vs training) and skew (training vs serving) measures, and schema anomalies."""
    import tensorflow_data_validation as tfdv

    drift = tfdv.validate_statistics(served, schema, environment="SERVING", previous_statistics=train)
    # Skew is validated from the training side; features the SERVING environment excludes
    # (the label) are never in traffic, so only serving features are reported.
    skew = tfdv.validate_statistics(train, schema, environment="TRAINING", serving_statistics=served)
    drift_by_feature = _measurements(drift, "drift", features)
    skew_by_feature = _measurements(skew, "skew", features)
    return {
        "drift": drift_by_feature,
        "skew": skew_by_feature,
        "drift_threshold_exceeded": sorted(n for n, m in drift_by_feature.items() if m["exceeded"]),
        "skew_threshold_exceeded": sorted(n for n, m in skew_by_feature.items() if m["exceeded"]),
        "anomalies": _schema_anomalies(drift, features),
    }
