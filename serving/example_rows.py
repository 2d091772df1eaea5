"""Serialized `tf.Example`s -> JSON-friendly rows, without importing TensorFlow.

The request log's writer process turns every logged example into a row. Importing
TensorFlow there would cost it seconds and hundreds of MB for one small message type, so
`Example` is declared here from TensorFlow's example.proto and feature.proto (same
package, names and field numbers: the bytes are read exactly as TensorFlow reads them).
`example_to_row` takes this class's messages and TensorFlow's alike.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_Field = descriptor_pb2.FieldDescriptorProto


def _example_class():
    file = descriptor_pb2.FileDescriptorProto(name="serving_local/example.proto", package="tensorflow",
                                              syntax="proto3")

    def message(name: str, fields, nested=()):
        msg = file.message_type.add(name=name)
        for nested_msg in nested:
            msg.nested_type.add().CopyFrom(nested_msg)
        for number, (field_name, kind, label, type_name, packed) in enumerate(fields, start=1):
            field = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name
            if packed:
                field.options.packed = True
            if field_name in ("bytes_list", "float_list", "int64_list"):
                field.oneof_index = 0
        if any(f[0] == "bytes_list" for f in fields):
            msg.oneof_decl.add(name="kind")
        return msg

    repeated, optional = _Field.LABEL_REPEATED, _Field.LABEL_OPTIONAL
    message("BytesList", [("value", _Field.TYPE_BYTES, repeated, "", False)])
    message("FloatList", [("value", _Field.TYPE_FLOAT, repeated, "", True)])
    message("Int64List", [("value", _Field.TYPE_INT64, repeated, "", True)])
    message("Feature", [("bytes_list", _Field.TYPE_MESSAGE, optional, ".tensorflow.BytesList", False),
                        ("float_list", _Field.TYPE_MESSAGE, optional, ".tensorflow.FloatList", False),
                        ("int64_list", _Field.TYPE_MESSAGE, optional, ".tensorflow.Int64List", False)])
    entry = descriptor_pb2.DescriptorProto(name="FeatureEntry")
    entry.field.add(name="key", number=1, type=_Field.TYPE_STRING, label=optional)
    entry.field.add(name="value", number=2, type=_Field.TYPE_MESSAGE, label=optional, type_name=".tensorflow.Feature")
    entry.options.map_entry = True
    message("Features", [("feature", _Field.TYPE_MESSAGE, repeated, ".tensorflow.Features.FeatureEntry", False)],
            nested=[entry])
    message("Example", [("features", _Field.TYPE_MESSAGE, optional, ".tensorflow.Features", False)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("tensorflow.Example"))


Example = _example_class()


def example_to_row(example) -> Dict[str, Any]:
    """A tf.Example -> JSON-friendly dict: single values as scalars, empty as None."""
    row: Dict[str, Any] = {}
    features = example.features.feature
    for name in features:  # not .items(): a protobuf map's items() is a slow Python-level view
        fields = features[name].ListFields()  # the one set list of the oneof, if any
        if not fields:
            row[name] = None
            continue
        field, values = fields[0][0].name, fields[0][1].value
        if field == "bytes_list":
            values = [v.decode("utf-8", errors="replace") for v in values]
        elif field == "float_list":
            # float32 -> shortest decimal that round-trips, not float64 noise.
            values = [float(f"{v:.7g}") for v in values]
        else:
            values = list(values)
        row[name] = values[0] if len(values) == 1 else (values or None)
    return row


def parse_examples(serialized: Iterable[bytes]) -> List[Optional[Dict[str, Any]]]:
    """Serialized tf.Examples -> rows; None for bytes that are not a tf.Example."""
    rows = []
    for data in serialized:
        try:
            rows.append(example_to_row(Example.FromString(data)))
        except Exception:  # noqa: BLE001 - any undecodable payload is simply not a row
            rows.append(None)
    return rows
