"""``python -m engine state import|export``: a connection's state moves between Airbyte and here.

The import reads what an Airbyte connection's state export holds (AirbyteStateMessage objects of
type STREAM, GLOBAL or LEGACY, or the platform's own connection-state document); a read with the
state table then continues where the reference runner stopped, and the export gives back the
messages the reference reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import state_scenarios as scenario
from support.api_server import ApiServer

from engine.state.state_command import main as state_main
from engine.state.store import StateStore

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "reference_states.json").read_text())
REFERENCE_STATES = FIXTURE["second_read"]["input_states"]  # the reference's, after a first read


def _write(path: Path, content: Any) -> Path:
    path.write_text(json.dumps(content))
    return path


def _engine(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", *argv], capture_output=True, text=True, timeout=120
    )


def test_a_read_continues_where_the_reference_stopped(
    api_server: ApiServer, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'state.db'}"
    exported = _write(tmp_path / "export.json", scenario.stream_state_messages(REFERENCE_STATES))
    done = _engine("state", "import", "--state-db", db, "--source", "shop", str(exported))
    assert done.returncode == 0, done.stderr
    assert "6 of 6 stream states imported into 'shop'" in done.stdout
    assert "comments: imported (per-partition, 3 partitions)" in done.stdout

    scenario.serve(api_server, second_round=True)
    manifest = _write(tmp_path / "manifest.json", scenario.manifest())
    config = _write(
        tmp_path / "config.json", {**scenario.config(scenario.SECOND_END), "url": api_server.url}
    )
    catalog = _write(tmp_path / "catalog.json", scenario.catalog())
    read = _engine(
        "read", "--manifest", str(manifest), "--config", str(config),
        "--catalog", str(catalog), "--state-db", db, "--connection", "shop",
    )  # fmt: skip
    assert read.returncode == 0, read.stdout[-2000:]
    records: dict[str, list[int]] = {}
    for line in read.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records.setdefault(message["record"]["stream"], []).append(
                message["record"]["data"]["id"]
            )
    expected = FIXTURE["second_read"]
    assert {name: sorted(ids) for name, ids in records.items()} == expected["records"]
    assert scenario.child_requests(api_server.requests) == expected["child_requests"]

    back = _engine("state", "export", "--state-db", db, "--connection", "shop")
    assert back.returncode == 0, back.stderr
    exported_states = {
        m["stream"]["stream_descriptor"]["name"]: m["stream"]["stream_state"]
        for m in json.loads(back.stdout)
    }
    assert {n: scenario.normalized(s) for n, s in exported_states.items()} == {
        n: scenario.normalized(s) for n, s in expected["states"].items()
    }


def _import(tmp_path: Path, content: Any, *extra: str) -> int:
    path = _write(tmp_path / "state.json", content)
    db = f"sqlite:///{tmp_path / 's.db'}"
    return state_main(["import", "--state-db", db, "--source", "shop", *extra, str(path)])


def _stored(tmp_path: Path) -> dict[str, dict]:
    store = StateStore(f"sqlite:///{tmp_path / 's.db'}")
    try:
        return {name: store.load("shop", name) or {} for name in store.stream_names("shop")}
    finally:
        store.dispose()


@pytest.mark.parametrize(
    "document",
    [
        [
            {"type": "GLOBAL", "global": {
                "shared_state": {"cdc": 1},
                "stream_states": [
                    {"stream_descriptor": {"name": "issues"}, "stream_state": {"updated_at": "b"}}
                ],
            }},
            {"type": "LEGACY", "data": {"events": {"updated_at": "e"}}},
        ],
        {"stateType": "global", "globalState": {"streamStates": [
            {"streamDescriptor": {"name": "issues"}, "streamState": {"updated_at": "b"}}
        ]}},
        {"stateType": "legacy", "state": {"issues": {"updated_at": "b"}}},
        [{"type": "STATE", "state": {"type": "STREAM", "stream": {
            "stream_descriptor": {"name": "issues", "namespace": None},
            "stream_state": {"updated_at": "b"},
        }}}],
    ],
    ids=["global-and-legacy-messages", "platform-global", "platform-legacy", "protocol-message"],
)  # fmt: skip
def test_every_export_form_is_read(tmp_path: Path, document: Any) -> None:
    assert _import(tmp_path, document) == 0
    assert _stored(tmp_path)["issues"] == {"updated_at": "b"}


def test_an_older_cursor_does_not_replace_a_newer_one_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newer = scenario.stream_state_messages({"events": {"updated_at": "2024-02-01T00:00:00Z"}})
    older = scenario.stream_state_messages({"events": {"updated_at": "2024-01-01T00:00:00Z"}})
    assert _import(tmp_path, newer) == 0
    assert _import(tmp_path, older) == 1
    assert "events: not imported, the state table holds a later cursor" in capsys.readouterr().out
    assert _stored(tmp_path)["events"] == {"updated_at": "2024-02-01T00:00:00Z"}
    assert _import(tmp_path, older, "--force") == 0
    assert _stored(tmp_path)["events"] == {"updated_at": "2024-01-01T00:00:00Z"}


def test_a_stream_being_synced_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 's.db'}")
    assert store.acquire_lease("shop", "events", "", "run-42", ttl_seconds=60)
    store.dispose()
    state = scenario.stream_state_messages({"events": {"updated_at": "2024-01-01T00:00:00Z"}})
    assert _import(tmp_path, state) == 1
    assert "events: not imported, run-42 is syncing it" in capsys.readouterr().out
    assert "events" not in _stored(tmp_path)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([{"type": "SOMETHING"}], "state.json[0]: unknown state message type 'SOMETHING'"),
        ([{"type": "STREAM", "stream": {"stream_descriptor": {}}}], "without a name"),
        (scenario.stream_state_messages({"a": {}}) * 2, "stream 'a' has two states"),
        ([["not", "an", "object"]], "expected a state message"),
    ],
)
def test_a_bad_export_is_refused_with_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: Any, message: str
) -> None:
    assert _import(tmp_path, document) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s.db").exists() or _stored(tmp_path) == {}


def test_export_names_a_connection_without_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = state_main(["export", "--state-db", f"sqlite:///{tmp_path / 's.db'}", "--source", "x"])
    assert code == 1
    assert "no stream state for connection 'x'" in capsys.readouterr().err


def test_with_the_manifest_the_default_connection_and_exact_cursor_order_are_used(
    api_server: ApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.__main__ import run

    db = f"sqlite:///{tmp_path / 's.db'}"
    manifest = _write(tmp_path / "shop.json", scenario.manifest())
    config = _write(
        tmp_path / "config.json", {**scenario.config(scenario.SECOND_END), "url": api_server.url}
    )
    states = scenario.stream_state_messages({"events": {"updated_at": "2024-01-04T08:00:00Z"}})
    path = _write(tmp_path / "state.json", states)
    with_manifest = ["--state-db", db, "--manifest", str(manifest), "--config", str(config)]
    assert state_main(["import", *with_manifest, str(path)]) == 0
    older = scenario.stream_state_messages({"events": {"updated_at": "2024-01-03T00:00:00Z"}})
    assert state_main(["import", *with_manifest, str(_write(path, older))]) == 1
    assert "holds a later cursor" in capsys.readouterr().out

    scenario.serve(api_server, second_round=True)
    catalog = _write(tmp_path / "catalog.json", {"streams": [scenario.catalog()["streams"][4]]})
    argv = ["read", "--manifest", str(manifest), "--config", str(config), "--catalog", str(catalog)]
    messages = list(run([*argv, "--state-db", db]))
    assert [m for m in messages if m["type"] == "TRACE"] == []
    assert [r.path + "?" + r.query["updated_since"][0] for r in api_server.requests] == [
        "/events/changes?2024-01-04T08:00:00Z"  # the change feed, from the imported cursor
    ]
