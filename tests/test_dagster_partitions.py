"""Slices to partitions and back, with the engine's real slicers: lists to static keys, parent ids
to dynamic keys (registered by the parent asset and by a sensor), two dimensions to
multi-partitions, more to an unpartitioned stream; every key maps to exactly the engine's slice."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
import pytest
import yaml
from support.api_server import ApiServer
from support.slicing_manifests import date_cursor, modern, modern_stream

from dagster_declarative import (
    DeclarativeSourceResource,
    build_declarative_assets,
    build_declarative_definitions,
)
from dagster_declarative.partitions import slices_for_partitions
from engine import load_source, partition_key

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
PARENTS = [{"id": 1}, {"id": "a b"}, {"id": "x...y"}]


def _list_router(field: str, values: list) -> dict:
    return {
        "type": "ListPartitionRouter",
        "cursor_field": field,
        "values": values,
        "request_option": {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": field,
        },
    }


def _substream_router(url: str) -> dict:
    return {
        "type": "SubstreamPartitionRouter",
        "parent_stream_configs": [
            {
                "type": "ParentStreamConfig",
                "stream": modern_stream(url, "projects", "/projects"),
                "parent_key": "id",
                "partition_field": "project_id",
            }
        ],
    }


def _write(tmp_path: Path, *streams: dict) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(modern(*streams)))
    return path


def _resource(tmp_path: Path) -> DeclarativeSourceResource:
    return DeclarativeSourceResource(
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}",
    )


def _engine_stream(manifest: Path, name: str):  # type: ignore[no-untyped-def]
    return load_source(manifest, {}).stream(name)


@pytest.fixture
def server(api_server: ApiServer) -> ApiServer:
    api_server.add_collection("/projects", PARENTS)
    api_server.add_collection(
        "/projects/{id}/issues",
        lambda params: [{"id": f"{params['id']}-1"}, {"id": f"{params['id']}-2"}],
    )
    api_server.add_collection("/orders", [{"id": 1}], filter_fields=["region"])
    return api_server


def test_keys_keep_safe_ids_and_hash_the_rest() -> None:
    assert partition_key(42) == "42"
    assert partition_key("user@example.com:7") == "user@example.com:7"
    hashed = partition_key("a b")
    assert hashed.startswith("id_") and hashed == partition_key("a b")
    assert partition_key("x...y") != "x...y"
    assert partition_key("k" * 256).startswith("id_")


def test_list_router_becomes_static_partitions(server: ApiServer, tmp_path: Path) -> None:
    stream = modern_stream(
        server.url, "orders", "/orders", router=_list_router("region", ["us", "eu/west"])
    )
    manifest = _write(tmp_path, stream)
    (asset,) = build_declarative_assets(manifest)
    keys = asset.partitions_def.get_partition_keys()
    assert keys[0] == "us" and keys[1] == partition_key("eu/west")
    engine_stream = _engine_stream(manifest, "orders")
    assert slices_for_partitions(engine_stream, asset.partitions_def, [keys[1]]) == [
        (keys[1], {"region": "eu/west"})
    ]
    result = dg.materialize(
        [asset],
        partition_key=keys[1],
        resources={"declarative_source": _resource(tmp_path)},
        run_config=QUIET,
    )
    assert result.success
    assert [r.param("region") for r in server.requests] == ["eu/west"]


def test_parent_ids_become_dynamic_partitions_of_the_child(
    server: ApiServer, tmp_path: Path
) -> None:
    child = modern_stream(
        server.url,
        "issues",
        "/projects/{{ stream_partition.project_id }}/issues",
        router=_substream_router(server.url),
    )
    manifest = _write(tmp_path, modern_stream(server.url, "projects", "/projects"), child)
    projects, issues = build_declarative_assets(manifest)
    dynamic = issues.partitions_def
    assert isinstance(dynamic, dg.DynamicPartitionsDefinition)
    assert dynamic.name == "shop__issues"
    assert issues.metadata_by_key[issues.key]["declarative/slicer"] == "substream"
    resources = {"declarative_source": _resource(tmp_path)}
    with dg.instance_for_test() as instance:
        dg.materialize([projects], instance=instance, resources=resources, run_config=QUIET)
        keys = instance.get_dynamic_partitions("shop__issues")
        assert keys == ["1", partition_key("a b"), partition_key("x...y")]
        engine_stream = _engine_stream(manifest, "issues")
        ((_, stream_slice),) = slices_for_partitions(engine_stream, dynamic, [keys[1]])
        assert stream_slice == {"project_id": "a b", "parent_slice": {}}
        server.clear_requests()
        result = dg.materialize(
            [issues],
            partition_key=keys[1],
            instance=instance,
            resources=resources,
            run_config=QUIET,
        )
        (event,) = result.get_asset_materialization_events()
        assert event.materialization.metadata["slice/project_id"].value == "a b"
        assert event.materialization.metadata["records"].value == 2
        assert [r.path for r in server.requests] == ["/projects", "/projects/a%20b/issues"]


def test_sensor_registers_new_parent_ids(server: ApiServer, tmp_path: Path) -> None:
    child = modern_stream(
        server.url,
        "issues",
        "/projects/{{ stream_partition.project_id }}/issues",
        router=_substream_router(server.url),
    )
    manifest = _write(tmp_path, child)
    defs = build_declarative_definitions(manifest, resource=_resource(tmp_path))
    sensor = defs.get_sensor_def("shop__issues_parent_ids")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("shop__issues", ["1"])
        context = dg.build_sensor_context(
            instance=instance,
            resources={"declarative_source": _resource(tmp_path)},
            definitions=defs,
        )
        result = sensor(context)
    new = [partition_key("a b"), partition_key("x...y")]
    assert [r.partition_key for r in result.run_requests] == new
    (request,) = result.dynamic_partitions_requests
    assert request.partitions_def_name == "shop__issues"
    assert list(request.partition_keys) == new


def test_list_by_date_becomes_multi_partitions(server: ApiServer, tmp_path: Path) -> None:
    cursor = date_cursor(
        "2024-01-01T00:00:00Z", "2024-01-10T00:00:00Z", step="P1D", cursor_granularity="PT1S"
    )
    stream = modern_stream(
        server.url,
        "orders",
        "/orders",
        incremental=cursor,
        router=_list_router("region", ["us", "eu"]),
    )
    manifest = _write(tmp_path, stream)
    (asset,) = build_declarative_assets(manifest)
    multi = asset.partitions_def
    assert isinstance(multi, dg.MultiPartitionsDefinition)
    assert {d.name for d in multi.partitions_defs} == {"region", "date"}
    key = dg.MultiPartitionKey({"region": "eu", "date": "2024-01-03"})
    engine_stream = _engine_stream(manifest, "orders")
    ((_, stream_slice),) = slices_for_partitions(engine_stream, multi, [key])
    assert stream_slice == {
        "region": "eu",
        "start_time": "2024-01-03T00:00:00Z",
        "end_time": "2024-01-03T23:59:59Z",
    }
    assert stream_slice in engine_stream.slices()


def test_two_routers_become_multi_partitions(server: ApiServer, tmp_path: Path) -> None:
    routers = [_list_router("region", ["us", "eu"]), _list_router("kind", ["a", "b", "c"])]
    manifest = _write(tmp_path, modern_stream(server.url, "orders", "/orders", router=routers))
    (asset,) = build_declarative_assets(manifest)
    multi = asset.partitions_def
    assert len(multi.get_partition_keys()) == 6
    key = dg.MultiPartitionKey({"region": "us", "kind": "c"})
    engine_stream = _engine_stream(manifest, "orders")
    assert slices_for_partitions(engine_stream, multi, [key]) == [
        (key, {"region": "us", "kind": "c"})
    ]


def test_three_dimensions_stay_unpartitioned_with_a_log_line(
    server: ApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    routers = [_list_router("region", ["us"]), _list_router("kind", ["a"])]
    cursor = date_cursor("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", step="P1D")
    stream = modern_stream(server.url, "orders", "/orders", router=routers, incremental=cursor)
    with caplog.at_level(logging.WARNING, logger="dagster_declarative"):
        (asset,) = build_declarative_assets(_write(tmp_path, stream))
    assert asset.partitions_def is None
    assert "more than two dimensions" in caplog.text


def test_a_2022_list_slicer_that_reports_state_still_gets_static_partitions() -> None:
    from engine import StreamPartitions, load_source

    text = """
version: "0.1.0"
streams:
  - $options: {name: repos_events, primary_key: id}
    stream_cursor_field: repo
    retriever:
      record_selector: {extractor: {field_pointer: []}}
      requester: {url_base: "http://127.0.0.1:9", path: /events}
      stream_slicer:
        type: ListStreamSlicer
        slice_values: [a, b]
        cursor_field: repo
check: {stream_names: [repos_events]}
"""
    stream = load_source(text, {}).stream("repos_events")
    dims = StreamPartitions(stream).describe().dimensions
    assert [d.kind for d in dims] == ["list"]
