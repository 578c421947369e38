"""A parent stream's pages are fetched once per check or read, however many streams need them.

The API counts requests; a read of a parent and two children (or a check of a parent and a
child) must ask for each parent page once, in both dialects. The kept responses live on disk for
that check or read only, in a file no path leads to.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections import Counter
from pathlib import Path

import pytest
import requests
from support.api_server import ApiServer, Pagination
from support.slicing_manifests import legacy, legacy_offset_paginator, modern, modern_stream

from engine import load_source
from engine.http.response_cache import ResponseCache

PROJECTS = [{"id": n} for n in range(1, 6)]


def _serve(server: ApiServer, projects: list[dict] = PROJECTS) -> None:
    server.add_collection("/projects", projects, pagination=Pagination("offset", page_size=2))
    for child in ("events", "members"):
        server.add_collection(
            f"/projects/{{id}}/{child}", {p["id"]: [{"id": p["id"] * 10}] for p in PROJECTS}
        )


PAGES = {
    "type": "DefaultPaginator",
    "pagination_strategy": {"type": "OffsetIncrement", "page_size": 2},
    "page_token_option": {
        "type": "RequestOption",
        "inject_into": "request_parameter",
        "field_name": "offset",
    },
    "page_size_option": {
        "type": "RequestOption",
        "inject_into": "request_parameter",
        "field_name": "limit",
    },
}


def _modern_manifest(url: str) -> dict:
    projects = modern_stream(url, "projects", "/projects")
    projects["retriever"]["paginator"] = PAGES

    def child(name: str) -> dict:
        router = {
            "type": "SubstreamPartitionRouter",
            "parent_stream_configs": [
                {
                    "type": "ParentStreamConfig",
                    "stream": projects,
                    "parent_key": "id",
                    "partition_field": "project_id",
                }
            ],
        }
        path = f"/projects/{{{{ stream_partition.project_id }}}}/{name}"
        return modern_stream(url, name, path, router=router)

    return modern(projects, child("events"), child("members"))


def _legacy_manifest(url: str) -> dict:
    projects = legacy(url, "projects", "/projects")["streams"][0]
    projects["retriever"]["paginator"] = legacy_offset_paginator(url, 2)

    def child(name: str) -> dict:
        slicer = {
            "type": "SubstreamSlicer",
            "parent_stream_configs": [
                {"stream": projects, "parent_key": "id", "stream_slice_field": "project_id"}
            ],
        }
        path = f"/projects/{{{{ stream_slice.project_id }}}}/{name}"
        return legacy(url, name, path, slicer)["streams"][0]

    manifest = legacy(url, "projects", "/projects")
    manifest["streams"] = [projects, child("events"), child("members")]
    manifest["check"] = {"stream_names": ["projects", "events"]}
    return manifest


MANIFESTS = {"modern": _modern_manifest, "legacy": _legacy_manifest}


def _parent_requests(server: ApiServer) -> Counter[str]:
    return Counter(r.param("offset") or "0" for r in server.requests if r.path == "/projects")


@pytest.mark.parametrize("dialect", list(MANIFESTS))
def test_a_read_of_a_parent_and_two_children_fetches_each_parent_page_once(
    api_server: ApiServer, dialect: str
) -> None:
    _serve(api_server)
    source = load_source(MANIFESTS[dialect](api_server.url), {})
    try:
        records = [m["record"] for m in source.read() if m["type"] == "RECORD"]
    finally:
        source.close()
    assert Counter(r["stream"] for r in records) == {"projects": 5, "events": 5, "members": 5}
    assert _parent_requests(api_server) == {"0": 1, "2": 1, "4": 1}
    assert source.client.response_cache is None  # dropped when the read ended


@pytest.mark.parametrize("dialect", list(MANIFESTS))
def test_a_check_of_a_parent_and_a_child_fetches_the_first_page_once(
    api_server: ApiServer, dialect: str
) -> None:
    _serve(api_server)
    manifest = MANIFESTS[dialect](api_server.url)
    manifest["check"]["stream_names"] = ["projects", "events", "members"]
    source = load_source(manifest, {})
    assert source.check() == (True, None)
    source.close()
    assert _parent_requests(api_server) == {"0": 1}


SECRET = "SENTINEL-parent-cache-key"


def _open_files() -> dict[str, bytes]:
    """Every regular file this process holds open (deleted ones too), by link, with its bytes."""
    files = {}
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            if stat.S_ISREG(fd.stat().st_mode):
                files[os.readlink(fd)] = fd.read_bytes()
    return files


def test_kept_responses_are_nowhere_on_disk_and_hold_no_secret(api_server: ApiServer) -> None:
    """The parent's requests carry an API key in their query; the kept responses live in a file
    no path leads to, holding neither the key nor the URLs, and gone after each read. (SQLite
    keeps a small database in memory: the pages are large enough to need the file.)"""
    _serve(api_server, [{**project, "pad": "x" * 1_000_000} for project in PROJECTS])
    manifest = _modern_manifest(api_server.url)
    manifest["streams"][0]["retriever"]["requester"]["request_parameters"] = {
        "api_key": "{{ config['api_key'] }}"
    }
    source = load_source(manifest, {"api_key": SECRET})
    before = set(_open_files())
    kept_files = []
    for _ in range(2):
        for message in source.read():
            if message["type"] == "RECORD" and message["record"]["stream"] == "members":
                kept_files.append({k: v for k, v in _open_files().items() if k not in before})
        assert set(_open_files()) <= before  # closed after the read
    source.close()
    assert _parent_requests(api_server) == {"0": 2, "2": 2, "4": 2}  # once per read
    assert all(request.param("api_key") == SECRET for request in api_server.requests[:1])
    kept = {name: data for files in kept_files for name, data in files.items()}
    assert len(kept) == 2  # a file per read
    for name, data in kept.items():
        assert name.endswith("(deleted)") and b"x" * 1000 in data  # the parent's pages
        assert SECRET.encode() not in data and b"/projects" not in data


def test_a_read_of_one_child_keeps_no_responses(api_server: ApiServer) -> None:
    _serve(api_server)
    source = load_source(_modern_manifest(api_server.url), {})
    catalog = {"streams": [{"stream": {"name": "events"}, "sync_mode": "full_refresh"}]}
    caches = {id(source.client.response_cache) for _ in source.read(catalog)}
    source.close()
    assert caches == {id(None)}
    assert _parent_requests(api_server) == {"0": 1, "2": 1, "4": 1}


def test_the_store_stops_growing_at_its_bound(api_server: ApiServer) -> None:
    _serve(api_server)
    with requests.Session() as session:
        pages = [
            session.prepare_request(
                requests.Request("GET", f"{api_server.url}/projects", params={"offset": offset})
            )
            for offset in ("0", "2")
        ]
        responses = [session.send(page) for page in pages]
    cache = ResponseCache(max_bytes=len(responses[0].content) + 10)
    for page, response in zip(pages, responses, strict=True):
        cache.put(page, response)
    kept = cache.get(pages[0])
    assert kept is not None and kept.json()["data"] == PROJECTS[:2]
    assert kept.headers["Content-Type"] == responses[0].headers["Content-Type"]
    assert cache.get(pages[1]) is None  # past the bound: not stored, sent again when asked
    cache.close()


def test_a_parent_with_use_cache_false_is_fetched_again(api_server: ApiServer) -> None:
    """The reference's escape hatch for APIs whose pages must not be replayed (scrolling)."""
    _serve(api_server)
    manifest = _modern_manifest(api_server.url)
    manifest["streams"][0]["retriever"]["requester"]["use_cache"] = False
    for child in manifest["streams"][1:]:
        parent = child["retriever"]["partition_router"]["parent_stream_configs"][0]["stream"]
        parent["retriever"]["requester"]["use_cache"] = False
    source = load_source(manifest, {})
    try:
        assert sum(m["type"] == "RECORD" for m in source.read()) == 15
    finally:
        source.close()
    assert _parent_requests(api_server) == {"0": 3, "2": 3, "4": 3}
