"""TF Serving's REST JSON <-> numpy, following its json_tensor rules and messages.

Request: `{"signature_name": ..., "instances": [...]}` (row format) or
`{"inputs": ...}` (columnar format); `{"b64": "..."}` for binary strings. Response:
`{"predictions": [...]}` for rows, `{"outputs": ...}` for columns; with several
outputs each prediction is an object keyed by output name.

On top of that, a friendlier form for models whose only input is serialized
tf.Examples: `instances` (or `inputs`) may be plain objects of raw feature values,
which are turned into tf.Examples with the model's schema.
"""
from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
import orjson
import tensorflow as tf

from serving.raw_features import FeatureError
from serving.server.errors import invalid_argument
from serving.server.servable import Servable


@dataclass
class PredictRequest:
    signature_name: str
    inputs: Dict[str, np.ndarray]
    row_format: bool
    rows: Optional[List[Dict[str, Any]]] = None  # raw features of the friendly form


# Deeper JSON is refused before it can exhaust Python's recursion (TF tensors have far
# fewer dimensions than this; a friendly-form row is two levels deep).
MAX_JSON_DEPTH = 64


def _dump(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"))
    except (RecursionError, ValueError):
        return "<a value too deeply nested or too large to print>"


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    return "Object"


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


# orjson reads integers beyond 64 bits as floats, silently; a body with a run of 19 digits
# or more goes to json, which keeps them exact for the checks that refuse them.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def parse_body(body: bytes) -> Dict[str, Any]:
    """orjson parses a small body in a tenth of json's time; what it refuses (or might read
    differently), json parses and words the error for."""
    if _LONG_DIGITS.search(body) is None:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = _parse_body_slowly(body)
    else:
        doc = _parse_body_slowly(body)
    if not isinstance(doc, dict):
        raise invalid_argument(f"JSON Value: {_dump(doc)} Is not object")
    return doc


def _parse_body_slowly(body: bytes) -> Any:
    """The standard library's parser: its messages, and what it accepts beyond orjson (NaN and
    Infinity literals, integers beyond 64 bits, lone surrogates) reach the checks that word them."""
    if not body.strip():
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise invalid_argument("JSON Parse error: Invalid encoding in string. at offset: 0") from None
    except json.JSONDecodeError as e:
        raise invalid_argument(f"JSON Parse error: {e.msg} at offset: {e.pos}") from None
    except RecursionError:
        raise invalid_argument(f"JSON Parse error: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as e:  # integers past Python's 4,300-digit conversion limit
        raise invalid_argument(f"JSON Parse error: number too long ({str(e).split(':')[0]})") from None


def signature_name_of(doc: Mapping[str, Any]) -> str:
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid_argument(
            f"JSON Value: {_dump(doc)} not formatted correctly. 'signature_name' key must be a string value.")
    return name


def parse_predict(doc: Mapping[str, Any], servable: Servable, signature_name: str) -> PredictRequest:
    """A parsed JSON body -> numpy inputs for the signature; INVALID_ARGUMENT on any mistake."""
    infos = servable.info(signature_name).inputs
    if "instances" in doc and "inputs" in doc:
        raise invalid_argument(f"JSON Value: {_abbrev(doc)} Not formatted correctly expecting only one of "
                               f"'inputs' or 'instances' keys to exist ")
    if "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise invalid_argument(f"JSON Value: {_abbrev(doc)} Excepting 'instances' to be an list/array")
        if not instances:
            raise invalid_argument(f"JSON Value: {_abbrev(doc)} No values in 'instances' array")
        if _is_raw_feature_rows(instances[0], servable, signature_name):
            return _from_raw_rows(instances, servable, signature_name, row_format=True)
        return PredictRequest(signature_name, _instances_to_arrays(instances, infos), row_format=True)
    if "inputs" in doc:
        inputs = doc["inputs"]
        if isinstance(inputs, dict) and not _is_b64(inputs) and _is_raw_feature_rows(inputs, servable, signature_name):
            return _from_raw_rows(_columns_to_rows(inputs), servable, signature_name, row_format=False)
        return PredictRequest(signature_name, _inputs_to_arrays(inputs, infos), row_format=False)
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def _abbrev(doc: Mapping[str, Any], limit: int = 200) -> str:
    text = _dump(doc)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_raw_feature_rows(first: Any, servable: Servable, signature_name: str) -> bool:
    """Friendly form: an object whose keys are not the signature's input names."""
    if not isinstance(first, dict) or _is_b64(first) or servable.raw_features is None:
        return False
    if not servable.takes_examples(signature_name):
        return False
    return first.keys() != servable.info(signature_name).inputs.keys()


def _columns_to_rows(columns: Mapping[str, Any]) -> List[Dict[str, Any]]:
    lengths = {name: len(v) for name, v in columns.items() if isinstance(v, list)}
    if len(lengths) != len(columns):
        scalar = next(name for name in columns if name not in lengths)
        raise invalid_argument(f"'inputs' of raw features needs a list per feature; '{scalar}' is not a list")
    if len(set(lengths.values())) != 1:
        raise invalid_argument(f"'inputs' of raw features have different lengths: {lengths}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise invalid_argument("'inputs' of raw features are empty lists")
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


def parse_examples(doc: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """A classify/regress body's `examples`, each merged over the optional `context` (TF Serving's
    ExampleListWithContext: a feature of the example wins over the context's)."""
    examples = doc.get("examples")
    if examples is None:
        raise invalid_argument("Missing 'examples' key: a classify or regress request is "
                               "{\"examples\": [{\"feature\": value, ...}, ...]} (optionally with \"context\")")
    if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
        raise invalid_argument(f"JSON Value: {_abbrev(doc)} 'examples' must be an array of objects")
    context = doc.get("context", {})
    if not isinstance(context, dict):
        raise invalid_argument(f"JSON Value: {_abbrev(doc)} 'context' must be an object")
    return [{**context, **example} for example in examples]


def serialize_rows(rows: List[Any], servable: Servable) -> List[bytes]:
    """Raw-feature rows -> serialized tf.Examples typed by the version's schema."""
    if servable.raw_features is None:
        raise invalid_argument("this model ships no raw schema (assets.extra/schema.pbtxt) to build tf.Examples from")
    try:
        return servable.raw_features.serialize(rows)
    except FeatureError as e:
        raise invalid_argument(f"Failed to process raw features: {e}") from None


def _from_raw_rows(rows: List[Any], servable: Servable, signature_name: str, row_format: bool) -> PredictRequest:
    serialized = serialize_rows(rows, servable)
    key = next(iter(servable.info(signature_name).inputs))
    return PredictRequest(signature_name, {key: np.array(serialized, dtype=object)}, row_format, rows=rows)


def _instances_to_arrays(instances: List[Any], infos: Mapping[str, Any]) -> Dict[str, np.ndarray]:
    names = set(infos)
    first = instances[0]
    if not isinstance(first, dict) and len(infos) > 1:
        raise invalid_argument("instances is a plain list, but expecting list of objects as multiple "
                               "input tensors required as per tensorinfo_map")
    objects = isinstance(first, dict) and not _is_b64(first)
    columns: Dict[str, List[Any]] = {name: [] for name in infos}
    for i, item in enumerate(instances):
        is_object = isinstance(item, dict) and not _is_b64(item)
        if objects:
            if not is_object:
                raise invalid_argument(f"Expecting object but got list at item {i} of input list")
            if set(item) != names:
                raise invalid_argument(
                    f"Failed to process element: {i} of 'instances' list. JSON object: {_dump(item)} "
                    f"keys must be equal to: {','.join(sorted(names))}")
            for name, value in item.items():
                columns[name].append(_leaf_values(value, infos[name].dtype, f"element: {i} key: {name}"))
        else:
            if is_object:
                raise invalid_argument(f"Expecting value/list but got object at item {i} of input list")
            name = next(iter(infos))
            columns[name].append(_leaf_values(item, infos[name].dtype, f"element: {i}"))
    return {name: _stack(values, infos[name].dtype) for name, values in columns.items()}


def _inputs_to_arrays(inputs: Any, infos: Mapping[str, Any]) -> Dict[str, np.ndarray]:
    if not isinstance(inputs, dict) or _is_b64(inputs):
        if len(infos) > 1:
            raise invalid_argument("inputs is a plain value/list, but expecting an object as multiple "
                                   "input tensors required as per tensorinfo_map")
        name = next(iter(infos))
        return {name: _stack(_leaf_values(inputs, infos[name].dtype, "'inputs'"), infos[name].dtype)}
    arrays = {}
    for name, info in infos.items():
        if name not in inputs:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = _stack(_leaf_values(inputs[name], info.dtype, f"input: {name}"), info.dtype)
    return arrays


@functools.lru_cache(maxsize=None)
def _dtype(dtype_enum: int) -> tf.DType:
    return tf.dtypes.as_dtype(dtype_enum)


@functools.lru_cache(maxsize=None)
def _leaf_kind(dtype_enum: int) -> str:
    dtype = _dtype(dtype_enum)
    if dtype == tf.string:
        return "string"
    if dtype.is_floating:
        return "float"
    if dtype == tf.bool:
        return "bool"
    return "int" if dtype.is_integer else "other"


def _leaf_values(value: Any, dtype_enum: int, where: str) -> Any:
    """Validates and converts the leaves of a (nested) JSON value for one tensor."""
    kind = _leaf_kind(dtype_enum)
    if kind == "string" and _is_b64(value):  # the common case of a tf.Example request: one leaf
        return _b64_leaf(value, where)
    return _leaves(value, kind, dtype_enum, where, 0)


def _b64_leaf(value: Dict[str, str], where: str) -> bytes:
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid_argument(f"Failed to process {where}. Error: Unable to base64 decode") from None


def _leaves(value: Any, kind: str, dtype_enum: int, where: str, depth: int) -> Any:
    if isinstance(value, list):
        if depth >= MAX_JSON_DEPTH:
            raise invalid_argument(f"Failed to process {where}. Error: nested deeper than {MAX_JSON_DEPTH} levels")
        return [_leaves(v, kind, dtype_enum, where, depth + 1) for v in value]
    if kind == "string":
        if isinstance(value, str):
            try:
                return value.encode("utf-8")
            except UnicodeEncodeError as e:
                raise invalid_argument(f"Failed to process {where}. Error: string is not valid Unicode "
                                       f"({e.reason}: {value[e.start:e.end]!r})") from None
        if _is_b64(value):
            return _b64_leaf(value, where)
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    elif kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    raise invalid_argument(f"Failed to process {where}. Error: JSON Value: {_dump(value)} "
                           f"Type: {_json_type(value)} is not of expected type: {_dtype(dtype_enum).name}")


def _stack(values: Any, dtype_enum: int) -> np.ndarray:
    """Converted JSON value(s) -> one dense array; ragged lists are an error, as in TF Serving."""
    dtype = _dtype(dtype_enum)
    try:
        if dtype == tf.string:
            array = np.array(values, dtype=object)
            if any(isinstance(v, list) for v in array.reshape(-1)):
                raise ValueError("ragged")
            return array
        with np.errstate(over="raise"):
            return np.array(values, dtype=dtype.as_numpy_dtype)
    except (OverflowError, FloatingPointError):
        raise invalid_argument(f"A number does not fit the input's type {dtype.name}") from None
    except ValueError:
        raise invalid_argument("Expecting tensors of the same shape for every instance; "
                               "got lists of different lengths") from None


# ---- responses ------------------------------------------------------------------------

# Numpy arrays of these types are written by orjson itself, a float32 as the shortest decimal
# that reads back as the same float32, as TF Serving prints floats.
_ORJSON_DTYPES = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                                                  np.uint8, np.uint16, np.uint32, np.uint64, np.bool_))


def _output_value(name: str, array: np.ndarray) -> Any:
    if array.dtype == object or array.dtype.kind == "S":
        flat = [{"b64": base64.b64encode(v).decode("ascii")} if name.endswith("_bytes")
                else v.decode("utf-8", "replace") for v in array.reshape(-1)]
        return np.array(flat, dtype=object).reshape(array.shape).tolist()
    if array.dtype in _ORJSON_DTYPES:
        return np.ascontiguousarray(array)
    return array.tolist()


def dumps(doc: Any) -> bytes:
    """A response body; numpy values of predict_response are written by orjson directly."""
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


def predict_response(outputs: Mapping[str, np.ndarray], row_format: bool) -> Dict[str, Any]:
    values = {name: _output_value(name, array) for name, array in sorted(outputs.items())}
    if not row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    sizes = {name: (array.shape[0] if array.ndim else None) for name, array in outputs.items()}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise invalid_argument(f"Tensors have inconsistent batch size or are scalars: {sizes}; "
                               f"use the columnar format ('inputs')")
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    n = next(iter(sizes.values()))
    return {"predictions": [{name: column[i] for name, column in values.items()} for i in range(n)]}
