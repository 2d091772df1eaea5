"""Errors in TF Serving's vocabulary: one canonical code, mapped to gRPC and HTTP.

TF Serving answers every failure with a `tensorflow::Status`; the REST layer turns
its code into an HTTP status (http_server.cc, `ToHTTPStatusCode`) and wraps the
message as `{"error": "..."}`. Keeping one exception type for both front ends is what
makes REST and gRPC fail the same way.
"""
from __future__ import annotations

import grpc

# Canonical code -> HTTP status, as TF Serving maps them.
_HTTP_STATUS = {
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """A request failure with a canonical code and a message meant for the caller."""

    def __init__(self, code: str, message: str, http_status: int | None = None):
        if code not in _HTTP_STATUS:
            raise ValueError(f"unknown canonical error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self._http_status = http_status

    @property
    def http_status(self) -> int:
        return self._http_status or _HTTP_STATUS[self.code]

    @property
    def grpc_code(self) -> grpc.StatusCode:
        return getattr(grpc.StatusCode, self.code)


def invalid_argument(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ServingError:
    return ServingError("NOT_FOUND", message)
