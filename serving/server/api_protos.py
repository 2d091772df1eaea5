"""Model status and metadata as TF Serving's own protos, shared by REST and gRPC.

Building the gRPC response once and printing it with protobuf's JSON printer is how
TF Serving produces its REST bodies, so both APIs give the same answer by construction.
"""
from __future__ import annotations

from typing import List, Optional

from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, status_pb2

from serving.server.errors import invalid_argument
from serving.server.servable import Servable
from serving.server.versions import VersionState

SIGNATURE_DEF_FIELD = "signature_def"
_ERROR_CODES = status_pb2.StatusProto.DESCRIPTOR.fields_by_name["error_code"].enum_type.values_by_name


def status_response(states: List[VersionState]) -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    for state in states:
        status = response.model_version_status.add()
        status.version = state.version
        status.state = get_model_status_pb2.ModelVersionStatus.State.Value(state.state)
        status.status.error_code = _ERROR_CODES[state.error_code].number
        status.status.error_message = state.error_message
    return response


def metadata_response(servable: Servable, fields: Optional[List[str]] = None
                      ) -> get_model_metadata_pb2.GetModelMetadataResponse:
    fields = [SIGNATURE_DEF_FIELD] if fields is None else fields
    if not fields:
        raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field in fields:
        if field != SIGNATURE_DEF_FIELD:
            raise invalid_argument(f"Metadata field {field} is not supported")
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in servable.signature_defs.items():
        signature_map.signature_def[name].CopyFrom(signature)
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    return response


def to_json_dict(message) -> dict:
    """Proto -> JSON as TF Serving prints it: proto field names, defaults included."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     including_default_value_fields=True)
