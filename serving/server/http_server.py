"""The REST front end's HTTP/1.1 server: one asyncio event loop and httptools' parser.

Why not a thread per connection: the standard library's ThreadingHTTPServer stops far
sooner (every thread fights for the GIL), while one loop holds hundreds of connections,
parses each request in microseconds and hands the model call to a batch thread (or, with
batching off, a worker thread): docs/performance.md, "REST front end" (measured with `wrk`
and benchmarks/serving_speed.py).

Why asyncio's own loop and not uvloop: uvloop takes and drops the GIL around every libuv
callback, each accepted connection included, so with batch threads asking for the GIL it
accepted a few connections per turn, and many connections opened at once waited in the
accept queue where asyncio's loop took them at the same requests/s (docs/performance.md,
"REST front end").

A handler answers with a Response, or with a future (or coroutine) of one: the model's
answers arrive as callbacks on the loop, without a task and a coroutine chain per request.

What a connection gets:
- keep-alive (HTTP/1.1, or HTTP/1.0 asking for it); pipelined requests are answered in order,
  and a client that sends without reading its answers is not read further;
- each response leaves in one write with TCP_NODELAY;
- a body over `max_request_bytes` gets 413 and a chunked body 411 from the headers alone,
  request line and headers over 64 KiB get 431, then the connection closes after the client
  has had time to read the answer;
- a connection idle for the timeout, or a request that takes longer than that to arrive
  (even a byte at a time), is closed; time spent computing an answer does not count;
- shutdown: the listener closes at once, idle connections close, a request already
  (partly) received is answered with `Connection: close` within the grace period.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Awaitable, Callable, Deque, Dict, List, Optional, Set, Tuple, Union

import httptools

log = logging.getLogger(__name__)

MAX_PIPELINED = 16  # parsed requests waiting on one connection before it stops reading
MAX_HEAD_BYTES = 64 * 1024  # request line and headers together: a header flood cannot grow memory
LINGER_SECONDS = 2.0  # after a refused body: time for the client to read the answer before the close


@dataclass
class Request:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes = b""
    keep_alive: bool = True


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: List[Tuple[str, str]] = field(default_factory=list)
    close: bool = False  # close the connection after this answer


Handler = Callable[[Request], Union[Response, Awaitable[Response]]]
Refusal = Callable[[Request], Optional[Response]]  # from the headers alone: too large, chunked...


@functools.lru_cache(maxsize=None)
def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


class _Connection(asyncio.Protocol):
    def __init__(self, server: "HttpServer"):
        self.server = server
        self.transport: Optional[asyncio.Transport] = None
        self.parser = httptools.HttpRequestParser(self)
        self.waiting: Deque[Request] = deque()  # parsed, not yet answered (pipelining)
        self.answering = False
        self.receiving = False  # part of a request has arrived
        self.lingering = False  # answered a refusal; input is read and dropped until the close
        self.last_activity = self._started = time.monotonic()
        self._url = b""
        self._headers: Dict[str, str] = {}
        self._body: List[bytes] = []
        self._head_bytes = 0
        self._request: Optional[Request] = None
        self._reading = True
        self._writable = True

    # -- asyncio.Protocol --------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.server.connections.add(self)
        if self.server.draining:
            transport.close()

    def connection_lost(self, exc) -> None:
        self.server.connections.discard(self)

    def pause_writing(self) -> None:
        """The client is not reading its answers: answer no more until it does (with at most
        MAX_PIPELINED requests parsed meanwhile, memory stays bounded)."""
        self._writable = False

    def resume_writing(self) -> None:
        self._writable = True
        self._next()

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        if self.lingering:
            return
        try:
            self.parser.feed_data(data)
        except _Stop:
            pass
        except httptools.HttpParserUpgrade:
            self._refuse(Response(400, _error("Protocol upgrades are not supported"), close=True))
        except httptools.HttpParserError as e:
            if not self.lingering:  # a refusal from on_headers_complete already answered
                self._refuse(Response(400, _error(f"Malformed HTTP request: {e}"), close=True))

    # -- httptools callbacks -------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.receiving = True
        self._started = time.monotonic()
        self._url, self._headers, self._body = b"", {}, []
        self._head_bytes = 0
        self._request = None

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        self._count_head(len(name) + len(value))

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(Response(431, _error(f"Request line and headers exceed {MAX_HEAD_BYTES} bytes"), close=True))
            raise _Stop

    def on_headers_complete(self) -> None:
        parser = self.parser
        self._request = Request(parser.get_method().decode("latin-1"), self._url.decode("latin-1"), self._headers)
        refusal = self.server.refuse(self._request)
        if refusal is not None:
            self._refuse(refusal)
            raise _Stop  # no more parsing: the body is never read
        if self._headers.get("expect", "").lower() == "100-continue":  # curl waits a second for it otherwise
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        request = self._request
        body = self._body
        request.body = body[0] if len(body) == 1 else b"".join(body)
        request.keep_alive = self.parser.should_keep_alive()
        self._body = []
        self.receiving = False
        self.waiting.append(request)
        if len(self.waiting) >= MAX_PIPELINED and self._reading:
            self._reading = False
            self.transport.pause_reading()
        self._next()

    # -- answering -----------------------------------------------------------------------
    def _next(self) -> None:
        if self.answering or not self.waiting or not self._writable or self.transport.is_closing():
            return
        if not self._reading and len(self.waiting) < MAX_PIPELINED // 2:
            self._reading = True
            self.transport.resume_reading()
        self.answering = True
        request = self.waiting.popleft()
        try:
            answer = self.server.handler(request)
        except Exception as e:  # noqa: BLE001 - a bug answers 500, the connection lives on
            answer = _bug(request, e)
        if isinstance(answer, Response):
            self._respond(request, answer)
        else:
            asyncio.ensure_future(answer, loop=self.server.loop).add_done_callback(
                functools.partial(self._answered, request))

    def _answered(self, request: Request, future: "asyncio.Future[Response]") -> None:
        if future.cancelled():  # the server is stopping: nobody will read an answer
            self.answering = False
            return
        error = future.exception()
        self._respond(request, future.result() if error is None else _bug(request, error))

    def _respond(self, request: Request, response: Response) -> None:
        if self.transport.is_closing():  # the client left (or was cut) while its answer was computed
            self.answering = False
            return
        close = response.close or not request.keep_alive or self.server.draining
        self._write(response, close, head_only=request.method == "HEAD")
        self.answering = False
        self.last_activity = time.monotonic()
        if close:
            self.transport.close()
        else:
            self._next()

    def _write(self, response: Response, close: bool, head_only: bool = False) -> None:
        """One write per answer; a HEAD request gets the headers only, as HTTP requires."""
        head = [_status_line(response.status),
                f"Content-Type: {response.content_type}\r\nContent-Length: {len(response.body)}\r\n".encode("latin-1")]
        for name, value in response.headers:
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        if close:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        self.transport.write(b"".join(head) + (b"" if head_only else response.body))

    def _refuse(self, response: Response) -> None:
        """Answers at once and closes after the linger, reading and dropping what the client
        still sends: closing on unread input would reset the connection before the client
        read the answer."""
        self.lingering = True
        self.receiving = False
        self.waiting.clear()
        self._write(response, close=True)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.server.loop.call_later(LINGER_SECONDS, self.transport.close)

    # -- the server's sweeps -------------------------------------------------------------
    @property
    def idle(self) -> bool:
        return not (self.answering or self.waiting or self.receiving)

    def timed_out(self, now: float, timeout: float) -> bool:
        if self.answering or self.waiting:
            return False
        if self.receiving and now - self._started > timeout:  # trickled: bytes keep coming, the request never ends
            return True
        return now - self.last_activity > timeout


class _Stop(Exception):
    """Raised from a parser callback to stop parsing a refused request."""


async def _settle(tasks) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


def _bug(request: Request, error: BaseException) -> Response:
    log.error("REST request %s %s failed", request.method, request.path, exc_info=error)
    return Response(500, _error(f"{type(error).__name__}: {error}"))


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


class HttpServer:
    """Runs the loop on its own thread; `start`, `stop_accepting` and `drain` are called from others."""

    def __init__(self, host: str, port: int, handler: Handler, refuse: Refusal, timeout_seconds: float):
        self.handler, self.refuse = handler, refuse
        self.timeout_seconds = timeout_seconds
        self.loop = asyncio.new_event_loop()
        self.connections: Set[_Connection] = set()
        self.draining = False
        self._listener = self.loop.run_until_complete(
            self.loop.create_server(lambda: _Connection(self), host, port, backlog=1024, reuse_address=True))
        self.port = self._listener.sockets[0].getsockname()[1]
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._sweep()
        self._thread = threading.Thread(target=self.loop.run_forever, name="rest-server", daemon=True)
        self._thread.start()

    def _sweep(self) -> None:
        """Closes connections that stalled longer than the timeout; runs a few times per timeout."""
        now = time.monotonic()
        for connection in [c for c in self.connections if c.timed_out(now, self.timeout_seconds)]:
            connection.transport.close()
        self.loop.call_later(min(1.0, self.timeout_seconds / 4), self._sweep)

    def _call(self, fn: Callable[[], object]) -> object:
        """Runs fn on the loop's thread and returns its result."""
        if self._thread is None or not self._thread.is_alive():
            return fn()
        done = threading.Event()
        box: list = []

        def run() -> None:
            try:
                box.append(fn())
            finally:
                done.set()

        self.loop.call_soon_threadsafe(run)
        done.wait(10)
        return box[0] if box else None

    def stop_accepting(self) -> None:
        """No new connections from now on; idle ones are closed, busy ones finish."""
        def stop() -> None:
            self.draining = True
            self._listener.close()
            self._close_idle()
        self._call(stop)

    def _close_idle(self) -> None:
        for connection in [c for c in self.connections if c.idle]:
            connection.transport.close()

    def drain(self, deadline: float) -> int:
        """Waits for the open connections to finish until `deadline` (time.monotonic());
        returns how many were still busy and had to be cut. Then stops the loop."""
        while self._call(lambda: (self._close_idle(), len(self.connections))[1]) and time.monotonic() < deadline:
            time.sleep(0.01)

        def cut_all() -> int:
            busy = [c for c in self.connections if not c.lingering]
            for connection in list(self.connections):
                connection.transport.abort()
            return len(busy)
        cut = self._call(cut_all)
        self.close()
        return cut or 0

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        self._listener.close()
        if not self.loop.is_running() and not self.loop.is_closed():
            pending = asyncio.all_tasks(self.loop)  # answers of connections that were cut
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(_settle(pending))
            self.loop.close()
