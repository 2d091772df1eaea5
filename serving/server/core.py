"""What REST and gRPC share: finding the servable, running it, metrics and request logs.

Both front ends translate their wire format into numpy inputs, call `predict`, and
translate back; status, latency and the request log are recorded here once, so the
two APIs cannot drift apart. Every prediction gets a request id (the client's own
`x-request-id` when it sends a sane one): REST returns it as a response header, gRPC
as response metadata, and the request log records it, so labels that arrive later can
be joined with what was predicted (monitoring/live_quality.py).
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import os
import re
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

import numpy as np

from serving.contract import SERVING_SIGNATURE
from serving.server.batching import Batcher, Done, call_soon_threadsafe, settle
from serving.server.errors import ServingError
from serving.server.metrics import ServingMetrics
from serving.server.request_log import LoggedRequest, RequestLog
from serving.server.servable import Servable
from serving.server.registry import ModelRegistry

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


_ID_PREFIX = uuid.uuid4().hex[:16]  # random per process; a counter makes the rest (uuid4 per request cost a syscall)
_ID_COUNTER = itertools.count()


def request_id(supplied: Optional[str] = None) -> str:
    """The client's request id when it is a short token, else a new one: 32 hex digits, a
    counter under a random per-process prefix, so ids never repeat across servers or restarts."""
    if supplied and _SANE_REQUEST_ID.fullmatch(supplied):
        return supplied
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


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
    def __init__(self, models: ModelRegistry, metrics: ServingMetrics, request_log: Optional[RequestLog] = None,
                 batcher: Optional[Batcher] = None):
        self.models = models
        self.metrics = metrics
        self.request_log = request_log
        self.batcher = batcher
        self._unbatched: Optional[ThreadPoolExecutor] = None

    def track(self, *, model: str, api: str, entrypoint: str, request_id: str = "") -> "_Tracked":
        """`with core.track(...) as scope:` times the block and counts it under the status it ended with."""
        return _Tracked(self, RequestScope(model=model, api=api, entrypoint=entrypoint, request_id=request_id))

    def resolve(self, scope: RequestScope, version: Optional[int], signature_name: str = "",
                label: str = "") -> Servable:
        servable = self.models.get(scope.model, version, label)
        scope.version = str(servable.version)
        name = signature_name or SERVING_SIGNATURE
        scope.signature = name if name in servable.signature_defs else "_unknown"  # bounded label set
        servable.signature_def(name)  # INVALID_ARGUMENT for an unknown signature
        return servable

    def _timed_call(self, servable: Servable, name: str, api: str, tensors):
        start = time.perf_counter()
        try:
            return servable.call(name, tensors)
        finally:
            self.metrics.observe_runtime(servable.name, api, time.perf_counter() - start)

    def predict(self, scope: RequestScope, servable: Servable, inputs: Mapping[str, np.ndarray], *,
                rows: Optional[Sequence[Mapping[str, Any]]] = None,
                output_filter: Sequence[str] = (), started: Optional[float] = None) -> Dict[str, np.ndarray]:
        """Runs the signature (through the batcher when batching is on) on the caller's thread
        and hands a sampled record to the request log."""
        call = self._prepare(scope, servable, inputs, output_filter)
        outputs = call.run(call.tensors) if self.batcher is None or call.rows is None else call.submit().result()
        return self._complete(scope, servable, call, inputs, rows, started, outputs)

    def submit_predict(self, scope: RequestScope, servable: Servable, inputs: Mapping[str, np.ndarray],
                       done: Callable[[Any], None], *, rows: Optional[Sequence[Mapping[str, Any]]] = None,
                       output_filter: Sequence[str] = (), started: Optional[float] = None) -> None:
        """`predict` for an event loop, without a task per request: checks the request here (raising
        what is wrong with it), runs the model on a batch thread (or, with batching off, a worker
        thread), never on the loop, and calls `done` on the loop with the outputs or the exception."""
        call = self._prepare(scope, servable, inputs, output_filter)
        loop = asyncio.get_running_loop()

        def finished(result) -> None:
            if not isinstance(result, BaseException):
                try:
                    result = self._complete(scope, servable, call, inputs, rows, started, result)
                except Exception as e:  # noqa: BLE001 - handed to the caller like a failed call
                    result = e
            done(result)

        if self.batcher is None or call.rows is None:
            self._workers().submit(call.run, call.tensors).add_done_callback(
                lambda f: call_soon_threadsafe(loop, finished, f.exception() or f.result()))
        else:
            call.submit(loop, finished)

    async def predict_async(self, scope: RequestScope, servable: Servable, inputs: Mapping[str, np.ndarray], *,
                            rows: Optional[Sequence[Mapping[str, Any]]] = None,
                            output_filter: Sequence[str] = (), started: Optional[float] = None
                            ) -> Dict[str, np.ndarray]:
        """`submit_predict`, awaited."""
        future = asyncio.get_running_loop().create_future()
        self.submit_predict(scope, servable, inputs, functools.partial(settle, future), rows=rows,
                            output_filter=output_filter, started=started)
        return await future

    def _workers(self) -> ThreadPoolExecutor:
        if self._unbatched is None:
            self._unbatched = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="model-call")
        return self._unbatched

    def close(self) -> None:
        if self._unbatched is not None:
            self._unbatched.shutdown(wait=True)

    def _prepare(self, scope: RequestScope, servable: Servable, inputs: Mapping[str, np.ndarray],
                 output_filter: Sequence[str]) -> "_Call":
        name, tensors, wanted = servable.prepare(scope.signature, inputs, output_filter)
        run = functools.partial(self._timed_call, servable, name, scope.api)
        return _Call(self.batcher, servable, name, tensors, wanted, run, _batch_rows(tensors))

    def _complete(self, scope: RequestScope, servable: Servable, call: "_Call", inputs: Mapping[str, np.ndarray],
                  rows: Optional[Sequence[Mapping[str, Any]]], started: Optional[float], outputs
                  ) -> Dict[str, np.ndarray]:
        outputs = servable.finish(outputs, call.wanted)
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


class _Tracked:
    """What `track` returns: times from its creation to `end` (or the end of a `with` block) and
    counts the request under the status it ended with. A class, not a generator-based context
    manager (which cost more per request), and usable across callbacks."""

    __slots__ = ("core", "scope", "start")

    def __init__(self, core: ServingCore, scope: RequestScope):
        self.core, self.scope, self.start = core, scope, time.perf_counter()

    def __enter__(self) -> RequestScope:
        return self.scope

    def __exit__(self, _kind, error, _traceback) -> bool:
        self.end(error)
        return False

    def end(self, error: Optional[BaseException] = None) -> None:
        scope = self.scope
        if isinstance(error, ServingError):
            scope.status = error.code
        elif isinstance(error, Exception):
            scope.status = "INTERNAL"
        core = self.core
        # Unknown model names share one label value: clients cannot grow the metric set.
        core.metrics.observe_request(
            model=scope.model if core.models.knows(scope.model) else "_unknown", version=scope.version,
            signature=scope.signature, api=scope.api,
            entrypoint=scope.entrypoint, status=scope.status, seconds=time.perf_counter() - self.start)


@dataclass
class _Call:
    """One checked request, ready to run alone or to join a batch."""

    batcher: Optional[Batcher]
    servable: Servable
    signature: str
    tensors: Dict[str, Any]
    wanted: Sequence[str]
    run: Callable[[Mapping[str, Any]], Dict[str, Any]]
    rows: Optional[int]

    def submit(self, loop: Optional[asyncio.AbstractEventLoop] = None, done: Optional[Done] = None
               ) -> Optional[Future]:
        key = (self.servable.name, self.servable.version, self.signature,
               tuple((k, t.dtype, tuple(t.shape[1:])) for k, t in sorted(self.tensors.items())))
        return self.batcher.submit(key, self.run, self.tensors, self.rows, loop, done)


def _batch_rows(tensors: Mapping[str, Any]) -> Optional[int]:
    """Rows of a request that can join a batch: every input has the same first dimension."""
    sizes = {t.shape[0] if len(t.shape) else None for t in tensors.values()}
    return sizes.pop() if len(sizes) == 1 and None not in sizes else None
