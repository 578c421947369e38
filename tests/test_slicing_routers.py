"""List, parent, cartesian and grouped partitions, and per-partition cursor state."""

from __future__ import annotations

from typing import Any

from support.api_server import ApiServer, DateFilter, Response
from support.slicing_manifests import date_cursor, legacy, modern, modern_stream

from engine import load_source

INCREMENTAL = {"streams": [{"stream": {"name": "events"}, "sync_mode": "incremental"}]}


def _param(name: str) -> dict[str, Any]:
    return {"type": "RequestOption", "inject_into": "request_parameter", "field_name": name}


def _list_router(values: Any, field: str = "repo", option: str | None = "repo") -> dict[str, Any]:
    router: dict[str, Any] = {
        "type": "ListPartitionRouter",
        "values": values,
        "cursor_field": field,
    }
    if option:
        router["request_option"] = _param(option)
    return router


def _echo(api_server: ApiServer, path: str = "/items") -> None:
    """A route answering one record that echoes the query parameters it was sent."""
    api_server.add_route(
        "GET",
        path,
        lambda request: Response(
            200, {"data": [{"id": 1, **{k: v[0] for k, v in request.query.items()}}]}
        ),
    )


def test_list_partitions_from_manifest_and_config(api_server: ApiServer) -> None:
    _echo(api_server)
    stream = modern_stream(
        api_server.url, "items", "/items", router=_list_router("{{ config['repos'] }}")
    )
    source = load_source(modern(stream), {"repos": ["a", "b", "c"]})
    assert source.stream("items").slices() == [{"repo": "a"}, {"repo": "b"}, {"repo": "c"}]
    assert [r["repo"] for r in source.read_records("items")] == ["a", "b", "c"]
    listed = modern_stream(api_server.url, "items", "/items", router=_list_router(["x", "y"]))
    assert [r["repo"] for r in load_source(modern(listed), {}).read_records("items")] == ["x", "y"]


def test_2022_list_slicer_with_values_interpolated_from_config(api_server: ApiServer) -> None:
    _echo(api_server)
    slicer = {
        "type": "ListStreamSlicer",
        "slice_values": "{{ config['repos'] }}",
        "cursor_field": "repository",
        "request_option": {"inject_into": "request_parameter", "field_name": "repo"},
    }
    source = load_source(legacy(api_server.url, "items", "/items", slicer), {"repos": ["p", "q"]})
    assert [r["repo"] for r in source.read_records("items")] == ["p", "q"]


def _projects_manifest(url: str, **parent_config: Any) -> dict[str, Any]:
    parent = modern_stream(url, "projects", "/projects")
    config = {
        "type": "ParentStreamConfig",
        "stream": parent,
        "parent_key": "meta/project_id",
        "partition_field": "project_id",
        **parent_config,
    }
    child = modern_stream(
        url,
        "events",
        "/projects/{{ stream_partition.project_id }}/events",
        router={"type": "SubstreamPartitionRouter", "parent_stream_configs": [config]},
    )
    return modern(child, parent)


def test_parent_partitions_with_nested_key_request_option_and_extra_fields(
    api_server: ApiServer,
) -> None:
    api_server.add_collection(
        "/projects",
        [
            {"id": 1, "meta": {"project_id": 7}, "name": "seven"},
            {"id": 2, "name": "no key: skipped"},
            {"id": 3, "meta": {"project_id": 9}, "name": "nine"},
        ],
    )
    api_server.add_route(
        "GET",
        "/projects/{id}/events",
        lambda request: Response(
            200, {"data": [{"id": request.path_params["id"], "p": request.param("project")}]}
        ),
    )
    manifest = _projects_manifest(
        api_server.url, request_option=_param("project"), extra_fields=[["name"]]
    )
    manifest["streams"][0]["retriever"]["requester"]["request_parameters"] = {
        "label": "{{ stream_slice.extra_fields['name'] }}"
    }
    source = load_source(manifest, {})
    stream = source.stream("events")
    assert stream.parent_streams == ["projects"]
    assert stream.slices() == [
        {"project_id": 7, "parent_slice": {}, "extra_fields": {"name": "seven"}},
        {"project_id": 9, "parent_slice": {}, "extra_fields": {"name": "nine"}},
    ]
    assert list(source.read_records("events")) == [{"id": "7", "p": "7"}, {"id": "9", "p": "9"}]
    labels = [r.param("label") for r in api_server.requests if r.path.endswith("/events")]
    assert labels == ["seven", "nine"]


