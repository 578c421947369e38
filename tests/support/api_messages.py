"""What the test API server receives (`RecordedRequest`) and what it sends back (`Response`).

Both are plain immutable values so that tests can build responses up front (to queue them as
faults) and inspect recorded requests after the fact, from any thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any, Literal
from urllib.parse import parse_qs

Fault = Literal["reset", "truncate", "hang", "drop"]
"""Transport-level misbehaviour applied while sending a response:

- ``reset``: send the headers and half of the body, then abort the connection (TCP RST);
- ``truncate``: send the headers and half of the body, then close the connection normally, so
  the client receives fewer bytes than ``Content-Length`` promised;
- ``hang``: send nothing and keep the connection open for the server's ``hang_seconds`` (longer
  than any sane client timeout), then close it;
- ``drop``: close the connection without sending anything.
"""


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it.

    ``headers`` keys are lower-cased so lookups do not depend on the client's spelling.
    ``connection`` numbers the TCP connection the request arrived on, which lets tests check that
    a client reuses keep-alive connections. ``timestamp`` is ``time.monotonic()`` at arrival.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    connection: int
    timestamp: float
    path_params: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        """The body decoded as JSON, or None when the body is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def form(self) -> dict[str, list[str]]:
        """The body decoded as an ``application/x-www-form-urlencoded`` form."""
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or None when it is absent."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Response:
    """A response to send, optionally delayed or broken on purpose.

    ``body`` may be bytes (sent as is), str (sent as UTF-8 text) or anything JSON-serialisable
    (sent as ``application/json``). Explicit ``headers`` override the derived ``Content-Type``.
    ``delay`` seconds pass before anything is sent. ``fault`` breaks the transport (see `Fault`).
    """

    status: int = 200
    body: Any = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    fault: Fault | None = None

    def __post_init__(self) -> None:
        if self.fault in ("reset", "truncate") and not self.encode()[0]:
            raise ValueError(f"the {self.fault!r} fault cuts the body short, so give it a body")

    @classmethod
    def rate_limited(cls, retry_after: float | datetime, *, status: int = 429) -> Response:
        """A rate-limit answer whose ``Retry-After`` is delta-seconds or an HTTP date.

        Whole seconds are written as an integer (``Retry-After: 2``) as RFC 9110 requires;
        fractions are kept, as some APIs send them. A datetime is written in IMF-fixdate form.
        """
        if isinstance(retry_after, datetime):
            value = format_datetime(retry_after.astimezone(timezone.utc), usegmt=True)
        elif float(retry_after).is_integer():
            value = str(int(retry_after))
        else:
            value = str(retry_after)
        return cls(status, {"error": "rate limited"}, {"Retry-After": value})

    @classmethod
    def html(
        cls, text: str = "<html><body>Service unavailable</body></html>", *, status: int = 200
    ) -> Response:
        """An HTML page, as proxies and misconfigured APIs return instead of JSON."""
        return cls(status, text, {"Content-Type": "text/html; charset=utf-8"})

    def encode(self) -> tuple[bytes, dict[str, str]]:
        """The body bytes and the headers to send with them (``Content-Length`` excluded)."""
        if isinstance(self.body, bytes):
            payload, content_type = self.body, "application/octet-stream" if self.body else None
        elif isinstance(self.body, str):
            payload, content_type = self.body.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            payload, content_type = json.dumps(self.body).encode("utf-8"), "application/json"
        headers = {"Content-Type": content_type} if content_type else {}
        overridden = {name.lower() for name in self.headers}
        headers = {k: v for k, v in headers.items() if k.lower() not in overridden}
        headers.update(self.headers)
        return payload, headers


def json_error(status: int, error: str, message: str) -> Response:
    """A JSON error body in the ``{"error", "message"}`` shape most REST APIs use."""
    return Response(status, {"error": error, "message": message})
