"""Transport safety: TLS verified by default, redirects and response sizes bounded, custom code
imported only from modules the user names."""

from __future__ import annotations

import socket
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from manifests import modern
from support.api_server import ApiServer, Response

from engine import load_source
from engine.errors import ReadError, UnsupportedComponentError
from engine.http.client import HttpClient, RequestStats
from engine.http.error_handling import DefaultErrorHandler
from engine.http.timeouts import DEFAULT_TIMEOUT
from engine.http.transport import MAX_REDIRECTS

RECORDS = [{"id": i} for i in range(3)]


def _source(url: str, path: str = "/items", **options: object):
    return load_source(modern(url, path), {"token": "t"}, **options)


def _send(client: HttpClient, url: str) -> object:
    return client.send(
        requests.Request("GET", url),
        error_handler=DefaultErrorHandler(config={}, max_retries=0),
        decode=lambda response: response.json(),
        stats=RequestStats(),
    )


def test_tls_verification_and_a_finite_timeout_are_the_defaults(api_server: ApiServer) -> None:
    source = _source(api_server.url)
    assert source.client.session.verify is True
    assert source.client.timeout == DEFAULT_TIMEOUT
    assert all(0 < part < float("inf") for part in DEFAULT_TIMEOUT)
    assert HttpClient().session.verify is True
    source.close()


def test_a_source_used_as_a_context_closes_its_connections(api_server: ApiServer) -> None:
    api_server.add_collection("/items", RECORDS)
    with _source(api_server.url) as source:
        assert list(source.read_records("items")) == RECORDS
        pools = source.client.session.get_adapter(api_server.url).poolmanager.pools
        assert len(pools) == 1
    assert len(pools) == 0


def test_timeout_is_configurable(api_server: ApiServer) -> None:
    source = _source(api_server.url, timeout=(1.0, 2.0))
    assert source.client.timeout == (1.0, 2.0)
    source.close()


def test_a_redirect_loop_fails_after_the_bound(api_server: ApiServer) -> None:
    api_server.add_route("GET", "/items", lambda r: Response(302, headers={"Location": "/items"}))
    source = _source(api_server.url)
    with pytest.raises(ReadError, match=f"more than {MAX_REDIRECTS} redirects") as caught:
        list(source.read_records("items"))
    assert "/items" in str(caught.value)
    assert len(api_server.requests) == MAX_REDIRECTS + 1
    source.close()


def test_a_short_redirect_chain_is_followed(api_server: ApiServer) -> None:
    api_server.add_route("GET", "/old", lambda r: Response(301, headers={"Location": "/items"}))
    api_server.add_collection("/items", RECORDS)
    source = _source(api_server.url, "/old")
    assert list(source.read_records("items")) == RECORDS
    source.close()


def test_a_body_larger_than_its_content_length_allows_is_refused_unread(
    api_server: ApiServer,
) -> None:
    api_server.add_route("GET", "/big", lambda r: Response(200, b"x" * 300_000))
    client = HttpClient(max_response_bytes=100_000)
    with pytest.raises(ReadError, match=r"300,000 bytes .Content-Length.") as caught:
        _send(client, api_server.url + "/big")
    assert "more than the limit of 100,000 bytes" in str(caught.value)
    client.close()


@pytest.fixture
def endless_server() -> Iterator[str]:
    """A server that answers 200 without Content-Length and sends bytes until the client leaves:
    a client that reads the whole body before checking its size never returns."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[")
            chunk = b"0," * 32768
            while not stop.is_set():
                try:
                    connection.sendall(chunk)
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/endless"
    stop.set()
    listener.close()
    thread.join(timeout=5)


def test_an_endless_body_is_cut_at_the_limit(endless_server: str) -> None:
    client = HttpClient(max_response_bytes=1_000_000)
    with pytest.raises(ReadError, match="more than 1,000,000 bytes") as caught:
        _send(client, endless_server)
    assert caught.value.status == 200
    client.close()


def test_bodies_within_the_limit_are_read_and_counted(api_server: ApiServer) -> None:
    api_server.add_route("GET", "/ok", lambda r: Response(200, {"data": RECORDS}))
    client = HttpClient(max_response_bytes=10_000)
    stats = RequestStats()
    page = client.send(
        requests.Request("GET", api_server.url + "/ok"),
        error_handler=DefaultErrorHandler(config={}),
        decode=lambda response: response.json(),
        stats=stats,
    )
    assert page.body == {"data": RECORDS}
    assert stats.bytes == len(page.response.content) > 0
    client.close()


CUSTOM_MODULE = textwrap.dedent("""
    IMPORTED = True

    class Extractor:
        def __init__(self, config=None, parameters=None):
            self.config = config

        def extract_records(self, response):
            return []
""")


def _custom_manifest(url: str, class_name: str) -> str:
    return modern(url).replace(
        "extractor: {type: DpathExtractor, field_path: [data]}",
        f"extractor: {{type: CustomRecordExtractor, class_name: {class_name}}}",
    )


@pytest.fixture
def custom_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = "dd_custom_components_probe"
    (tmp_path / f"{name}.py").write_text(CUSTOM_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


@pytest.mark.parametrize(
    ("class_name", "allowed"),
    [
        ("dd_custom_components_probe.Extractor", ()),
        ("dd_custom_components_probe.Extractor", ("dd_custom",)),
        ("dd_custom_components_probe.Extractor", ("dd_custom_components",)),
        ("os.system", ("dd_custom_components_probe",)),
        ("subprocess.Popen", ()),
        ("Extractor", ("dd_custom_components_probe",)),
    ],
)
def test_custom_classes_outside_the_named_modules_are_never_imported(
    api_server: ApiServer, custom_module: str, class_name: str, allowed: tuple[str, ...]
) -> None:
    manifest = _custom_manifest(api_server.url, class_name)
    source = load_source(manifest, {"token": "t"}, custom_component_modules=allowed)
    with pytest.raises(UnsupportedComponentError, match="not in a module you allowed"):
        source.streams  # noqa: B018 - building the streams is what imports custom classes
    assert custom_module not in sys.modules


def test_custom_classes_from_a_named_module_are_imported(
    api_server: ApiServer, custom_module: str
) -> None:
    manifest = _custom_manifest(api_server.url, f"{custom_module}.Extractor")
    source = load_source(manifest, {"token": "t"}, custom_component_modules=[custom_module])
    assert "items" in source.streams
    assert sys.modules[custom_module].IMPORTED
