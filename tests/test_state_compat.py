"""Second syncs across runners: the engine resumes from the reference runner's states, and
writes the states the reference writes (so the reference resumes from the engine's).

``tests/fixtures/reference_states.json`` holds what airbyte-cdk 7 wrote and read for the
connector of ``support/state_scenarios.py`` (recorded by ``python -m bench.reference_states``):
every state shape it writes (a plain cursor; per-partition ``states``, with and without
``parent_state``; the global ``state`` with ``use_global_cursor``; a StateDelegatingStream's;
a 2022-style state migrated to per-partition), for a first read and for a second read days
later that starts from those states. The engine reads the same API here and must reach the
same records, child requests and states; and airbyte-cdk itself (in the test environment), given
the states the engine wrote, must read what it read from its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import state_scenarios as scenario
from support.api_server import ApiServer
from support.reference_cli import reference_read
from support.slicing_manifests import legacy

from engine import load_source

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "reference_states.json").read_text())


def _read(server: ApiServer, end: str, state: Any = None) -> dict[str, Any]:
    server.clear_requests()
    source = load_source(scenario.manifest(), {**scenario.config(end), "url": server.url})
    states: dict[str, Any] = {}
    records: dict[str, list[int]] = {}
    try:
        for message in source.read(scenario.catalog(), state):
            if message["type"] == "STATE":
                stream = message["state"]["stream"]
                states[stream["stream_descriptor"]["name"]] = stream["stream_state"]
            elif message["type"] == "RECORD":
                records.setdefault(message["record"]["stream"], []).append(
                    message["record"]["data"]["id"]
                )
    finally:
        source.close()
    return {
        "states": states,
        "records": {name: sorted(ids) for name, ids in records.items()},
        "child_requests": scenario.child_requests(server.requests),
    }


def _normalized(states: dict[str, Any]) -> dict[str, Any]:
    return {name: scenario.normalized(state) for name, state in states.items()}


def test_a_first_read_writes_the_states_the_reference_writes(api_server: ApiServer) -> None:
    scenario.serve(api_server)
    ours = _read(api_server, scenario.FIRST_END)
    reference = FIXTURE["first_read"]
    assert ours["records"] == reference["records"]
    assert ours["child_requests"] == reference["child_requests"]
    assert _normalized(ours["states"]) == _normalized(reference["states"])
    for name in ("comments", "labels", "reactions", "notes"):
        assert isinstance(ours["states"][name]["lookback_window"], int)


@pytest.mark.parametrize("stream", scenario.STREAMS)
def test_a_second_read_resumes_from_the_reference_states(
    api_server: ApiServer, stream: str
) -> None:
    scenario.serve(api_server, second_round=True)
    expected = FIXTURE["second_read"]
    start = scenario.stream_state_messages(expected["input_states"])
    ours = _read(api_server, scenario.SECOND_END, start)
    assert ours["records"][stream] == expected["records"][stream]
    assert _requests_of(ours, stream) == _requests_of(expected, stream)
    assert scenario.normalized(ours["states"][stream]) == scenario.normalized(
        expected["states"][stream]
    )


def _requests_of(read: dict[str, Any], stream: str) -> list[str]:
    return [line for line in read["child_requests"] if f"/{stream}?" in line]


def test_per_partition_keys_hold_the_parents_partition_not_its_date_window(
    api_server: ApiServer,
) -> None:
    """The second read ends three days later, so every parent window differs: the child's
    partitions must still find their saved cursors."""
    scenario.serve(api_server)
    first = _read(api_server, scenario.FIRST_END)
    partitions = [entry["partition"] for entry in first["states"]["comments"]["states"]]
    assert partitions == [{"issue_id": n, "parent_slice": {}} for n in (1, 2, 3)]
    api_server.reset()
    scenario.serve(api_server, second_round=True)
    second = _read(api_server, scenario.SECOND_END, first["states"])
    since = {
        line.split("?")[0]: line.split("updated_since=")[1].split("&")[0]
        for line in second["child_requests"]
        if "/comments" in line
    }
    # a new issue starts from the global cursor, less the seconds the first read took
    assert "2024-01-04T11:00:00Z" < since.pop("/issues/4/comments") <= "2024-01-04T12:00:00Z"
    assert since == {
        "/issues/1/comments": "2024-01-02T12:00:00Z",
        "/issues/2/comments": "2024-01-03T12:00:00Z",
        "/issues/3/comments": "2024-01-04T12:00:00Z",
    }


def test_2022_substream_of_a_dated_parent_keys_partitions_without_the_window(
    api_server: ApiServer,
) -> None:
    scenario.serve(api_server)
    parent = legacy(api_server.url, "issues", "/issues")["streams"][0]
    window = {
        "type": "DatetimeStreamSlicer",
        "cursor_field": "updated_at",
        "datetime_format": "%Y-%m-%dT%H:%M:%SZ",
        "start_datetime": {"datetime": scenario.START, "datetime_format": "%Y-%m-%dT%H:%M:%SZ"},
        "end_datetime": {
            "datetime": "{{ config['end'] }}",
            "datetime_format": "%Y-%m-%dT%H:%M:%SZ",
        },
        "step": "1d",
        "cursor_granularity": "PT1S",
        "start_time_option": {"inject_into": "request_parameter", "field_name": "updated_since"},
        "end_time_option": {"inject_into": "request_parameter", "field_name": "updated_until"},
    }
    parent["retriever"]["stream_slicer"] = window
    children = {
        "type": "SubstreamSlicer",
        "parent_stream_configs": [
            {"stream": parent, "parent_key": "id", "stream_slice_field": "issue_id"}
        ],
    }
    manifest = legacy(
        api_server.url,
        "comments",
        "/issues/{{ stream_slice.issue_id }}/comments",
        {"type": "CartesianProductStreamSlicer", "stream_slicers": [children, dict(window)]},
    )
    manifest["streams"][0]["$options"]["stream_cursor_field"] = "updated_at"
    states = []
    for end in (scenario.FIRST_END, scenario.SECOND_END):
        stream = load_source(manifest, {"end": end}).stream("comments")
        list(stream.read_records(states[-1] if states else None))
        states.append(stream.cursor.state())
    assert [e["partition"] for e in states[0]["states"]] == [
        {"issue_id": n, "parent_slice": {}} for n in (1, 2, 3)
    ]
    assert states[1]["states"] == states[0]["states"]  # matched again, nothing new to read


@pytest.mark.parametrize(
    ("legacy_state", "migrated"),
    [
        ({"1": {"updated_at": "2024-01-03T00:00:00Z"}}, True),
        ({"1": {"updated_at": "2024-01-03T00:00:00Z", "other": 1}}, False),  # more than the cursor
        ({"1": "2024-01-03T00:00:00Z"}, False),
    ],
)
def test_a_2022_style_state_migrates_only_in_the_references_shape(
    legacy_state: dict, migrated: bool
) -> None:
    source = load_source(scenario.manifest(), {**scenario.config(scenario.FIRST_END), "url": "x"})
    migration = source.stream("notes").state_migrations[0]
    assert migration.should_migrate(legacy_state) is migrated
    if migrated:
        assert migration.migrate(legacy_state) == {
            "states": [{"partition": {"issue_id": "1"}, "cursor": legacy_state["1"]}]
        }


def test_the_reference_resumes_from_the_engines_states(api_server: ApiServer) -> None:
    """The way back: airbyte-cdk 7, given the states the engine's first read wrote (and the
    2022-style state of the migrated stream), reads what it reads from its own states."""
    pytest.importorskip("airbyte_cdk.cli.source_declarative_manifest")
    scenario.serve(api_server)
    ours = _read(api_server, scenario.FIRST_END)
    resume_from = {**ours["states"], "notes": scenario.LEGACY_NOTES_STATE}
    api_server.reset()
    scenario.serve(api_server, second_round=True)
    config = {**scenario.config(scenario.SECOND_END), "url": api_server.url}
    messages = reference_read(
        scenario.manifest(), config, scenario.catalog(), scenario.stream_state_messages(resume_from)
    )
    failures = [
        m["trace"]["error"] for m in messages if m["type"] == "TRACE" and "error" in m["trace"]
    ]
    assert failures == []
    expected = FIXTURE["second_read"]
    records: dict[str, list[int]] = {}
    states: dict[str, Any] = {}
    for message in messages:
        if message["type"] == "RECORD":
            records.setdefault(message["record"]["stream"], []).append(
                message["record"]["data"]["id"]
            )
        elif message["type"] == "STATE":
            stream = message["state"]["stream"]
            states[stream["stream_descriptor"]["name"]] = stream["stream_state"]
    assert {name: sorted(ids) for name, ids in records.items()} == expected["records"]
    assert scenario.child_requests(api_server.requests) == expected["child_requests"]
    assert _normalized(states) == _normalized(expected["states"])
