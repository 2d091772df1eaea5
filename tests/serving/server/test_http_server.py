"""The event-loop HTTP server under the REST API: keep-alive, pipelining, refusals, timeouts, drain.

A stand-in handler (no model) answers `/sleep/<ms>` after that long and echoes the body (`/big/<n>`:
n bytes), so
each behaviour is checked on raw sockets in milliseconds.
"""
import asyncio
import json
import socket
import threading
import time

import pytest

from serving.server.http_server import HttpServer, Response


async def _handler(request):
    if request.path.startswith("/boom"):
        raise RuntimeError("a bug")
    if request.path.startswith("/big/"):
        return Response(200, b"x" * int(request.path.rsplit("/", 1)[1]))
    if request.path.startswith("/sleep/"):
        await asyncio.sleep(int(request.path.rsplit("/", 1)[1]) / 1000)
    return Response(200, json.dumps({"path": request.path, "body": request.body.decode()}).encode(),
                    headers=[("x-request-id", "r1")])


def _refuse(request):
    if int(request.headers.get("content-length", "0") or 0) > 100:
        return Response(413, b'{"error": "too large"}', close=True)
    return None


@pytest.fixture()
def server():
    http = HttpServer("127.0.0.1", 0, _handler, _refuse, timeout_seconds=0.5)
    http.start()
    yield http
    http.stop_accepting()
    http.drain(time.monotonic() + 1)


