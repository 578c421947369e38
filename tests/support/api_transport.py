"""The socket side of the test API server: HTTP/1.1 keep-alive, one thread per connection.

`HttpTransport` knows nothing about routes or faults; it turns bytes into a `RecordedRequest`,
asks its ``respond`` callback for a `Response` and writes it, breaking the transport on purpose
when the response carries a fault. It tracks open connections so that stopping never waits on a
client that keeps an idle keep-alive connection open.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .api_messages import RecordedRequest, Response


class HttpTransport(ThreadingHTTPServer):
    """Serves ``respond(request)`` on a free 127.0.0.1 port; ``on_error`` gets server-side bugs.

    ``hang_seconds`` bounds the ``hang`` fault. `stop` cuts delays and hangs short.
    """

    request_queue_size = 64
    daemon_threads = False  # socketserver only joins non-daemon threads in server_close()

    def __init__(
        self,
        respond: Callable[[RecordedRequest], Response],
        on_error: Callable[[str], None],
        hang_seconds: float,
    ) -> None:
        self.respond = respond
        self.on_error = on_error
        self.hang_seconds = hang_seconds
        self.stopping = threading.Event()
        self._connections: dict[socket.socket, int] = {}
        self._connection_numbers = itertools.count(1)
        self._connections_lock = threading.Lock()
        # serve_forever notices a shutdown request only between polls: keep teardown short.
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.01}, name="api-server"
        )
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self._thread.start()

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name, which can stall on machines without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def stop(self) -> None:
        """Stop accepting, cut open connections and join every thread of this server."""
        self.stopping.set()
        self.shutdown()
        with self._connections_lock:
            for connection in self._connections:
                _shut(connection)
        self.server_close()  # joins the per-connection threads
        self._thread.join()

    def open_connection(self, connection: socket.socket) -> int:
        """Register a new connection and return its number (1, 2, ...)."""
        with self._connections_lock:
            number = next(self._connection_numbers)
            self._connections[connection] = number
            if self.stopping.is_set():
                _shut(connection)
            return number

    def forget_connection(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.pop(connection, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-response are normal here; anything else is a bug to report."""
        if not isinstance(sys.exc_info()[1], OSError):
            self.on_error(traceback.format_exc())


def _shut(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection is dropped after this many seconds
    # Headers and body go out in separate writes; with Nagle's algorithm the body would wait for
    # the client's delayed ACK (about 40 ms per response).
    disable_nagle_algorithm = True
    server: HttpTransport

    def setup(self) -> None:
        super().setup()
        self.connection_number = self.server.open_connection(self.connection)

    def finish(self) -> None:
        self.server.forget_connection(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: test output should only show what the test prints."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        target = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=target.path,
            query=parse_qs(target.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
            connection=self.connection_number,
            timestamp=time.monotonic(),
        )
        try:
            self._send(self.server.respond(request))
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _send(self, response: Response) -> None:
        stopping = self.server.stopping
        if response.delay and stopping.wait(response.delay):
            self.close_connection = True
            return
        if response.fault in ("hang", "drop"):
            if response.fault == "hang":
                stopping.wait(self.server.hang_seconds)
            self.close_connection = True
            return
        payload, headers = response.encode()
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if response.fault is None:
            self.wfile.write(payload)
            return
        self.wfile.write(payload[: len(payload) // 2])
        self.close_connection = True
        if response.fault == "reset":
            self._abort_connection()

    def _abort_connection(self) -> None:
        """Close with SO_LINGER 0, which makes the kernel send a TCP RST instead of a FIN."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the socket only really closes once its file objects are gone
        self.connection.close()
