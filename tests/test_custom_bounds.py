"""A stream airbyte-cdk runs whole (a custom retriever) keeps this engine's bounds: every request
has the total deadline (connect, headers and body) and the response size limit on the body as
read, inflated size included, with the settings the read was given. Its session is airbyte-cdk's
own, so these tests read through it against a hostile local server."""

from __future__ import annotations

import gzip
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
from manifests import modern
from support.api_server import ApiServer, Response
from support.cli import engine_cli
from support.hostile_server import Behaviour, HostileServer, endless_body

from engine import load_source
from engine.custom.streams import guard_sessions
from engine.errors import ReadError
from engine.http.transport import BoundedTransport

pytest.importorskip("airbyte_cdk", reason="needs the airbyte extra")
from airbyte_cdk.sources.declarative.decoders.composite_raw_decoder import (
    CompositeRawDecoder,
    JsonLineParser,
)

COMPONENTS = Path(__file__).parent / "support" / "cdk_components.py"
ONE_TRY = (
    "{type: DefaultErrorHandler, max_retries: 1, backoff_strategies: "
    "[{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0}]}"
)


def _manifest(tmp_path: Path, url: str) -> Path:
    shutil.copy(COMPONENTS, tmp_path / "components.py")
    text = modern(url, error_handler=ONE_TRY).replace(
        "      type: SimpleRetriever",
        "      type: CustomRetriever\n      class_name: components.Retriever",
    )
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(text)
    return manifest


def _read(manifest: Path, **options: object) -> list[dict]:
    source = load_source(manifest, {}, **options)
    try:
        return list(source.streams["items"].read_records(None))
    finally:
        source.close()


def test_a_trickling_body_is_cut_at_the_deadline(tmp_path: Path) -> None:
    with HostileServer(endless_body(every=0.05)) as server:
        started = time.monotonic()
        with pytest.raises(ReadError, match="deadline of 1 s"):
            _read(_manifest(tmp_path, server.url), timeout=(1.0, 1.0), deadline=1.0)
        elapsed = time.monotonic() - started
    assert server.connections_served == 2  # airbyte-cdk's error handler retried once
    assert elapsed < 10  # two attempts of a second each; without the deadline: forever


def _closing(message: bytes) -> Behaviour:
    """Send ``message``, then close: the body ends where the connection does."""

    def behave(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(message)
        connection.shutdown(socket.SHUT_WR)

    return behave


INFLATED = b'{"data": [' + b" " * 20_000_000 + b"]}"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"


BOMB = HEAD + b"Content-Encoding: gzip\r\n\r\n" + gzip.compress(INFLATED)


@pytest.mark.parametrize(
    "message",
    [
        BOMB,
        HEAD
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in [INFLATED[:1_000_000]] * 3)
        + b"0\r\n\r\n",
    ],
    ids=["gzip-bomb", "chunked"],
)
def test_a_body_without_content_length_is_cut_at_the_limit(tmp_path: Path, message) -> None:
    with HostileServer(_closing(message)) as server:
        with pytest.raises(ReadError, match="more than the limit of 1,000,000 bytes"):
            _read(_manifest(tmp_path, server.url), max_response_bytes=1_000_000)
        assert server.connections_served == 1  # a refused size is not retried


def test_a_streamed_response_replays_the_bounded_body(api_server: ApiServer) -> None:
    """airbyte-cdk's raw decoders ask for a stream and read ``response.raw``: they get the body
    read within the bounds (inflated), replayed."""
    lines = b'{"id": 1}\n{"id": 2}\n'
    gzipped = {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
    api_server.add_route("GET", "/items", lambda r: Response(200, gzip.compress(lines), gzipped))
    decoder = CompositeRawDecoder(JsonLineParser())
    for limit, expected in [(100, [{"id": 1}, {"id": 2}]), (10, None)]:
        session, transport = requests.Session(), BoundedTransport(max_response_bytes=limit)
        guard_sessions({"session": session}, transport)
        try:
            if expected is None:
                with pytest.raises(ReadError, match="more than the limit of 10 bytes"):
                    session.get(api_server.url + "/items", stream=True)
            else:
                response = session.get(api_server.url + "/items", stream=True)
                assert decoder.is_stream_response() and list(decoder.decode(response)) == expected
        finally:
            transport.close()
            session.close()


@pytest.mark.parametrize(
    ("behaviour", "option", "expected"),
    [
        (endless_body(every=0.05), "--request-deadline", "deadline of 1 s"),
        (_closing(BOMB), "--max-response-mib", "more than the limit of 1,048,576 bytes"),
    ],
    ids=["deadline", "size"],
)
def test_the_command_line_bounds_reach_the_reference_session(
    tmp_path: Path, behaviour: Behaviour, option: str, expected: str
) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}")
    with HostileServer(behaviour) as server:
        result = engine_cli("read", _manifest(tmp_path, server.url), config, option, "1")
    assert result.returncode == 1 and expected in result.stdout


PARENT_ROUTER = """
version: 6.0.0
type: DeclarativeSource
check: {{type: CheckStream, stream_names: [items]}}
definitions:
  selector: {{type: RecordSelector, extractor: {{type: DpathExtractor, field_path: [data]}}}}
streams:
  - type: DeclarativeStream
    name: items
    schema_loader: {{type: InlineSchemaLoader, schema: {{type: object}}}}
    retriever:
      type: SimpleRetriever
      requester: {{type: HttpRequester, url_base: "{url}", path: /items}}
      record_selector: {{$ref: "#/definitions/selector"}}
      partition_router:
        type: CustomPartitionRouter
        class_name: components.ParentRouter
        parent_stream_configs:
          - type: ParentStreamConfig
            parent_key: id
            partition_field: parent_id
            stream:
              type: DeclarativeStream
              name: parents
              schema_loader: {{type: InlineSchemaLoader, schema: {{type: object}}}}
              retriever:
                type: SimpleRetriever
                requester: {{type: HttpRequester, url_base: "{url}", path: /parents}}
                record_selector: {{$ref: "#/definitions/selector"}}
"""


def test_a_custom_routers_parent_streams_read_within_the_size_limit(
    api_server: ApiServer, tmp_path: Path
) -> None:
    """The parents are airbyte-cdk's own streams, read by the router through airbyte-cdk's
    requesters and sessions: the read's limits reach them too."""
    parent = {"data": [{"id": 1, "note": "x" * 3_000}]}
    api_server.add_route("GET", "/parents", lambda r: Response(200, parent))
    api_server.add_route("GET", "/items", lambda r: Response(200, {"data": [{"id": 2}]}))
    shutil.copy(COMPONENTS, tmp_path / "components.py")
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(PARENT_ROUTER.format(url=api_server.url))
    assert _read(manifest, max_response_bytes=10_000) == [{"id": 2}]
    with pytest.raises(ReadError, match="more than the limit of 2,000 bytes"):
        _read(manifest, max_response_bytes=2_000)
