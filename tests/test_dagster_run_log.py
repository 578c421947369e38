"""What a run shows while it works: every retry wait (request masked, status, wait, its source,
attempt), a slice still running after two seconds, and a child partition that reads only its own
parent record (none at all when the parent id is all the slice needs), and what a page said
instead of holding records."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import dagster as dg
from manifests import page_paginator
from support.api_server import ApiServer, Pagination, Response
from support.slicing_manifests import modern, modern_stream

from dagster_declarative import DeclarativeSourceResource, build_declarative_assets

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
SECRET = "k3y-that-must-not-show"
CUSTOMERS = [{"id": n, "name": f"c{n}"} for n in range(1, 10)]
NOTES = {n: [{"id": 100 * n + i, "text": "x"} for i in range(2)] for n in range(1, 10)}


def _resource(tmp_path: Path) -> DeclarativeSourceResource:
    return DeclarativeSourceResource(
        config={"key": SECRET},
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}",
    )


def _with_secret(manifest: dict) -> dict:
    manifest["spec"] = {
        "type": "Spec",
        "connection_specification": {
            "type": "object",
            "properties": {"key": {"type": "string", "airbyte_secret": True}},
        },
    }
    return manifest


def _run_log(asset: dg.AssetsDefinition, tmp_path: Path, level: int = 0) -> tuple[bool, list[str]]:
    """Materialize ``asset``: whether the run succeeded, and its log lines of ``level`` or above."""
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={"declarative_source": _resource(tmp_path)},
            run_config=QUIET,
            raise_on_error=False,
        )
        return result.success, [
            r.user_message
            for r in instance.all_logs(result.run_id)
            if r.user_message and r.level >= level
        ]


def test_every_wait_is_logged_with_its_source_and_attempt(
    api_server: ApiServer, tmp_path: Path
) -> None:
    api_server.add_collection("/items", [{"id": 1}])
    api_server.fail_next("/items", Response.rate_limited(0.2), Response(503))
    stream = modern_stream(api_server.url, "items", "/items")
    requester = stream["retriever"]["requester"]
    requester["request_parameters"] = {"api_key": "{{ config['key'] }}"}
    requester["error_handler"] = {
        "type": "DefaultErrorHandler",
        "backoff_strategies": [
            {"type": "WaitTimeFromHeader", "header": "Retry-After"},
            {"type": "ConstantBackoffStrategy", "backoff_time_in_seconds": 0.1},
        ],
    }
    (asset,) = build_declarative_assets(_with_secret(modern(stream)), source_name="shop")
    success, lines = _run_log(asset, tmp_path)
    assert success
    waits = [line for line in lines if line.startswith("retrying ")]
    assert len(waits) == 2, lines
    assert "after status 429: waiting 0.2 s (header Retry-After), attempt 2 of 6" in waits[0]
    assert "after status 503: waiting 0.1 s (constant), attempt 3 of 6" in waits[1]
    assert all(f"GET {api_server.url}/items?api_key=" in w for w in waits)
    assert not any(SECRET in line for line in lines)


def test_an_error_envelope_sent_with_200_is_a_warning_in_the_run_log(
    api_server: ApiServer, tmp_path: Path
) -> None:
    """The run succeeds (the reference's behaviour), but its log says what the page said."""
    envelope = {"error": {"message": f"quota exceeded for key {SECRET}"}}
    api_server.add_route("GET", "/items", lambda request: Response(200, envelope))
    stream = modern_stream(api_server.url, "items", "/items")
    stream["retriever"]["requester"]["request_parameters"] = {"api_key": "{{ config['key'] }}"}
    (asset,) = build_declarative_assets(_with_secret(modern(stream)), source_name="shop")
    success, warnings = _run_log(asset, tmp_path, logging.WARNING)
    assert success
    assert warnings == [
        "stream 'items': a page has no records field 'data' (its keys: error); "
        "it says: quota exceeded for key ****"
    ]


def test_records_that_break_the_schema_are_a_warning_in_the_run_log(
    api_server: ApiServer, tmp_path: Path
) -> None:
    api_server.add_collection(
        "/items", [{"id": 1, "n": 1}, {"id": 2, "n": "two"}, {"id": 3, "n": [3]}]
    )
    stream = modern_stream(api_server.url, "items", "/items")
    stream["schema_loader"] = {
        "type": "InlineSchemaLoader",
        "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
    }
    (asset,) = build_declarative_assets(modern(stream), source_name="shop")
    success, warnings = _run_log(asset, tmp_path, logging.WARNING)
    assert success
    (warning,) = warnings
    assert warning.endswith(": 2 of 3 records break the stream's schema, e.g. n: fails 'type'")


def test_a_slice_still_running_after_two_seconds_is_logged(
    api_server: ApiServer, tmp_path: Path
) -> None:
    api_server.add_route(
        "GET", "/slow", lambda _request: Response(200, {"data": [{"id": 1}]}, delay=2.6)
    )
    stream = modern_stream(api_server.url, "slow", "/slow")
    (asset,) = build_declarative_assets(modern(stream), source_name="shop")
    success, lines = _run_log(asset, tmp_path)
    assert success
    assert any(line.startswith("[all slices] slice {}: running for 2 s") for line in lines), lines


def _family(url: str, *, extra_fields: bool = False) -> dict[str, Any]:
    parent = modern_stream(url, "customers", "/customers")
    parent["retriever"]["paginator"] = page_paginator(2)
    parent["schema_loader"]["schema"] = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    }
    config: dict[str, Any] = {
        "type": "ParentStreamConfig",
        "stream": parent,
        "parent_key": "id",
        "partition_field": "customer_id",
    }
    if extra_fields:
        config["extra_fields"] = [["name"]]
    router = {"type": "SubstreamPartitionRouter", "parent_stream_configs": [config]}
    child = modern_stream(url, "notes", "/customers/{{ stream_partition.customer_id }}/notes")
    child["retriever"]["partition_router"] = router
    if extra_fields:
        child["transformations"] = [
            {
                "type": "AddFields",
                "fields": [
                    {
                        "type": "AddedFieldDefinition",
                        "path": ["customer_name"],
                        "value": "{{ stream_partition.extra_fields['name'] }}",
                    }
                ],
            }
        ]
    return modern(parent, child)


