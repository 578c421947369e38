"""A raw-socket server on 127.0.0.1 that misbehaves below HTTP: it trickles its answer a byte at
a time, sends bodies without end, or never finishes its headers. The programmable ``ApiServer``
always answers whole messages; these faults need the socket itself.

    with HostileServer(trickle(b"HTTP/1.1 200 OK\\r\\n...", every=0.2)) as server:
        requests.get(server.url + "/anything")

Each connection is served by the behaviour in its own thread; stopping the server closes every
connection it still holds, so a behaviour blocked in ``sendall`` ends too.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

Behaviour = Callable[[socket.socket, threading.Event], None]


class HostileServer:
    def __init__(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.connections_served = 0
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> HostileServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        for connection in [self._listener, *self._connections]:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it
            connection.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections_served += 1
            self._connections.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, connection: socket.socket) -> None:
        try:
            connection.recv(65536)  # the request: never looked at
            self._behaviour(connection, self._stop)
        except OSError:
            pass  # the client left


def trickle(message: bytes, every: float = 0.2) -> Behaviour:
    """Send ``message`` one byte per ``every`` seconds (each byte well within a read timeout)."""

    def behave(connection: socket.socket, stop: threading.Event) -> None:
        for byte in message:
            if stop.wait(every):
                return
            connection.sendall(bytes([byte]))

    return behave


def endless_body(
    head: bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n",
    every: float = 0.05,
) -> Behaviour:
    """Send ``head``, then a byte of body every ``every`` seconds until the client leaves."""

    def behave(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(head + b"[")
        while not stop.wait(every):
            connection.sendall(b" ")

    return behave


def answer(message: bytes) -> Behaviour:
    """Send ``message`` at once, then close."""

    def behave(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(message)
        time.sleep(0.05)

    return behave