def _connect(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def _post(path, body=b"", version="1.1", extra=""):
    return (f"POST {path} HTTP/{version}\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def _read_responses(sock, count):
    """Reads `count` complete responses (head, body) off the socket."""
    data, responses = b"", []
    while len(responses) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return responses
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        while len(data) < length:
            data += sock.recv(65536)
        responses.append((head.decode(), data[:length]))
        data = data[length:]
    return responses


def _closed(sock, within=5.0):
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def test_keep_alive_answers_many_requests_on_one_connection(server):
    sock = _connect(server)
    for i in range(3):
        sock.sendall(_post(f"/v1/{i}", b"abc"))
        head, body = _read_responses(sock, 1)[0]
        assert head.startswith("HTTP/1.1 200 OK") and "x-request-id: r1" in head and "Connection: close" not in head
        assert json.loads(body) == {"path": f"/v1/{i}", "body": "abc"}
    sock.close()


def test_pipelined_requests_are_answered_in_order_even_when_the_first_is_slowest(server):
    sock = _connect(server)
    sock.sendall(_post("/sleep/200", b"first") + _post("/sleep/0", b"second") + _post("/sleep/50", b"third"))
    bodies = [json.loads(body)["body"] for _, body in _read_responses(sock, 3)]
    assert bodies == ["first", "second", "third"]
    sock.close()


def test_http_1_0_without_keep_alive_is_answered_and_closed(server):
    sock = _connect(server)
    sock.sendall(_post("/v1/x", b"", version="1.0"))
    head, _ = _read_responses(sock, 1)[0]
    assert head.startswith("HTTP/1.1 200") and "Connection: close" in head
    assert _closed(sock)


def test_malformed_http_gets_a_json_400_and_the_connection_closes(server):
    sock = _connect(server)
    sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
    head, body = _read_responses(sock, 1)[0]
    assert head.startswith("HTTP/1.1 400") and "Malformed HTTP request" in json.loads(body)["error"]
    assert _closed(sock)


def test_a_refused_body_is_answered_from_the_headers_before_it_is_sent(server):
    sock = _connect(server)
    sock.sendall(b"POST /v1/x HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n")  # 100 MB announced, none sent
    head, body = _read_responses(sock, 1)[0]
    assert head.startswith("HTTP/1.1 413") and json.loads(body) == {"error": "too large"}
    sock.sendall(b"x" * 65536)  # what the client still sends is read and dropped, not reset
    assert _closed(sock)


def test_a_header_flood_is_refused_before_it_grows_without_bound(server):
    sock = _connect(server)
    sock.sendall(b"POST /v1/x HTTP/1.1\r\n")
    for i in range(2000):  # 2,000 headers of 50 bytes: past the 64 KiB limit, never a blank line
        try:
            sock.sendall(f"X-Filler-{i:05d}: {'y' * 30}\r\n".encode())
        except OSError:  # the server answered and closed while we were still sending
            break
    head, body = _read_responses(sock, 1)[0]
    assert head.startswith("HTTP/1.1 431") and "exceed 65536 bytes" in json.loads(body)["error"]
    assert _closed(sock)


def test_expect_100_continue_is_answered_so_clients_such_as_curl_send_the_body_at_once(server):
    sock = _connect(server)
    sock.sendall(b"POST /v1/x HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.sendall(b"body")
    head, body = _read_responses(sock, 1)[0]
    assert head.startswith("HTTP/1.1 200") and json.loads(body)["body"] == "body"
    sock.sendall(b"POST /v1/x HTTP/1.1\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
    head, _ = _read_responses(sock, 1)[0]  # refused from the headers: the final answer, no 100
    assert head.startswith("HTTP/1.1 413")
    sock.close()


def test_a_head_request_gets_headers_only_and_the_connection_stays_usable(server):
    sock = _connect(server)
    sock.sendall(b"HEAD /v1/x HTTP/1.1\r\nHost: x\r\n\r\n" + _post("/v1/next", b"after"))
    data = b""
    while data.count(b"\r\n\r\n") < 2 or not data.endswith(b"}"):
        data += sock.recv(65536)
    first, rest = data.split(b"\r\n\r\n", 1)
    assert first.startswith(b"HTTP/1.1 200") and b"Content-Length:" in first
    assert rest.startswith(b"HTTP/1.1 200") and json.loads(rest.split(b"\r\n\r\n", 1)[1])["body"] == "after"
    sock.close()


def test_a_client_that_never_reads_its_answers_is_not_read_further(server):
    """Pipelining without reading: the server stops answering (and then reading) instead of buffering answers."""
    sock = _connect(server)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(0.5)
    sent = 0
    try:
        for _ in range(20000):  # 40 MB of requests, each asking for 100 kB: 2 GB of answers if it kept going
            sock.sendall(_post("/big/100000", extra=f"X-Pad: {'p' * 2000}\r\n"))
            sent += 1
    except (socket.timeout, OSError):
        pass
    assert sent < 20000  # blocked: the server stopped reading
    connection = next(iter(server.connections))
    # parsed but unanswered: the pipelining bound plus what one read held, not thousands
    assert not connection._writable and len(connection.waiting) < 100
    sock.close()


def test_a_handler_bug_answers_500_and_the_connection_lives_on(server, caplog):
    sock = _connect(server)
    sock.sendall(_post("/boom"))
    head, body = _read_responses(sock, 1)[0]
    assert head.startswith("HTTP/1.1 500") and json.loads(body) == {"error": "RuntimeError: a bug"}
    sock.sendall(_post("/v1/after"))
    assert _read_responses(sock, 1)[0][0].startswith("HTTP/1.1 200")
    sock.close()


def test_stalled_connections_are_closed_but_a_slow_answer_is_not_cut(server):
    silent, trickling, waiting = _connect(server), _connect(server), _connect(server)
    trickling.sendall(b"POST /v1/x HTTP/1.1\r\nContent-Length: 10\r\n\r\nab")  # then nothing
    waiting.sendall(_post("/sleep/1500"))  # three timeouts of computing: still answered
    started = time.monotonic()
    assert _closed(silent) and _closed(trickling)
    assert 0.4 < time.monotonic() - started < 3
    head, _ = _read_responses(waiting, 1)[0]
    assert head.startswith("HTTP/1.1 200")
    for sock in (silent, trickling, waiting):
        sock.close()


def test_a_request_trickled_a_byte_at_a_time_is_closed_once_it_outlasts_the_timeout(server):
    sock = _connect(server)
    request = _post("/v1/x", b"0123456789")
    started = time.monotonic()
    try:
        for byte in request:  # one byte every 0.1 s: each within the 0.5 s timeout, the request 8 s long
            sock.sendall(bytes([byte]))
            time.sleep(0.1)
    except OSError:
        pass
    assert time.monotonic() - started < 3 and _closed(sock)
    sock.close()


def test_drain_answers_requests_in_flight_with_connection_close_and_refuses_new_connections(server):
    idle, busy = _connect(server), _connect(server)
    busy.sendall(_post("/sleep/300", b"in flight"))
    time.sleep(0.1)
    server.stop_accepting()
    assert _closed(idle)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)
    cut = []
    drainer = threading.Thread(target=lambda: cut.append(server.drain(time.monotonic() + 5)))
    drainer.start()
    head, body = _read_responses(busy, 1)[0]
    drainer.join(10)
    assert head.startswith("HTTP/1.1 200") and "Connection: close" in head and json.loads(body)["body"] == "in flight"
    assert cut == [0]
    busy.close()


def test_drain_cuts_what_is_still_busy_at_the_deadline(server):
    busy = _connect(server)
    busy.sendall(_post("/sleep/5000"))
    time.sleep(0.1)
    server.stop_accepting()
    assert server.drain(time.monotonic() + 0.3) == 1
    assert _closed(busy)
    busy.close()


def test_a_handler_may_answer_at_once_or_with_a_future_settled_from_another_thread():
    """The REST API's predict answers with a future a batch thread settles; errors answer at once."""
    def handler(request):
        if request.path == "/now":
            return Response(200, b'{"now": true}')
        future = http.loop.create_future()
        threading.Timer(0.05, lambda: http.loop.call_soon_threadsafe(future.set_result, Response(200, b'{"later": 1}'))
                        ).start()
        return future

    http = HttpServer("127.0.0.1", 0, handler, lambda request: None, timeout_seconds=5)
    http.start()
    try:
        sock = _connect(http)
        sock.sendall(_post("/later") + _post("/now") + _post("/later"))  # pipelined: answered in order
        assert [json.loads(body) for _, body in _read_responses(sock, 3)] == [{"later": 1}, {"now": True},
                                                                              {"later": 1}]
        sock.close()
    finally:
        http.stop_accepting()
        http.drain(time.monotonic() + 1)
