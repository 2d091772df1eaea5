"""TF Serving's REST API over the standard library's threading HTTP server.

Routes, as in TF Serving (http_rest_api_handler.cc); `/labels/{label}` may stand
wherever `/versions/{v}` does (version labels of the model config file):
  GET  /v1/models/{name}[/versions/{v}]             model version status
  GET  /v1/models/{name}[/versions/{v}]/metadata    signature defs
  POST /v1/models/{name}[/versions/{v}]:predict     row or columnar predict
  POST /v1/models/{name}[/versions/{v}]:classify    tf.Examples as JSON objects -> [label, score] lists
  POST /v1/models/{name}[/versions/{v}]:regress     tf.Examples as JSON objects -> one value each
  GET  /monitoring/prometheus/metrics               Prometheus metrics
Any other /v1/ path is "Malformed request" (400); errors are `{"error": "..."}`.
Connections are kept alive (HTTP/1.1) and each response leaves in one write with
TCP_NODELAY, so small requests do not wait on Nagle's algorithm. Predict responses,
errors included, carry the request's id in an `x-request-id` header.

A connection idle for `--rest_api_timeout_in_ms`, or a request whose next bytes take longer
than that to arrive, is closed: a stalled client holds only its own thread, never another's.

Shutdown drains: the listening socket closes at once, idle keep-alive connections are
closed, and a connection with a request in progress (or already sent and waiting to be
read) gets its answer with `Connection: close`, within the grace period.
"""
from __future__ import annotations

import json
import logging
import re
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Optional, Tuple

from serving.contract import REQUEST_ID_HEADER
from serving.server import api_protos, classify_regress, rest_json
from serving.server.core import ServingCore, request_id
from serving.server.errors import ServingError, invalid_argument
from serving.server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from serving.server.metrics import METRICS_PATH

log = logging.getLogger(__name__)

