"""The command line's state table: keyed by connection, leased like Dagster runs, forward only.

Two accounts of one manifest (the account id is in the request path) keep their own cursors; a
connection name reused with another account's config is refused; rows an earlier release keyed
by the manifest's name are taken over by one connection only; a stream another holder is reading
is left out and named; a stored cursor never moves back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support.api_server import ApiServer, DateFilter
from support.cli import engine_cli
from support.slicing_manifests import date_cursor, modern, modern_stream

from engine import load_manifest
from engine.__main__ import run
from engine.state.connections import (
    ConnectionMismatch,
    account_digest,
    default_connection_name,
    identifying_config,
)
from engine.state.leases import LeasesHeld
from engine.state.store import StateStore

CATALOG = {
    "streams": [
        {"stream": {"name": name}, "sync_mode": "incremental", "destination_sync_mode": "append"}
        for name in ("events", "notes")
    ]
}


def _records(account: str, days: int) -> list[dict]:
    return [
        {"id": f"{account}-{day}", "updated_at": f"2024-01-{day:02d}T10:00:00Z"}
        for day in range(1, days + 1)
    ]


@pytest.fixture
def workdir(api_server: ApiServer, tmp_path: Path) -> Path:
    for account, days in (("a1", 5), ("a2", 3)):
        for stream in ("events", "notes"):
            api_server.add_collection(
                f"/accounts/{account}/{stream}",
                _records(account, days),
                date_filter=DateFilter("updated_at"),
            )
    cursor = date_cursor(
        "{{ config['start_date'] }}", "2024-01-05T23:59:59Z", step="P1D", cursor_granularity="PT1S"
    )
    streams = [
        modern_stream(
            api_server.url,
            name,
            f"/accounts/{{{{ config['account_id'] }}}}/{name}",
            incremental=cursor,
            retries=False,
        )
        for name in ("events", "notes")
    ]
    manifest = modern(*streams)
    manifest["spec"] = {
        "connection_specification": {
            "type": "object",
            "properties": {
                "account_id": {"type": "string"},
                "start_date": {"type": "string"},
                "api_key": {"type": "string", "airbyte_secret": True},
            },
        }
    }
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(manifest))
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    return tmp_path


def _config(workdir: Path, account: str, start: str = "2024-01-01T00:00:00Z") -> Path:
    path = workdir / f"config-{account}.json"
    path.write_text(json.dumps({"account_id": account, "start_date": start, "api_key": "k-123"}))
    return path


def _read(workdir: Path, account: str, *extra: str) -> list[dict]:
    return list(
        run(
            [
                "read",
                f"--manifest={workdir / 'shop.yaml'}",
                f"--config={_config(workdir, account)}",
                f"--catalog={workdir / 'catalog.json'}",
                f"--state-db=sqlite:///{workdir / 'state.db'}",
                *extra,
            ]
        )
    )


def _ids(messages: list[dict], stream: str = "events") -> list[str]:
    return [
        m["record"]["data"]["id"]
        for m in messages
        if m["type"] == "RECORD" and m["record"]["stream"] == stream
    ]


def _store(workdir: Path) -> StateStore:
    return StateStore(f"sqlite:///{workdir / 'state.db'}")


def test_the_connection_digest_uses_request_config_only_never_secrets_or_bounds(
    workdir: Path,
) -> None:
    manifest = load_manifest(workdir / "shop.yaml")
    config = {"account_id": "a1", "start_date": "2024-01-01T00:00:00Z", "api_key": "k-123"}
    assert identifying_config(manifest, config) == {"account_id": "a1"}
    later = {**config, "start_date": "2024-01-03T00:00:00Z", "api_key": "other"}
    assert account_digest(manifest, later) == account_digest(manifest, config)
    assert account_digest(manifest, {**config, "account_id": "a2"}) != account_digest(
        manifest, config
    )
    assert default_connection_name("shop", manifest, config).startswith("shop-")


def test_two_accounts_of_one_manifest_keep_their_own_state(workdir: Path) -> None:
    assert _ids(_read(workdir, "a1")) == [f"a1-{d}" for d in range(1, 6)]
    first_a2 = _read(workdir, "a2")
    assert _ids(first_a2) == ["a2-1", "a2-2", "a2-3"]  # not resumed from a1's cursor
    again = _read(workdir, "a1")
    assert _ids(again) == ["a1-5"]  # resumed at a1's own cursor (inclusive)
    store = _store(workdir)
    try:
        manifest = load_manifest(workdir / "shop.yaml")
        for account, last in (("a1", 5), ("a2", 3)):
            config = json.loads(_config(workdir, account).read_text())
            name = default_connection_name("shop", manifest, config)
            assert store.load(name, "events") == {"updated_at": f"2024-01-0{last}T10:00:00Z"}
        assert "k-123" not in json.dumps([store.load_all(s, "events") for s in ("shop",)])
    finally:
        store.dispose()


def test_a_named_connection_refuses_another_accounts_config(workdir: Path) -> None:
    _read(workdir, "a1", "--connection=main")
    with pytest.raises(ConnectionMismatch, match="'main' was written for another account"):
        _read(workdir, "a2", "--connection=main")
    result = engine_cli(
        "read",
        workdir / "shop.yaml",
        _config(workdir, "a2"),
        f"--catalog={workdir / 'catalog.json'}",
        f"--state-db=sqlite:///{workdir / 'state.db'}",
        "--connection=main",
    )
    assert result.returncode == 1
    assert "another account" in result.stdout
    assert "k-123" not in result.stdout


def test_rows_keyed_by_the_manifest_name_are_taken_over_by_one_connection(workdir: Path) -> None:
    store = _store(workdir)
    try:
        store.save("shop", "events", "", {"updated_at": "2024-01-04T10:00:00Z"})
    finally:
        store.dispose()
    first = _read(workdir, "a1")
    assert _ids(first) == ["a1-4", "a1-5"]
    assert any("now belongs to connection 'shop-" in m["log"]["message"] for m in _logs(first))
    assert _ids(_read(workdir, "a2")) == ["a2-1", "a2-2", "a2-3"]  # not inherited twice


def _logs(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["type"] == "LOG"]


def test_a_stream_another_holder_reads_is_left_out_and_named(workdir: Path) -> None:
    manifest = load_manifest(workdir / "shop.yaml")
    config = json.loads(_config(workdir, "a1").read_text())
    name = default_connection_name("shop", manifest, config)
    store = _store(workdir)
    try:
        assert store.acquire_leases(name, "notes", [""], "dagster-run-7", 60) == []
        messages: list[dict] = []
        with pytest.raises(LeasesHeld, match=r"notes \(held by dagster-run-7\)"):
            for message in run(
                [
                    "read",
                    f"--manifest={workdir / 'shop.yaml'}",
                    f"--config={_config(workdir, 'a1')}",
                    f"--catalog={workdir / 'catalog.json'}",
                    f"--state-db=sqlite:///{workdir / 'state.db'}",
                ]
            ):
                messages.append(message)
        assert len(_ids(messages, "events")) == 5
        assert _ids(messages, "notes") == []
        assert store.load(name, "notes") is None
        assert store.lease_owner(name, "events", "") is None  # released when the read ended
    finally:
        store.dispose()


def test_a_stored_cursor_never_moves_back(workdir: Path) -> None:
    manifest = load_manifest(workdir / "shop.yaml")
    name = default_connection_name("shop", manifest, json.loads(_config(workdir, "a1").read_text()))
    _read(workdir, "a1")
    store = _store(workdir)
    try:
        # Another reader got further meanwhile (a later cursor than this read will reach).
        later = {"updated_at": "2024-01-09T00:00:00Z"}
        store.save(name, "events", "", later, cursor_key="2024-01-09T00:00:00.000000Z")
        messages = list(
            run(
                [
                    "read",
                    f"--manifest={workdir / 'shop.yaml'}",
                    f"--config={_config(workdir, 'a1')}",
                    f"--catalog={workdir / 'catalog.json'}",
                    f"--state-db=sqlite:///{workdir / 'state.db'}",
                    f"--state={_stale_state(workdir)}",
                ]
            )
        )
        assert any("not saved" in m["log"]["message"] for m in _logs(messages))
        assert store.load(name, "events") == later
    finally:
        store.dispose()


def _stale_state(workdir: Path) -> Path:
    """A --state file from long ago: the read starts early and ends before the stored cursor."""
    path = workdir / "old-state.json"
    path.write_text(json.dumps({"events": {"updated_at": "2024-01-02T10:00:00Z"}}))
    return path


def test_a_killed_read_on_this_machine_does_not_block_the_next_one(workdir: Path) -> None:
    import socket
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    manifest = load_manifest(workdir / "shop.yaml")
    name = default_connection_name("shop", manifest, json.loads(_config(workdir, "a1").read_text()))
    store = _store(workdir)
    try:
        owner = f"cli:{socket.gethostname()}:{dead.pid}:0000"
        assert store.acquire_leases(name, "events", [""], owner, 60) == []
        assert store.acquire_leases(name, "notes", [""], "cli:elsewhere:1:0000", 60) == []
        with pytest.raises(LeasesHeld, match="notes") as held:
            _read(workdir, "a1")
        assert "events" not in str(held.value)
        assert store.load(name, "events") is not None
    finally:
        store.dispose()