def _run_child_partition(
    api_server: ApiServer, tmp_path: Path, key: str, *, extra_fields: bool
) -> dg.AssetMaterialization:
    api_server.add_collection("/customers", CUSTOMERS, pagination=Pagination("page", page_size=2))
    api_server.add_collection("/customers/{id}/notes", NOTES)
    assets = build_declarative_assets(
        _family(api_server.url, extra_fields=extra_fields), source_name="shop"
    )
    child = next(a for a in assets if a.key.path[-1] == "notes")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(child.partitions_def.name, [key])
        api_server.clear_requests()
        result = dg.materialize(
            [child],
            instance=instance,
            partition_key=key,
            resources={"declarative_source": _resource(tmp_path)},
            run_config=QUIET,
        )
    (event,) = result.get_asset_materialization_events()
    return event.materialization


def test_a_child_partition_reads_no_parent_when_the_id_is_all_it_needs(
    api_server: ApiServer, tmp_path: Path
) -> None:
    materialization = _run_child_partition(api_server, tmp_path, "7", extra_fields=False)
    assert [r.path for r in api_server.requests] == ["/customers/7/notes"]
    assert materialization.metadata["records"].value == 2
    assert materialization.metadata["slice/customer_id"].value == "7"


def test_a_child_partition_reads_the_parent_only_up_to_its_record(
    api_server: ApiServer, tmp_path: Path
) -> None:
    materialization = _run_child_partition(api_server, tmp_path, "3", extra_fields=True)
    paths = [r.path for r in api_server.requests]
    # customers 1-2 on page 1, 3-4 on page 2: pages 3 to 5 are never asked for
    assert paths == ["/customers", "/customers", "/customers/3/notes"]
    assert materialization.metadata["records"].value == 2
