"""Responses of parent streams, kept for the length of one check or one read.

A parent stream is read once per child stream that slices by it, and once more when it is read
as a stream of its own; the reference runner answers the repeats from a cache of the parent's
responses. So does this engine: requesters of parent streams are marked ``use_cache`` (see
`engine/streams/parent_reuse.py`), and while a check or a read of several streams runs, their
successful GET responses are kept here and a repeated request (same method, URL, headers and body)
is answered without going to the API.

The responses go to SQLite's private temporary database: a file that SQLite deletes as soon as it
opens it, so memory stays flat however large the parent, no other process can open it by name,
and nothing outlives the check or read (not even a killed one). Request URLs and headers carry
credentials (an API key in the query, an ``Authorization`` header): the file holds only a hash
of each request, and a response's own URL only when a redirect changed it, in memory. Past
``max_bytes`` of bodies nothing more is stored (those requests are simply sent again).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading

import orjson
import requests
from requests.structures import CaseInsensitiveDict

DEFAULT_MAX_BYTES = 2 * 1024**3


class ResponseCache:
    """Successful GET responses by request; thread-safe (slices are read in a pool)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.hits = 0
        self._stored_bytes = 0
        self._db: sqlite3.Connection | None = None
        self._moved: dict[bytes, str] = {}
        """The final URL of a response a redirect moved away from its request's URL."""
        self._lock = threading.Lock()

    def get(self, request: requests.PreparedRequest) -> requests.Response | None:
        if request.method != "GET":
            return None
        key = _key(request)
        with self._lock:
            if self._db is None:
                return None
            row = self._db.execute(
                "SELECT status, headers, content FROM responses WHERE key = ?", (key,)
            ).fetchone()
            if row is not None:
                self.hits += 1
        if row is None:
            return None
        response = requests.Response()
        response.status_code = row[0]
        response.url = self._moved.get(key, request.url)
        response.headers = CaseInsensitiveDict(orjson.loads(row[1]))
        response._content = row[2]
        response.request = request
        return response

    def put(self, request: requests.PreparedRequest, response: requests.Response | None) -> None:
        if request.method != "GET" or response is None:
            return
        content = response.content or b""
        key = _key(request)
        with self._lock:
            if self._stored_bytes + len(content) > self.max_bytes:
                return
            self._stored_bytes += len(content)
            if response.url and response.url != request.url:
                self._moved[key] = response.url
            self._connection().execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                (key, response.status_code, orjson.dumps(dict(response.headers)), content),
            )

    def close(self) -> None:
        """Forget every response (closing the database frees its file)."""
        with self._lock:
            self._moved.clear()
            if self._db is not None:
                self._db.close()
                self._db = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            # An empty name is SQLite's private temporary database, unlinked when it is opened.
            self._db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode = OFF")
            self._db.execute("PRAGMA synchronous = OFF")
            self._db.execute(
                "CREATE TABLE responses (key BLOB PRIMARY KEY, status INTEGER, headers BLOB, "
                "content BLOB)"
            )
        return self._db


def _key(request: requests.PreparedRequest) -> bytes:
    digest = hashlib.sha256()
    digest.update(f"{request.method}\0{request.url}\0".encode())
    digest.update(orjson.dumps(sorted((request.headers or {}).items())))
    body = request.body or b""
    digest.update(b"\0" + (body.encode() if isinstance(body, str) else body))
    return digest.digest()
