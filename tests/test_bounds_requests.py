"""Nothing an API sends holds a read forever: waits are capped, every request (token requests
too) has a total deadline, and every response body has a size limit, inflated size included."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from manifests import modern
from support.api_server import ApiServer, Response
from support.cli import engine_cli
from support.hostile_server import HostileServer, endless_body, trickle

from dagster_declarative import DeclarativeSourceResource
from engine import load_manifest, load_source
from engine.errors import ReadError
from engine.http.client import HttpClient, RequestStats
from engine.http.error_handling import DefaultErrorHandler

HEADER_WAIT = """
type: DefaultErrorHandler
max_retries: 2
backoff_strategies:
  - {{type: {strategy}, header: X-Wait{extra}}}
"""


def _read(
    url: str, error_handler: str | None = None, waits: list | None = None, **options: object
) -> list[dict]:
    source = load_source(modern(url, error_handler=error_handler), {}, **options)
    if waits is not None:
        source.client.sleep = waits.append  # the waits asked for, spent instantly
    try:
        return list(source.read_records("items"))
    finally:
        source.close()


@pytest.mark.parametrize(
    "value",
    ["inf", "-inf", "1e400", "9" * 400, "601", "86400000", "Fri, 31 Dec 9999 23:59:59 GMT"],
)
def test_a_wait_header_above_the_default_ceiling_fails_naming_the_wait(
    api_server: ApiServer, value: str
) -> None:
    api_server.fail_next("/items", Response(429, {"error": "slow down"}, {"X-Wait": value}))
    api_server.add_collection("/items", [{"id": 1}])
    waits: list[float] = []
    handler = HEADER_WAIT.format(strategy="WaitTimeFromHeader", extra="")
    if value == "-inf":  # a wait in the past is no wait: the default backoff applies
        assert _read(api_server.url, handler, waits) == [{"id": 1}]
        assert waits == [1.0]
        return
    with pytest.raises(ReadError) as caught:
        _read(api_server.url, handler, waits)
    message = str(caught.value)
    assert "X-Wait" in message and "default ceiling of 600 s" in message
    assert "max_waiting_time_in_seconds" in message and "status 429" in message
    assert waits == []


def test_the_manifest_ceiling_replaces_the_default(api_server: ApiServer) -> None:
    api_server.fail_next("/items", Response(429, {}, {"X-Wait": "30"}))
    api_server.add_collection("/items", [{"id": 1}])
    waits: list[float] = []
    handler = HEADER_WAIT.format(
        strategy="WaitTimeFromHeader", extra=", max_waiting_time_in_seconds: 20"
    )
    with pytest.raises(ReadError, match=r"wait 30 s \(X-Wait: 30\).*of 20 s"):
        _read(api_server.url, handler, waits)


@pytest.mark.parametrize("value", ["nan", "NaN", "soon", ""])
def test_a_wait_header_that_is_no_number_falls_back_to_the_default_backoff(
    api_server: ApiServer, value: str
) -> None:
    api_server.fail_next("/items", Response(429, {}, {"X-Wait": value}))
    api_server.add_collection("/items", [{"id": 1}])
    waits: list[float] = []
    handler = HEADER_WAIT.format(strategy="WaitTimeFromHeader", extra="")
    assert _read(api_server.url, handler, waits) == [{"id": 1}]
    assert waits == [1.0]


@pytest.mark.parametrize("value", ["inf", "1e400", "99999999999", "nan"])
def test_a_reset_time_far_ahead_fails_and_nan_is_ignored(api_server: ApiServer, value: str) -> None:
    api_server.fail_next("/items", Response(429, {}, {"X-Wait": value}))
    api_server.add_collection("/items", [{"id": 1}])
    waits: list[float] = []
    handler = HEADER_WAIT.format(strategy="WaitUntilTimeFromHeader", extra=", min_wait: 2")
    if value == "nan":
        assert _read(api_server.url, handler, waits) == [{"id": 1}]
        assert waits == [2.0]
        return
    with pytest.raises(ReadError, match=r"X-Wait.*default ceiling of 600 s"):
        _read(api_server.url, handler, waits)


def test_a_wait_within_the_ceiling_is_honoured(api_server: ApiServer) -> None:
    soon = datetime.now(timezone.utc) + timedelta(seconds=120)
    api_server.fail_next("/items", Response.rate_limited(soon))
    api_server.add_collection("/items", [{"id": 1}])
    waits: list[float] = []
    handler = HEADER_WAIT.format(strategy="WaitTimeFromHeader", extra="").replace(
        "X-Wait", "Retry-After"
    )
    assert _read(api_server.url, handler, waits) == [{"id": 1}]
    assert len(waits) == 1 and 100 < waits[0] <= 120


@pytest.mark.parametrize("seconds", [".inf", "1e400"])
def test_an_infinite_constant_backoff_is_a_clear_error(api_server: ApiServer, seconds: str) -> None:
    api_server.fail_next("/items", Response(503))
    api_server.add_collection("/items", [{"id": 1}])
    waits: list[float] = []
    handler = f"""
    type: DefaultErrorHandler
    backoff_strategies: [{{type: ConstantBackoffStrategy, backoff_time_in_seconds: {seconds}}}]
    """
    with pytest.raises(Exception, match="backoff_time_in_seconds must be a finite number"):
        _read(api_server.url, handler, waits)
    assert waits == []


# -- deadlines -----------------------------------------------------------------------------

TRICKLED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"a" * 200


@pytest.mark.parametrize(
    "behaviour", [trickle(TRICKLED, every=0.05), endless_body(every=0.05)], ids=["head", "body"]
)
def test_a_trickling_server_is_cut_at_the_deadline(behaviour) -> None:
    with HostileServer(behaviour) as server:
        started = time.monotonic()
        with pytest.raises(ReadError) as caught:
            _read(
                server.url,
                "{type: DefaultErrorHandler, max_retries: 1, backoff_strategies: "
                "[{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0}]}",
                timeout=(1.0, 1.0),
                deadline=1.0,
            )
        elapsed = time.monotonic() - started
    assert "deadline of 1 s" in str(caught.value) and "after 2 attempts" in str(caught.value)
    assert server.connections_served == 2
    assert elapsed < 10  # two attempts of a second each; without the deadline: minutes


def test_the_oauth_token_request_has_the_same_deadline(api_server: ApiServer) -> None:
    with HostileServer(endless_body(every=0.05)) as token_server:
        authenticator = f"""
        type: OAuthAuthenticator
        token_refresh_endpoint: "{token_server.url}/token"
        client_id: id
        client_secret: secret
        refresh_token: r3fr3sh-t0ken
        """
        source = load_source(modern(api_server.url, authenticator=authenticator), {}, deadline=1.0)
        with pytest.raises(ReadError, match="OAuth token refresh failed: Timeout"):
            list(source.read_records("items"))
        source.close()
    assert api_server.requests == []


def test_the_session_token_request_has_the_same_deadline(api_server: ApiServer) -> None:
    with HostileServer(endless_body(every=0.05)) as login_server:
        authenticator = f"""
        type: SessionTokenAuthenticator
        login_requester:
          type: HttpRequester
          url_base: "{login_server.url}"
          path: /login
          http_method: POST
          error_handler: {{type: DefaultErrorHandler, max_retries: 0}}
        session_token_path: [token]
        request_authentication: {{type: SessionTokenRequestBearerAuthenticator}}
        """
        source = load_source(modern(api_server.url, authenticator=authenticator), {}, deadline=1.0)
        with pytest.raises(ReadError, match="deadline of 1 s"):
            list(source.read_records("items"))
        source.close()


# -- response sizes ------------------------------------------------------------------------


def test_an_oversized_token_response_is_refused(api_server: ApiServer) -> None:
    api_server.add_route(
        "POST", "/token", lambda r: Response(200, {"access_token": "t", "pad": "x" * 200_000})
    )
    authenticator = f"""
    type: OAuthAuthenticator
    token_refresh_endpoint: "{api_server.url}/token"
    client_id: id
    client_secret: secret
    refresh_token: r3fr3sh-t0ken
    """
    source = load_source(modern(api_server.url, authenticator=authenticator), {})
    source.client.max_response_bytes = 100_000
    with pytest.raises(ReadError, match="more than the limit of 100,000 bytes"):
        list(source.read_records("items"))
    source.close()


INFLATED = b"[" + b" " * 50_000_000 + b"]"
BOMB = gzip.compress(INFLATED)
BOMBS = {"gzip": BOMB, "deflate": zlib.compress(INFLATED, 9)}


def _fetch(url: str, client: HttpClient) -> object:
    try:
        return client.send(
            requests.Request("GET", url),
            error_handler=DefaultErrorHandler(config={}, max_retries=0),
            decode=lambda response: response.json(),
            stats=RequestStats(),
        ).body
    finally:
        client.close()


@pytest.mark.parametrize("encoding", sorted(BOMBS))
def test_a_content_encoding_bomb_is_cut_at_the_inflated_limit(
    api_server: ApiServer, encoding: str
) -> None:
    bomb = BOMBS[encoding]
    api_server.add_route(
        "GET", "/bomb", lambda r: Response(200, bomb, {"Content-Encoding": encoding})
    )
    assert len(bomb) < 100_000
    with pytest.raises(ReadError, match="more than 1,000,000 bytes"):
        _fetch(api_server.url + "/bomb", HttpClient(max_response_bytes=1_000_000))


# -- redirect bodies -------------------------------------------------------------------------

REDIRECT_BODY = 64 * 1024 * 1024


def test_a_long_redirect_body_is_not_read() -> None:
    """requests reads a redirect's whole body before following it; here every redirect comes
    with 64 MiB of body, and no connection may take all of it (the kernel's buffers hold a few
    MiB at most)."""
    head = f"HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: {REDIRECT_BODY}\r\n\r\n"
    bodies_taken = []

    def behave(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(head.encode())
        connection.sendall(b"x" * REDIRECT_BODY)
        bodies_taken.append(REDIRECT_BODY)

    with (
        HostileServer(behave) as server,
        pytest.raises(ReadError, match="more than 5 redirects"),
    ):
        _fetch(server.url + "/start", HttpClient(deadline=30.0))
    assert server.connections_served == 6 and bodies_taken == []


@pytest.mark.parametrize(("size", "same_connection"), [(1_000, True), (1_000_000, False)])
def test_a_redirect_body_is_skipped_or_costs_its_connection(
    api_server: ApiServer, size: int, same_connection: bool
) -> None:
    api_server.add_route("GET", "/old", lambda r: Response(302, b"x" * size, {"Location": "/new"}))
    api_server.add_route("GET", "/new", lambda r: Response(200, {"data": [1]}))
    assert _fetch(api_server.url + "/old", HttpClient()) == {"data": [1]}
    first, second = api_server.requests
    assert (first.connection == second.connection) is same_connection


@pytest.mark.parametrize("inner", ["JsonDecoder", "JsonlDecoder"])
def test_a_gzip_decoder_bomb_is_cut_at_the_inflated_limit(api_server: ApiServer, inner) -> None:
    api_server.add_route(
        "GET", "/items", lambda r: Response(200, BOMB, {"Content-Type": "application/gzip"})
    )
    manifest = modern(api_server.url, error_handler="{type: DefaultErrorHandler, max_retries: 0}")
    manifest = manifest.replace(
        "record_selector:\n",
        f"decoder: {{type: GzipDecoder, decoder: {{type: {inner}}}}}\n      record_selector:\n",
    )
    source = load_source(manifest, {})
    source.client.max_response_bytes = 1_000_000
    with pytest.raises(ReadError, match="inflates to more than 1,000,000 bytes"):
        list(source.read_records("items"))
    source.close()


# -- the size limit, set by the user ---------------------------------------------------------


def test_the_command_line_and_the_resource_set_the_size_limit(
    api_server: ApiServer, tmp_path: Path
) -> None:
    page = {"data": [{"id": 1, "pad": "x" * (2 << 20)}]}  # a little over 2 MiB
    api_server.add_route("GET", "/items", lambda request: Response(200, page))
    text = modern(api_server.url, error_handler="{type: DefaultErrorHandler, max_retries: 0}")
    manifest, config = tmp_path / "m.yaml", tmp_path / "c.json"
    manifest.write_text(text)
    config.write_text("{}")
    assert engine_cli("read", manifest, config).returncode == 0
    done = engine_cli("read", manifest, config, "--max-response-mib", "2")
    assert done.returncode == 1
    assert "more than the limit of 2,097,152 bytes (--max-response-mib" in done.stdout
    resource = DeclarativeSourceResource(config={}, max_response_mib=1)
    source = resource.open_source(load_manifest(text))
    with pytest.raises(ReadError, match="more than the limit of 1,048,576 bytes"):
        list(source.read_records("items"))
    source.close()