def test_2022_substream_slicer_injects_the_slice_field_name(api_server: ApiServer) -> None:
    api_server.add_collection("/projects", [{"id": 4}, {"id": 5}])
    _echo(api_server, "/events")
    manifest = legacy(
        api_server.url,
        "events",
        "/events",
        {
            "type": "SubstreamSlicer",
            "parent_stream_configs": [
                {
                    "stream": legacy(api_server.url, "projects", "/projects")["streams"][0],
                    "parent_key": "id",
                    "stream_slice_field": "project_id",
                    "request_option": {"inject_into": "request_parameter", "field_name": "ignored"},
                }
            ],
        },
    )
    source = load_source(manifest, {})
    assert [r.get("project_id") for r in source.read_records("events")] == ["4", "5"]


def test_cartesian_product_of_routers_first_is_outer(api_server: ApiServer) -> None:
    _echo(api_server)
    router = [_list_router(["a", "b"]), _list_router([1, 2], field="page_kind", option="kind")]
    source = load_source(
        modern(modern_stream(api_server.url, "items", "/items", router=router)), {}
    )
    assert source.stream("items").slices() == [
        {"repo": "a", "page_kind": 1},
        {"repo": "a", "page_kind": 2},
        {"repo": "b", "page_kind": 1},
        {"repo": "b", "page_kind": 2},
    ]
    assert [(r["repo"], r["kind"]) for r in source.read_records("items")] == [
        ("a", "1"),
        ("a", "2"),
        ("b", "1"),
        ("b", "2"),
    ]


def test_grouping_router_batches_and_deduplicates() -> None:
    router = {
        "type": "GroupingPartitionRouter",
        "group_size": 2,
        "underlying_partition_router": _list_router(["a", "b", "a", "c"]),
    }
    source = load_source(
        modern(modern_stream("http://127.0.0.1:9", "items", "/x", router=router)), {}
    )
    assert source.stream("items").slices() == [{"repo": ["a", "b"]}, {"repo": ["c"]}]


def test_union_router_reads_each_value_once_the_rest_as_extra_fields(
    api_server: ApiServer,
) -> None:
    api_server.add_collection("/orgs", [{"id": 1, "login": "b"}, {"id": 2, "login": "c"}])
    api_server.add_route(
        "GET",
        "/orgs/{org}/repos",
        lambda request: Response(200, {"data": [{"id": 1, "org": request.path_params["org"]}]}),
    )
    parents = {
        "type": "SubstreamPartitionRouter",
        "parent_stream_configs": [
            {
                "type": "ParentStreamConfig",
                "stream": modern_stream(api_server.url, "orgs", "/orgs"),
                "parent_key": "login",
                "partition_field": "org",
            }
        ],
    }
    router = {
        "type": "UnionPartitionRouter",
        "partition_field": "org",
        "partition_routers": [_list_router(["a", "b"], field="org", option="org"), parents],
    }
    stream = modern_stream(
        api_server.url, "repos", "/orgs/{{ stream_partition.org }}/repos", router=router
    )
    source = load_source(modern(stream, modern_stream(api_server.url, "orgs", "/orgs")), {})
    # As airbyte-cdk 7: 'b' from the list wins over the parent's; a child's other keys (its
    # parent slice) become extra fields; the children's request options are not sent.
    assert source.stream("repos").slices() == [
        {"org": "a"},
        {"org": "b"},
        {"org": "c", "extra_fields": {"parent_slice": {}}},
    ]
    assert [r["org"] for r in source.read_records("repos")] == ["a", "b", "c"]
    sent = [r for r in api_server.requests if r.path.endswith("/repos")]
    assert all(r.param("org") is None for r in sent)


