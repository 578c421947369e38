"""A total deadline per request: connect, headers and body together.

``requests`` only bounds each socket operation (the read timeout restarts with every byte), so a
server that trickles a byte a second holds a request forever. Here every connection a request
takes from the pool is watched: when the request's deadline passes, one watcher thread shuts
the connection's socket down, the blocked read returns at once, and the client reports the
deadline. The watcher sleeps until the earliest deadline; registering a request costs a dict
entry, not a thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class RequestDeadline:
    """One request's deadline and the connections it has used so far."""

    __slots__ = ("_watch", "connections", "expired", "seconds", "until")

    def __init__(self, watch: DeadlineWatch, seconds: float) -> None:
        self._watch = watch
        self.seconds = seconds
        self.until = time.monotonic() + seconds
        self.connections: list[Any] = []
        self.expired = False

    def add(self, connection: Any) -> None:
        self.connections.append(connection)
        self._watch.arm(self)


def within_deadline() -> bool:
    """Whether the calling thread is inside a request's deadline (:meth:`DeadlineWatch.request`)."""
    return getattr(_current, "deadline", None) is not None


class DeadlineWatch:
    """Cuts the connections of requests that outlive their deadline (one thread per client)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._armed: dict[int, RequestDeadline] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        self._wakes_at: float | None = None
        """When the watcher wakes by itself next (None: only when notified)."""

    @contextmanager
    def request(self, seconds: float) -> Iterator[RequestDeadline]:
        """Watch the connections the calling thread takes from the pool within this block."""
        deadline = RequestDeadline(self, seconds)
        previous = getattr(_current, "deadline", None)
        _current.deadline = deadline
        try:
            yield deadline
        finally:
            _current.deadline = previous
            with self._condition:
                self._armed.pop(id(deadline), None)

    def arm(self, deadline: RequestDeadline) -> None:
        """Watch ``deadline``; the watcher is woken only when it would sleep past it.

        Requests one after another each arm a deadline later than the one the watcher sleeps
        until, so it wakes by itself about once per deadline's length rather than once per
        request (a wake-up cost the reading thread ~25-150 µs a request on two busy cores).
        """
        with self._condition:
            if self._closed:
                return
            self._armed[id(deadline)] = deadline
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="request-deadlines", daemon=True
                )
                self._thread.start()
            elif self._wakes_at is None or deadline.until < self._wakes_at:
                self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._armed.clear()
            self._condition.notify()

    def _run(self) -> None:
        with self._condition:
            while not self._closed:
                now = time.monotonic()
                for key, deadline in list(self._armed.items()):
                    if deadline.until <= now:
                        del self._armed[key]
                        deadline.expired = True
                        for connection in deadline.connections:
                            _cut(connection)
                earliest = min((d.until for d in self._armed.values()), default=None)
                pause = None if earliest is None else max(earliest - now, 0.01)
                self._wakes_at = None if pause is None else now + pause
                self._condition.wait(pause)


def _cut(connection: Any) -> None:
    sock = getattr(connection, "watched_sock", None) or getattr(connection, "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed: nothing left to wait on
        sock.shutdown(socket.SHUT_RDWR)


class _WatchedHTTPConnection(HTTPConnection):
    """Keeps its socket in ``watched_sock`` after ``close()``: a response read until the
    server closes holds the socket on while the connection already forgot it."""

    watched_sock: Any = None

    def connect(self) -> None:
        super().connect()
        self.watched_sock = self.sock


class _WatchedHTTPSConnection(HTTPSConnection):
    watched_sock: Any = None

    def connect(self) -> None:
        super().connect()
        self.watched_sock = self.sock


class _WatchedPool:
    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        deadline = getattr(_current, "deadline", None)
        if deadline is not None:
            deadline.add(connection)
        return connection


class _WatchedHTTPPool(_WatchedPool, HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(_WatchedPool, HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose pools report each connection they hand out to the request's
    deadline (if the calling thread set one through :meth:`DeadlineWatch.request`)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }
