"""A small demo REST API on 127.0.0.1 that behaves like a real one, for the offline example.

It serves :mod:`example_project.demo_data` with the features the example's manifests exercise:

* every resource needs the header ``X-Api-Key: demo-key-not-secret`` (401 otherwise);
* ``GET /customers``: page pagination (``page`` from 1, ``per_page`` up to 100) and ``updated_at``
  filtering with ``updated_since`` / ``updated_until`` (ISO 8601, both inclusive);
* ``GET /orders``: cursor pagination (``cursor`` parameter, the body's ``next`` is the next cursor,
  ``null`` on the last page; ``limit`` up to 200), the same date filters, and ``region``
  (``eu``, ``us``, ``apac``);
* ``GET /customers/{id}/notes``: a customer's notes with offset pagination (``offset``, ``limit``);
* every 37th authenticated request is refused with 429 and ``Retry-After: 0``, so a client's
  retries show in its logs while runs stay fast and deterministic;
* ``GET /health`` answers without a key, so :func:`ensure_running` can tell the demo API from
  another program on the port.

Records are listed under ``data``. Run it alone with ``python -m example_project.demo_api``.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from example_project.demo_data import REGIONS, DemoData, parse_timestamp, updated_between

DEMO_API_KEY = "demo-key-not-secret"
API_KEY_HEADER = "X-Api-Key"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
THROTTLE_EVERY = 37
SERVICE_NAME = "dagster-declarative-demo-api"


class DemoApiError(RuntimeError):
    """The demo API cannot be started or reached."""


class BadRequest(Exception):
    """A query the API refuses with 400; the message is the body's ``error``."""


class _Reply:
    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, dict(headers or {})


class DemoServer(ThreadingHTTPServer):
    """The HTTP server plus the state its handlers share: the data and the request counter."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], data: DemoData | None = None) -> None:
        super().__init__(address, _Handler)
        self.data = data or DemoData.generate()
        self._lock = threading.Lock()
        self._served = 0

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def should_throttle(self) -> bool:
        """Count an authenticated request; True for every THROTTLE_EVERY-th one."""
        with self._lock:
            self._served += 1
            return self._served % THROTTLE_EVERY == 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, each keep-alive
    # response would wait for the client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True
    server: DemoServer

    def do_GET(self) -> None:
        self._send(self._route())

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the client's logs are the interesting ones in the demo."""

    def _route(self) -> _Reply:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        parts = [part for part in url.path.split("/") if part]
        if parts == ["health"]:
            return _Reply(200, {"status": "ok", "service": SERVICE_NAME})
        if self.headers.get(API_KEY_HEADER) != DEMO_API_KEY:
            return _Reply(401, {"error": f"missing or wrong {API_KEY_HEADER} header"})
        if self.server.should_throttle():
            return _Reply(429, {"error": "rate limited, retry later"}, {"Retry-After": "0"})
        try:
            if parts == ["customers"]:
                return _Reply(200, _customers(self.server.data, query))
            if parts == ["orders"]:
                return _Reply(200, _orders(self.server.data, query))
            if len(parts) == 3 and parts[0] == "customers" and parts[2] == "notes":
                return _notes(self.server.data, parts[1], query)
        except BadRequest as problem:
            return _Reply(400, {"error": str(problem)})
        return _Reply(404, {"error": f"no resource at {url.path}"})

    def _send(self, reply: _Reply) -> None:
        payload = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _integer(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def _date_filtered(records: list[dict], query: Mapping[str, str]) -> list[dict]:
    try:
        since = parse_timestamp(query["updated_since"]) if "updated_since" in query else None
        until = parse_timestamp(query["updated_until"]) if "updated_until" in query else None
    except ValueError as problem:
        raise BadRequest(str(problem)) from None
    return updated_between(records, since, until)


def _customers(data: DemoData, query: Mapping[str, str]) -> dict[str, Any]:
    matching = _date_filtered(data.customers, query)
    page = _integer(query, "page", 1, 1, 1_000_000)
    per_page = _integer(query, "per_page", 50, 1, 100)
    start = (page - 1) * per_page
    return {
        "data": matching[start : start + per_page],
        "page": page,
        "per_page": per_page,
        "total": len(matching),
    }


def _orders(data: DemoData, query: Mapping[str, str]) -> dict[str, Any]:
    matching = _date_filtered(data.orders, query)
    region = query.get("region")
    if region is not None:
        if region not in REGIONS:
            raise BadRequest(f"region must be one of {', '.join(REGIONS)}, got {region!r}")
        matching = [order for order in matching if order["region"] == region]
    limit = _integer(query, "limit", 100, 1, 200)
    start = _decode_cursor(query["cursor"]) if query.get("cursor") else 0
    end = start + limit
    return {
        "data": matching[start:end],
        "next": _encode_cursor(end) if end < len(matching) else None,
    }


def _encode_cursor(position: int) -> str:
    """Opaque cursors, as real APIs hand out, so clients cannot rely on them being offsets."""
    return base64.urlsafe_b64encode(f"pos:{position}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        kind, _, position = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "pos" and position.isdigit():
            return int(position)
    except (ValueError, UnicodeDecodeError):
        pass
    raise BadRequest("cursor is not one this API handed out")


def _notes(data: DemoData, customer: str, query: Mapping[str, str]) -> _Reply:
    if not customer.isdigit() or int(customer) not in data.customer_ids():
        return _Reply(404, {"error": f"no customer {customer}"})
    notes = data.notes_by_customer.get(int(customer), [])
    offset = _integer(query, "offset", 0, 0, 1_000_000)
    limit = _integer(query, "limit", 20, 1, 100)
    return _Reply(200, {"data": notes[offset : offset + limit], "total": len(notes)})


def start_in_background(
    port: int = 0, host: str = DEFAULT_HOST, data: DemoData | None = None
) -> tuple[str, Callable[[], None]]:
    """Serve the demo API from a daemon thread; returns its URL and a function that stops it.

    ``port=0`` picks a free port (what tests want).
    """
    try:
        server = DemoServer((host, port), data)
    except OSError as error:
        raise DemoApiError(f"cannot serve the demo API on {host}:{port}: {error}") from None
    thread = threading.Thread(target=server.serve_forever, name="demo-api", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return server.url, stop


def is_demo_api(url: str, timeout: float = 1.0) -> bool:
    """True when the demo API answers at ``url``; False when nothing listens there.

    Raises DemoApiError when another program answers, so the example never talks to it.
    """
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            body = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError:
        body = {}
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    except ValueError:
        body = {}
    if isinstance(body, dict) and body.get("service") == SERVICE_NAME:
        return True
    raise DemoApiError(
        f"something other than the demo API answers at {url}; stop it or choose another port"
    )


def ensure_running(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    """The URL of a demo API on ``host:port``, starting one in a daemon thread if none answers.

    When another program holds the port, the demo API starts on a free port instead and says
    so on stderr (set ``DEMO_API_URL`` to use a demo API of your own). A server started here
    lives as long as the calling process.
    """
    url = f"http://{host}:{port}"
    try:
        if is_demo_api(url):
            return url
        started, _stop = start_in_background(port, host)
        return started
    except DemoApiError as error:
        started, _stop = start_in_background(0, host)
        print(
            f"demo API: {error}; serving it on {started} instead "
            "(set DEMO_API_URL to use another demo API)",
            file=sys.stderr,
        )
        return started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the demo REST API until interrupted.")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    arguments = parser.parse_args(argv)
    try:
        server = DemoServer((arguments.host, arguments.port))
    except OSError as error:
        sys.exit(f"cannot serve the demo API on {arguments.host}:{arguments.port}: {error}")
    print(
        f"demo API at {server.url} (header {API_KEY_HEADER}: {DEMO_API_KEY}); Ctrl-C stops it",
        file=sys.stderr,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