def test_a_legacy_state_of_a_union_routed_stream_migrates_by_its_partition_field() -> None:
    router = {
        "type": "UnionPartitionRouter",
        "partition_field": "org",
        "partition_routers": [_list_router(["a"], field="org"), _list_router(["b"], field="org")],
    }
    stream = modern_stream(
        "http://127.0.0.1:9",
        "repos",
        "/repos",
        router=router,
        incremental=date_cursor("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
    )
    stream["state_migrations"] = [{"type": "LegacyToPerPartitionStateMigration"}]
    source = load_source(modern(stream), {})
    (migration,) = source.stream("repos").state_migrations
    legacy_state = {"a": {"updated_at": "2024-01-01T12:00:00Z"}}
    assert migration.should_migrate(legacy_state)
    assert migration.migrate(legacy_state) == {
        "states": [{"partition": {"org": "a"}, "cursor": {"updated_at": "2024-01-01T12:00:00Z"}}]
    }


def test_grouped_partitions_list_each_extra_field(api_server: ApiServer) -> None:
    api_server.add_collection("/projects", [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    parents = _projects_manifest(api_server.url, extra_fields=[["name"]])
    substream = parents["streams"][0]["retriever"]["partition_router"]
    substream["parent_stream_configs"][0]["parent_key"] = "id"
    parents["streams"][0]["retriever"]["partition_router"] = {
        "type": "GroupingPartitionRouter",
        "group_size": 2,
        "underlying_partition_router": substream,
    }
    # As airbyte-cdk 7: extra fields grouped into lists too (extra_fields['name'][0]).
    assert load_source(parents, {}).stream("events").slices() == [
        {"project_id": [1, 2], "parent_slice": [{}, {}], "extra_fields": {"name": ["a", "b"]}}
    ]


def _events_server(api_server: ApiServer) -> dict[str, list[dict]]:
    events = {
        "7": [{"id": 70, "updated_at": "2021-02-01T10:00:00Z"}],
        "9": [{"id": 90, "updated_at": "2021-02-02T10:00:00Z"}],
    }
    api_server.add_collection(
        "/projects", [{"id": 1, "meta": {"project_id": 7}}, {"id": 2, "meta": {"project_id": 9}}]
    )
    api_server.add_collection("/projects/{id}/events", events, date_filter=DateFilter("updated_at"))
    return events


def _incremental_child(url: str, **parent_config: Any) -> dict[str, Any]:
    manifest = _projects_manifest(url, **parent_config)
    manifest["streams"][0]["incremental_sync"] = date_cursor(
        "2021-02-01T00:00:00Z", "2021-02-03T00:00:00Z", step="P1D", cursor_granularity="PT1S"
    )
    return manifest


def _final_state(messages: list[dict]) -> dict:
    return [m for m in messages if m["type"] == "STATE"][-1]["state"]["stream"]["stream_state"]


def test_per_partition_state_and_second_read(api_server: ApiServer) -> None:
    events = _events_server(api_server)
    source = load_source(_incremental_child(api_server.url), {})
    slices = source.stream("events").slices()
    assert slices[0] == {
        "project_id": 7,
        "parent_slice": {},
        "start_time": "2021-02-01T00:00:00Z",
        "end_time": "2021-02-01T23:59:59Z",
    }
    assert len(slices) == 4  # per project: 02-01, then 02-02 up to the end (02-03T00:00:00)
    first = list(source.read(INCREMENTAL))
    assert [m["record"]["data"]["id"] for m in first if m["type"] == "RECORD"] == [70, 90]
    state = _final_state(first)
    assert isinstance(state["lookback_window"], int)  # seconds the read took
    assert {k: v for k, v in state.items() if k != "lookback_window"} == {
        "use_global_cursor": False,
        "states": [
            {
                "partition": {"project_id": 7, "parent_slice": {}},
                "cursor": {"updated_at": "2021-02-01T10:00:00Z"},
            },
            {
                "partition": {"project_id": 9, "parent_slice": {}},
                "cursor": {"updated_at": "2021-02-02T10:00:00Z"},
            },
        ],
        "state": {"updated_at": "2021-02-02T10:00:00Z"},
        "parent_state": {},  # as the reference writes it when no parent is incremental
    }
    events["7"].append({"id": 71, "updated_at": "2021-02-02T12:00:00Z"})
    api_server.clear_requests()
    second = list(source.read(INCREMENTAL, {"events": state}))
    # windows start at the state cursor itself, so the newest record seen is read again
    assert [m["record"]["data"]["id"] for m in second if m["type"] == "RECORD"] == [70, 71, 90]
    since = [
        (r.path_params["id"], r.param("updated_since"))
        for r in api_server.requests
        if r.path.endswith("/events")
    ]
    assert since[0] == ("7", "2021-02-01T10:00:00Z")
    assert ("9", "2021-02-01T00:00:00Z") not in since


def test_flat_legacy_state_starts_every_partition(api_server: ApiServer) -> None:
    _events_server(api_server)
    source = load_source(_incremental_child(api_server.url), {})
    slices = source.stream("events").slices({"updated_at": "2021-02-02T00:00:00Z"})
    assert [(s["project_id"], s["start_time"], s["end_time"]) for s in slices] == [
        (7, "2021-02-02T00:00:00Z", "2021-02-03T00:00:00Z"),
        (9, "2021-02-02T00:00:00Z", "2021-02-03T00:00:00Z"),
    ]


def test_incremental_dependency_keeps_parent_state_in_the_child_state(
    api_server: ApiServer,
) -> None:
    projects = [
        {"id": 1, "meta": {"project_id": 7}, "updated_at": "2021-02-01T00:00:00Z"},
        {"id": 2, "meta": {"project_id": 9}, "updated_at": "2021-02-02T00:00:00Z"},
    ]
    api_server.add_collection("/projects", projects, date_filter=DateFilter("updated_at"))
    api_server.add_collection("/projects/{id}/events", {"7": [], "9": [], "11": []})
    manifest = _incremental_child(api_server.url, incremental_dependency=True)
    parent = manifest["streams"][0]["retriever"]["partition_router"]["parent_stream_configs"][0][
        "stream"
    ]
    parent["incremental_sync"] = date_cursor("2021-01-01T00:00:00Z", "2021-03-01T00:00:00Z")
    source = load_source(manifest, {})
    state = _final_state(list(source.read(INCREMENTAL)))
    assert state["parent_state"] == {"projects": {"updated_at": "2021-02-02T00:00:00Z"}}
    projects.append({"id": 3, "meta": {"project_id": 11}, "updated_at": "2021-02-05T00:00:00Z"})
    slices = source.stream("events").slices(state)
    assert sorted({s["project_id"] for s in slices}) == [9, 11]


def test_a_partition_listed_twice_is_read_once(api_server: ApiServer) -> None:
    _events_server(api_server)
    api_server.add_collection(
        "/projects",
        [{"id": n, "meta": {"project_id": 7}} for n in (1, 2)],  # 7 twice
    )
    source = load_source(_incremental_child(api_server.url), {})
    messages = list(source.read(INCREMENTAL))
    assert [m["record"]["data"]["id"] for m in messages if m["type"] == "RECORD"] == [70]
    event_requests = [r for r in api_server.requests if r.path == "/projects/7/events"]
    assert len(event_requests) == 2  # two windows, once
    assert [e["partition"] for e in _final_state(messages)["states"]] == [
        {"project_id": 7, "parent_slice": {}}
    ]


def test_per_partition_states_have_the_references_envelope(api_server: ApiServer) -> None:
    _events_server(api_server)
    api_server.add_collection("/projects", [])  # no partitions at all
    source = load_source(_incremental_child(api_server.url), {})
    state = _final_state(list(source.read(INCREMENTAL)))
    assert isinstance(state.pop("lookback_window"), int)  # the seconds the read took
    assert state == {"use_global_cursor": False, "states": [], "parent_state": {}}


def test_one_cursor_for_all_partitions_moves_only_with_records(api_server: ApiServer) -> None:
    api_server.add_collection("/projects", [{"id": 1, "meta": {"project_id": 7}}])
    api_server.add_collection(
        "/projects/{id}/events", {"7": []}, date_filter=DateFilter("updated_at")
    )
    manifest = _incremental_child(api_server.url)
    manifest["streams"][0]["incremental_sync"]["global_substream_cursor"] = True
    state = _final_state(list(load_source(manifest, {}).read(INCREMENTAL)))
    assert "state" not in state and state["use_global_cursor"] is True
