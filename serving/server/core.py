"""What REST and gRPC share: finding the servable, running it, metrics and request logs.

Both front ends translate their wire format into numpy inputs, call `predict`, and
translate back; status, latency and the request log are recorded here once, so the
two APIs cannot drift apart. Every prediction gets a request id (the client's own
`x-request-id` when it sends a sane one): REST returns it as a response header, gRPC
as response metadata, and the request log records it, so labels that arrive later can
be joined with what was predicted (serving/feedback.py).
"""
from __future__ import annotations

import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence

import numpy as np

from serving.contract import SERVING_SIGNATURE
from serving.server.errors import ServingError
from serving.server.metrics import ServingMetrics
from serving.server.request_log import LoggedRequest, RequestLog
from serving.server.servable import Servable
from serving.server.versions import ModelVersions

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(supplied: Optional[str] = None) -> str:
    """The client's request id when it is a short token, else a new random one."""
    return supplied if supplied and _SANE_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex


@dataclass
class RequestScope:
    """Labels of one request, filled in as they become known."""

    model: str
    api: str
    entrypoint: str
    version: str = ""
    signature: str = ""
    status: str = "OK"
    request_id: str = ""


class ServingCore:
    def __init__(self, models: ModelVersions, metrics: ServingMetrics, request_log: Optional[RequestLog] = None):
        self.models = models
        self.metrics = metrics
        self.request_log = request_log

    @contextmanager
    def track(self, *, model: str, api: str, entrypoint: str, request_id: str = "") -> Iterator[RequestScope]:
        """Times the block and counts it under the status it ended with."""
        scope = RequestScope(model=model, api=api, entrypoint=entrypoint, request_id=request_id)
        start = time.perf_counter()
        try:
            yield scope
        except ServingError as e:
            scope.status = e.code
            raise
        except Exception:
            scope.status = "INTERNAL"
            raise
        finally:
            # Unknown model names share one label value: clients cannot grow the metric set.
            self.metrics.observe_request(
                model=scope.model if scope.model == self.models.name else "_unknown", version=scope.version, signature=scope.signature, api=scope.api,
                entrypoint=scope.entrypoint, status=scope.status, seconds=time.perf_counter() - start)

    def resolve(self, scope: RequestScope, version: Optional[int], signature_name: str = "") -> Servable:
        servable = self.models.get(scope.model, version)
        scope.version = str(servable.version)
        name = signature_name or SERVING_SIGNATURE
        scope.signature = name if name in servable.signature_defs else "_unknown"  # bounded label set
        servable.signature_def(name)  # INVALID_ARGUMENT for an unknown signature
        return servable

    def predict(self, scope: RequestScope, servable: Servable, inputs: Mapping[str, np.ndarray], *,
                rows: Optional[Sequence[Mapping[str, Any]]] = None,
                output_filter: Sequence[str] = (), started: Optional[float] = None) -> Dict[str, np.ndarray]:
        """Runs the signature and hands a sampled record to the request log."""
        outputs = servable.run(scope.signature, inputs, output_filter)
        log = self.request_log
        if log is not None and log.wants():
            serialized = None
            if rows is None and servable.takes_examples(scope.signature):
                serialized = list(next(iter(inputs.values())).reshape(-1))
            latency_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
            log.submit(LoggedRequest(
                request_id=scope.request_id, model=servable.name, version=servable.version, signature=scope.signature,
                entrypoint=scope.entrypoint, latency_ms=latency_ms, outputs=outputs,
                rows=rows, serialized_examples=serialized))
        return outputs
