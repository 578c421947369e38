"""A hostile API on 127.0.0.1 for ``bench/hostile.py``: it answers below the level a polite
server keeps to (bodies without end, compression bombs, pages without end, a byte at a time).

Raw sockets, one thread per connection, keep-alive; the first path segment picks the behaviour
(see :data:`BEHAVIOURS`). Every request is counted by that segment, so a case can answer
normally for a while and then stop a read that would otherwise go on for years.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import zlib
from collections import Counter
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

FLOOD_CHUNK = b" " * (1 << 20)
BOMB_INFLATED_MIB = 1024  # inflated size of the compression bombs
ENOUGH_SLICES = 2000  # /windows answers this many requests, then fails the read


class Request:
    def __init__(self, target: str, headers: dict[str, str]) -> None:
        parts = urlsplit(target)
        self.segment = parts.path.strip("/").split("/")[0]
        self.query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        self.headers = headers


def _message(status: str, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _json(status: str, value: object, *headers: str) -> bytes:
    return _message(status, json.dumps(value).encode(), "Content-Type: application/json", *headers)


def _bomb(wrap: Callable[[], zlib._Compress]) -> bytes:
    """``{"data": [`` + a GiB of spaces + ``]}``, compressed as it is made (a few MiB)."""
    compressor = wrap()
    parts = [compressor.compress(b'{"data": [')]
    parts.extend(compressor.compress(FLOOD_CHUNK) for _ in range(BOMB_INFLATED_MIB))
    parts.append(compressor.compress(b"]}") + compressor.flush())
    return b"".join(parts)


def _gzip_compressor() -> zlib._Compress:
    return zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)


class HostileApi:
    """The server; ``url`` while it runs (a context manager)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._bombs: dict[str, bytes] = {}

    def __enter__(self) -> HostileApi:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._listener.close()

    def bomb(self, kind: str) -> bytes:
        with self._lock:
            if kind not in self._bombs:
                wrap = _gzip_compressor if kind == "gzip" else zlib.compressobj
                self._bombs[kind] = _bomb(wrap)
            return self._bombs[kind]

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            reader = connection.makefile("rb")
            while not self.stopping.is_set():
                line = reader.readline(65536)
                if not line:
                    return
                headers = {}
                while (header := reader.readline(65536)) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                reader.read(int(headers.get("content-length") or 0))
                request = Request(line.split()[1].decode("latin-1"), headers)
                with self._lock:
                    self.counts[request.segment] += 1
                    count = self.counts[request.segment]
                behaviour = BEHAVIOURS.get(request.segment, _ok)
                if behaviour(self, connection, request, count) is False:
                    return


def _ok(api: HostileApi, connection: socket.socket, request: Request, count: int) -> None:
    connection.sendall(_json("200 OK", {"data": [{"id": 1}]}))


def _flood(api: HostileApi, connection: socket.socket, request: Request, count: int) -> bool:
    """A JSON body without end, as fast as the client takes it."""
    connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"data": [')
    while not api.stopping.is_set():
        connection.sendall(FLOOD_CHUNK)
    return False


def _dense(api: HostileApi, connection: socket.socket, request: Request, count: int) -> bool:
    """``?bytes=N``: N bytes of tiny records, the most objects a body of that size can hold."""
    size = int(request.query["bytes"])
    connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"data": [')
    record, sent = b'{"id":1},', 10
    batch = record * 100_000
    while sent + len(batch) < size:
        connection.sendall(batch)
        sent += len(batch)
    connection.sendall(b'{"id":1}]}')
    return False


def _compressed(kind: str) -> Callable[..., None]:
    def behave(api: HostileApi, connection: socket.socket, request: Request, count: int) -> None:
        encoding = "Content-Type: application/gzip" if kind == "gzipfile" else None
        header = encoding or f"Content-Encoding: {kind}"
        body = api.bomb("gzip" if kind == "gzipfile" else kind)
        connection.sendall(_message("200 OK", body, "Content-Type: application/json", header))

    return behave


def _redirect(api: HostileApi, connection: socket.socket, request: Request, count: int) -> bool:
    """A redirect to itself, each with a body without end."""
    connection.sendall(
        b"HTTP/1.1 302 Found\r\nLocation: /redirect\r\nContent-Length: 900000000000\r\n\r\n"
    )
    while not api.stopping.is_set():
        connection.sendall(FLOOD_CHUNK)
    return False


def _pages(api: HostileApi, connection: socket.socket, request: Request, count: int) -> None:
    """A full page and a fresh token, every time."""
    token = int(request.query.get("token", 0)) + 1
    page = {"data": [{"id": token * 100 + n, "pad": "x" * 200} for n in range(100)]}
    connection.sendall(_json("200 OK", {**page, "next": str(token)}))


def _same_token(api: HostileApi, connection: socket.socket, request: Request, count: int) -> None:
    connection.sendall(_json("200 OK", {"data": [{"id": count}], "next": "again"}))


def _windows(api: HostileApi, connection: socket.socket, request: Request, count: int) -> None:
    if count > ENOUGH_SLICES:
        connection.sendall(_json("400 Bad Request", {"error": "enough windows"}))
    else:
        connection.sendall(_json("200 OK", {"data": []}))


def _trickle(api: HostileApi, connection: socket.socket, request: Request, count: int) -> bool:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
        if api.stopping.wait(0.1):
            break
        connection.sendall(bytes([byte]))
    return False


def _wait(api: HostileApi, connection: socket.socket, request: Request, count: int) -> None:
    connection.sendall(_json("429 Too Many Requests", {}, "Retry-After: 1e400"))


def _echo(api: HostileApi, connection: socket.socket, request: Request, count: int) -> None:
    """Everything the request carried, in the error body and as non-JSON."""
    echoed = {"query": request.query, "headers": request.headers}
    connection.sendall(_json("400 Bad Request", {"error": echoed}))


def _echo_html(api: HostileApi, connection: socket.socket, request: Request, count: int) -> None:
    body = f"<html>{request.query} {request.headers}".encode()
    connection.sendall(_message("200 OK", body, "Content-Type: text/html"))


BEHAVIOURS: dict[str, Callable[..., bool | None]] = {
    "flood": _flood,
    "dense": _dense,
    "gzip": _compressed("gzip"),
    "deflate": _compressed("deflate"),
    "gzipfile": _compressed("gzipfile"),
    "redirect": _redirect,
    "pages": _pages,
    "same-token": _same_token,
    "windows": _windows,
    "trickle": _trickle,
    "wait": _wait,
    "echo": _echo,
    "echo-html": _echo_html,
}
