"""Request framing over a raw socket on the real server (uvicorn): a request that declares both
``Content-Length`` and ``Transfer-Encoding: chunked`` is refused with a ``400`` and the connection closed,
since a proxy in front could frame it the other way (request smuggling)."""

from __future__ import annotations

import json
import socket

from lossdoctor_stack import Stack

#: Seconds to wait for the server's answer.
READ_SECONDS = 10.0


def _exchange(stack: Stack, raw: bytes) -> bytes:
    """Send ``raw`` and read until the server closes the connection (or the timeout)."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=READ_SECONDS) as sock:
        sock.sendall(raw)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            chunks.append(b"<no close>")
    return b"".join(chunks)


def test_content_length_with_chunked_transfer_encoding_is_a_400_and_the_connection_closes(stack: Stack) -> None:
    body = b'{"name": "smuggled"}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    raw = (
        b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked
        # a second request on the same connection, which must not be served
        + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    answer = _exchange(stack, raw)
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"content-type: application/problem+json" in head.lower()
    assert b"connection: close" in head.lower()
    problem = json.loads(rest.split(b"HTTP/1.1")[0])
    assert problem["status"] == 400 and "Content-Length" in problem["detail"]
    assert b"<no close>" not in answer and answer.count(b"HTTP/1.1 ") == 1  # closed; the second one unanswered
    assert stack.client.get("/v1/jobs").json()["jobs"] == []  # nothing was submitted


def test_a_plain_chunked_request_is_still_served(stack: Stack) -> None:
    answer = _exchange(
        stack,
        b"POST /v1/diagnose/curves HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 422"), answer[:300]  # parsed and validated, not refused for framing