_VERSION = r"(?:/versions/(\d+)|/labels/([^/:]+))?"
_PREDICT = re.compile(r"(?i)/v1/models/([^/:]+)" + _VERSION + ":(classify|regress|predict)")
_METADATA = re.compile(r"(?i)/v1/models/([^/:]+)" + _VERSION + "/metadata")
_STATUS = re.compile(r"(?i)/v1/models(?:/([^/:]+))?" + _VERSION)
_JSON = "application/json"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "RestServer"

    def setup(self) -> None:
        self.timeout = self.server.timeout_seconds  # every read of a request; a stalled client is dropped
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.opened(self.request)

    def finish(self) -> None:
        self.server.connections.closed(self.request)
        super().finish()

    def handle_one_request(self) -> None:
        if not self.server.connections.wait_for_request(self.request, self.server.timeout_seconds):
            self.close_connection = True
            return
        super().handle_one_request()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0]
        if path == METRICS_PATH:
            self._reply(200, self.server.core.metrics.exposition(), METRICS_CONTENT_TYPE)
            return
        self._drain_body()
        self._api("GET", path, b"")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0]
        try:
            body = self._read_body()
        except ServingError as e:
            self.close_connection = True
            self._reply_error(e)
            return
        self._api("POST", path, body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise ServingError("INVALID_ARGUMENT", "Chunked request bodies are not supported; "
                               "send a Content-Length header", http_status=411)
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise invalid_argument("Content-Length header is not a number") from None
        limit = self.server.max_request_bytes
        if length > limit:
            raise ServingError("INVALID_ARGUMENT",
                               f"Request body of {length} bytes exceeds the limit of {limit} bytes "
                               f"(server flag --max_request_bytes)", http_status=413)
        return self.rfile.read(length) if length > 0 else b""

    def _drain_body(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        if 0 < length <= self.server.max_request_bytes:
            self.rfile.read(length)
        elif length:
            self.close_connection = True

    def _api(self, method: str, path: str, body: bytes) -> None:
        rid = request_id(self.headers.get(REQUEST_ID_HEADER)) if _PREDICT.fullmatch(path) else None
        try:
            if not path.lower().startswith("/v1/"):
                raise ServingError("NOT_FOUND", f"Unknown path: {path}. The API lives under /v1/models/")
            status, payload = self.server.api.handle(method, path, body, request_id=rid)
        except ServingError as e:
            self._reply_error(e, rid)
            return
        except Exception as e:  # noqa: BLE001 - a bug must answer 500, not kill the connection
            log.exception("REST request %s %s failed", method, path)
            self._reply_error(ServingError("INTERNAL", f"{type(e).__name__}: {e}"), rid)
            return
        self._reply(status, payload, _JSON, rid)

    def _reply_error(self, error: ServingError, rid: Optional[str] = None) -> None:
        self._reply(error.http_status, json.dumps({"error": error.message}).encode(), _JSON, rid)

    def _reply(self, status: int, payload: bytes, content_type: str, rid: Optional[str] = None) -> None:
        reason = self.responses.get(status, ("",))[0]
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\n")
        if self.server.connections.draining:
            self.close_connection = True
        if rid:
            head += f"{REQUEST_ID_HEADER}: {rid}\r\n"
        if self.close_connection:
            head += "Connection: close\r\n"
        self.wfile.write(head.encode("latin-1") + b"\r\n" + payload)
        self.log_request(status, len(payload))


class RestApi:
    """Routes and answers REST calls; no sockets here, so it is easy to test."""

    def __init__(self, core: ServingCore):
        self.core = core

    def handle(self, method: str, path: str, body: bytes, request_id: Optional[str] = None) -> Tuple[int, bytes]:
        if method == "POST":
            match = _PREDICT.fullmatch(path)
            if match:
                name, version, label, verb = match.groups()
                if verb.lower() != "predict":
                    return 200, self._classify_regress(verb.lower(), name, _version(version), label or "", body,
                                                       request_id or "")
                return 200, self._predict(name, _version(version), label or "", body, request_id or "")
        elif method == "GET":
            match = _METADATA.fullmatch(path)
            if match:
                return 200, self._metadata(match.group(1), _version(match.group(2)), match.group(3) or "")
            match = _STATUS.fullmatch(path)
            if match:
                return 200, self._status(match.group(1), _version(match.group(2)), match.group(3) or "")
        raise invalid_argument(f"Malformed request: {method} {path}")

    def _predict(self, name: str, version: Optional[int], label: str, body: bytes, request_id: str) -> bytes:
        started = time.perf_counter()
        with self.core.track(model=name, api="predict", entrypoint="rest", request_id=request_id) as scope:
            doc = rest_json.parse_body(body)
            signature_name = rest_json.signature_name_of(doc)
            servable = self.core.resolve(scope, version, signature_name, label)
            request = rest_json.parse_predict(doc, servable, signature_name)
            outputs = self.core.predict(scope, servable, request.inputs, rows=request.rows, started=started)
            return json.dumps(rest_json.predict_response(outputs, request.row_format),
                              separators=(",", ":")).encode()

    def _classify_regress(self, api: str, name: str, version: Optional[int], label: str, body: bytes,
                          request_id: str) -> bytes:
        started = time.perf_counter()
        with self.core.track(model=name, api=api, entrypoint="rest", request_id=request_id) as scope:
            doc = rest_json.parse_body(body)
            signature_name = rest_json.signature_name_of(doc)
            servable = self.core.resolve(scope, version, signature_name, label)
            classify_regress.check_signature(servable, signature_name, api)
            rows = rest_json.parse_examples(doc)
            serialized = rest_json.serialize_rows(rows, servable)
            outputs = classify_regress.run(self.core, scope, servable, serialized, rows=rows, started=started)
            if api == classify_regress.CLASSIFY:
                result: list = [[[label_, score] for label_, score in classes]
                                for classes in classify_regress.classifications(outputs)]
            else:
                result = classify_regress.regressions(outputs)
            return json.dumps({"result": result}, separators=(",", ":")).encode()

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


class Connections:
    """Open connections and whether each is answering a request, for a draining shutdown.

    A handler waits for its next request's first byte before reading it and marks its
    connection busy under the same lock that a drain takes to close idle connections:
    a request already sent when the drain starts is answered, never cut half-read.
    """

    def __init__(self) -> None:
        self.draining = False
        self._lock = threading.Lock()
        self._busy: Dict[socket.socket, bool] = {}
        self._closed: set = set()

    def opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._busy[sock] = False
            if self.draining:  # accepted in the instant before the listener closed
                self._close(sock)

    def closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._busy.pop(sock, None)
            self._closed.discard(sock)

    def wait_for_request(self, sock: socket.socket, timeout_seconds: float) -> bool:
        """Blocks until the next request starts arriving; False once the drain closed the
        connection or it stayed idle for the timeout."""
        with self._lock:
            if sock in self._closed:
                return False
            self._busy[sock] = False
        arrived = _readable([sock], int(timeout_seconds * 1000))
        with self._lock:
            if sock in self._closed or not arrived:
                return False
            self._busy[sock] = True
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._busy)

    def close_idle(self) -> None:
        """Closes connections with no request in progress and none waiting to be read."""
        with self._lock:
            self.draining = True
            idle = [sock for sock, busy in self._busy.items() if not busy and sock not in self._closed]
            readable = _readable(idle, 0)
            for sock in idle:
                if sock.fileno() not in readable:
                    self._close(sock)

    def close_all(self) -> int:
        with self._lock:
            open_ = [sock for sock in self._busy if sock not in self._closed]
            for sock in open_:
                self._close(sock)
        return len(open_)

    def _close(self, sock: socket.socket) -> None:
        self._closed.add(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes the handler thread waiting on it
        except OSError:
            pass


def _readable(socks, timeout_ms: Optional[int]) -> set:
    """File numbers of the sockets with data (or EOF) to read; poll, not select: no 1024-fd limit."""
    if not socks:
        return set()
    poller = select.poll()
    for sock in socks:
        poller.register(sock, select.POLLIN)
    return {fd for fd, _ in poller.poll(timeout_ms)}


class RestServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, core: ServingCore, host: str, port: int, max_request_bytes: int,
                 timeout_seconds: float = 30.0):
        self.core = core
        self.timeout_seconds = timeout_seconds
        self.api = RestApi(core)
        self.max_request_bytes = max_request_bytes
        self.connections = Connections()
        super().__init__((host, port), _Handler)
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request, client_address) -> None:
        """A client that goes away mid-request is normal, not a server fault worth a traceback."""
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("Connection from %s ended: %s", client_address, sys.exc_info()[1])
        else:
            log.exception("REST connection from %s failed", client_address)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="rest-server", daemon=True)
        self._thread.start()

    def stop_accepting(self) -> None:
        """No new connections from now on; idle ones are closed, busy ones finish."""
        self.connections.close_idle()
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.connections.close_idle()  # those that turned idle meanwhile

    def drain(self, deadline: float) -> int:
        """Waits for the open connections to finish until `deadline` (time.monotonic());
        returns how many were still open and had to be cut."""
        while len(self.connections) and time.monotonic() < deadline:
            self.connections.close_idle()
            time.sleep(0.01)
        return self.connections.close_all()
