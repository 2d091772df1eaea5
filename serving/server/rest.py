"""TF Serving's REST API: routes and answers, over the event-loop HTTP server (http_server.py).

Routes, as in TF Serving (http_rest_api_handler.cc); `/labels/{label}` may stand
wherever `/versions/{v}` does (version labels of the model config file):
  GET  /v1/models/{name}[/versions/{v}]             model version status
  GET  /v1/models/{name}[/versions/{v}]/metadata    signature defs
  POST /v1/models/{name}[/versions/{v}]:predict     row or columnar predict
  POST /v1/models/{name}[/versions/{v}]:classify    tf.Examples as JSON objects -> [label, score] lists
  POST /v1/models/{name}[/versions/{v}]:regress     tf.Examples as JSON objects -> one value each
  GET  /monitoring/prometheus/metrics               Prometheus metrics
Any other /v1/ path is "Malformed request" (400); errors are `{"error": "..."}`.
Predict responses, errors included, carry the request's id in an `x-request-id` header.
Parsing and checking a request run on the loop; the model call runs on a batch or worker
thread, so one slow call never holds up reading the other connections. Predict, the call
that meets load, is answered through callbacks (no task or coroutine per request).
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any, Awaitable, Callable, Optional, Tuple

from serving.contract import REQUEST_ID_HEADER
from serving.server import api_protos, classify_regress, rest_json
from serving.server.core import ServingCore, request_id
from serving.server.errors import ServingError, invalid_argument
from serving.server.http_server import HttpServer, Request, Response
from serving.server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from serving.server.metrics import METRICS_PATH

log = logging.getLogger(__name__)

_VERSION = r"(?:/versions/(\d+)|/labels/([^/:]+))?"
_PREDICT = re.compile(r"(?i)/v1/models/([^/:]+)" + _VERSION + ":(classify|regress|predict)")
_METADATA = re.compile(r"(?i)/v1/models/([^/:]+)" + _VERSION + "/metadata")
_STATUS = re.compile(r"(?i)/v1/models(?:/([^/:]+))?" + _VERSION)
_JSON = "application/json"


class RestApi:
    """Routes and answers REST calls; no sockets here, so it is easy to test."""

    def __init__(self, core: ServingCore):
        self.core = core

    async def handle(self, method: str, path: str, body: bytes, request_id: Optional[str] = None
                     ) -> Tuple[int, bytes]:
        """Every call but predict (`predict`)."""
        if method == "POST":
            match = _PREDICT.fullmatch(path)
            if match:
                name, version, label, verb = match.groups()
                if verb.lower() == "predict":
                    raise invalid_argument(f"Malformed request: {method} {path}")  # RestServer sends it to predict
                return 200, await self._classify_regress(verb.lower(), name, _version(version), label or "",
                                                         body, request_id or "")
        elif method == "GET":
            match = _METADATA.fullmatch(path)
            if match:
                return 200, self._metadata(match.group(1), _version(match.group(2)), match.group(3) or "")
            match = _STATUS.fullmatch(path)
            if match:
                return 200, self._status(match.group(1), _version(match.group(2)), match.group(3) or "")
        raise invalid_argument(f"Malformed request: {method} {path}")

    def predict(self, name: str, version: Optional[int], label: str, body: bytes, request_id: str,
                done: Callable[[Any], None]) -> None:
        """Raises what is wrong with the request; else calls `done`, on the loop, with the
        response body or the exception that stopped it."""
        started = time.perf_counter()
        tracked = self.core.track(model=name, api="predict", entrypoint="rest", request_id=request_id)
        try:
            doc = rest_json.parse_body(body)
            signature_name = rest_json.signature_name_of(doc)
            servable = self.core.resolve(tracked.scope, version, signature_name, label)
            request = rest_json.parse_predict(doc, servable, signature_name)

            def answered(outcome) -> None:
                if not isinstance(outcome, BaseException):
                    try:
                        outcome = rest_json.dumps(rest_json.predict_response(outcome, request.row_format))
                    except Exception as e:  # noqa: BLE001 - answered as the error it is
                        outcome = e
                tracked.end(outcome if isinstance(outcome, BaseException) else None)
                done(outcome)

            self.core.submit_predict(tracked.scope, servable, request.inputs, answered, rows=request.rows,
                                     started=started)
        except BaseException as e:
            tracked.end(e)
            raise

    async def _classify_regress(self, api: str, name: str, version: Optional[int], label: str, body: bytes,
                          request_id: str) -> bytes:
        started = time.perf_counter()
        with self.core.track(model=name, api=api, entrypoint="rest", request_id=request_id) as scope:
            doc = rest_json.parse_body(body)
            signature_name = rest_json.signature_name_of(doc)
            servable = self.core.resolve(scope, version, signature_name, label)
            classify_regress.check_signature(servable, signature_name, api)
            rows = rest_json.parse_examples(doc)
            serialized = rest_json.serialize_rows(rows, servable)
            outputs = await self.core.predict_async(scope, servable, classify_regress.inputs(serialized), rows=rows,
                                                    started=started)
            if api == classify_regress.CLASSIFY:
                result: list = [[[label_, score] for label_, score in classes]
                                for classes in classify_regress.classifications(outputs)]
            else:
                result = classify_regress.regressions(outputs)
            return rest_json.dumps({"result": result})

    def _metadata(self, name: str, version: Optional[int], label: str) -> bytes:
        with self.core.track(model=name, api="metadata", entrypoint="rest") as scope:
            servable = self.core.resolve(scope, version, label=label)
            return _pretty(api_protos.to_json_dict(api_protos.metadata_response(servable)))

    def _status(self, name: Optional[str], version: Optional[int], label: str) -> bytes:
        if not name:
            raise invalid_argument("Missing model name in request.")
        with self.core.track(model=name, api="status", entrypoint="rest"):
            states = self.core.models.states(name, version, label)
            return _pretty(api_protos.to_json_dict(api_protos.status_response(states)))


def _version(text: Optional[str]) -> Optional[int]:
    return int(text) if text else None


def _pretty(doc: dict) -> bytes:
    return json.dumps(doc, indent=1).encode()


class RestServer:
    """TF Serving's REST API on `host:port`; the HTTP side lives in http_server.HttpServer."""

    def __init__(self, core: ServingCore, host: str, port: int, max_request_bytes: int,
                 timeout_seconds: float = 30.0):
        self.core = core
        self.api = RestApi(core)
        self.max_request_bytes = max_request_bytes
        self._http = HttpServer(host, port, self._answer, self._refuse, timeout_seconds)

    @property
    def port(self) -> int:
        return self._http.port

    def start(self) -> None:
        self._http.start()

    def stop_accepting(self) -> None:
        """No new connections from now on; idle ones are closed, busy ones finish."""
        self._http.stop_accepting()

    def drain(self, deadline: float) -> int:
        """Waits for the open connections to finish until `deadline` (time.monotonic());
        returns how many were still open and had to be cut."""
        return self._http.drain(deadline)

    def _refuse(self, request: Request) -> Optional[Response]:
        """What is refused from the headers alone, before the body is read."""
        if "chunked" in request.headers.get("transfer-encoding", "").lower():
            error = ServingError("INVALID_ARGUMENT", "Chunked request bodies are not supported; "
                                 "send a Content-Length header", http_status=411)
        else:
            length = int(request.headers.get("content-length", "0"))  # digits only: the parser refuses the rest
            if length <= self.max_request_bytes:
                return None
            error = ServingError("INVALID_ARGUMENT",
                                 f"Request body of {length} bytes exceeds the limit of {self.max_request_bytes} "
                                 f"bytes (server flag --max_request_bytes)", http_status=413)
        return _error_response(error, None, close=True)

    def _answer(self, request: Request) -> "Response | asyncio.Future[Response] | Awaitable[Response]":
        path = request.path.split("?", 1)[0]
        if request.method == "GET" and path == METRICS_PATH:
            return Response(200, self.core.metrics.exposition(), METRICS_CONTENT_TYPE)
        match = _PREDICT.fullmatch(path)
        rid = request_id(request.headers.get(REQUEST_ID_HEADER)) if match else None
        if request.method == "POST" and match and match.group(4).lower() == "predict":
            return self._predict(match, request.body, rid)
        return self._answer_slowly(request, path, rid)

    def _predict(self, match: "re.Match", body: bytes, rid: str) -> "Response | asyncio.Future[Response]":
        name, version, label, _ = match.groups()
        answer = self._http.loop.create_future()

        def done(outcome) -> None:
            if answer.done():  # cancelled: the server stopped
                return
            answer.set_result(self._error(outcome, rid, "POST", match.group(0)) if isinstance(outcome, BaseException)
                              else Response(200, outcome, _JSON, [(REQUEST_ID_HEADER, rid)]))

        try:
            self.api.predict(name, _version(version), label or "", body, rid, done)
        except Exception as e:  # noqa: BLE001 - answered as the error it is
            return self._error(e, rid, "POST", match.group(0))
        return answer

    async def _answer_slowly(self, request: Request, path: str, rid: Optional[str]) -> Response:
        try:
            if not path.lower().startswith("/v1/"):
                raise ServingError("NOT_FOUND", f"Unknown path: {path}. The API lives under /v1/models/")
            status, payload = await self.api.handle(request.method, path, request.body, request_id=rid)
        except Exception as e:  # noqa: BLE001 - answered as the error it is
            return self._error(e, rid, request.method, path)
        return Response(status, payload, _JSON, [(REQUEST_ID_HEADER, rid)] if rid else [])

    @staticmethod
    def _error(error: BaseException, rid: Optional[str], method: str, path: str) -> Response:
        """A ServingError as TF Serving words it; anything else is a bug: 500, and logged."""
        if not isinstance(error, ServingError):
            log.error("REST request %s %s failed", method, path, exc_info=error)
            error = ServingError("INTERNAL", f"{type(error).__name__}: {error}")
        return _error_response(error, rid)


def _error_response(error: ServingError, rid: Optional[str], close: bool = False) -> Response:
    return Response(error.http_status, json.dumps({"error": error.message}).encode(), _JSON,
                    [(REQUEST_ID_HEADER, rid)] if rid else [], close=close)
