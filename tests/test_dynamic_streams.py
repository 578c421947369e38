"""Dynamic streams: a stream template and a components resolver make streams at run time."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.api_server import ApiServer, BearerAuth, Pagination
from support.cli import engine_cli
from support.slicing_manifests import page_paginator

from engine import ManifestError, ReadError, load_manifest, load_source
from engine.explain.report import explain, render_text

TOKEN = "t0ken-of-the-tests"
TABLES = [
    {"name": "customers", "endpoint": "customers", "key": "id"},
    {"name": "orders", "endpoint": "orders", "key": "order_id"},
    {"name": "refunds", "endpoint": "refunds", "key": "id"},
]


def _template(url: str, **changes: Any) -> dict[str, Any]:
    template: dict[str, Any] = {
        "type": "DeclarativeStream",
        "name": "placeholder",
        "primary_key": "id",
        "schema_loader": {"type": "InlineSchemaLoader", "schema": {"type": "object"}},
        "retriever": {
            "type": "SimpleRetriever",
            "requester": {
                "type": "HttpRequester",
                "url_base": url,
                "path": "/placeholder",
                "authenticator": {
                    "type": "BearerAuthenticator",
                    "api_token": "{{ config['token'] }}",
                },
            },
            "record_selector": {
                "type": "RecordSelector",
                "extractor": {"type": "DpathExtractor", "field_path": ["data"]},
            },
        },
    }
    template.update(changes)
    return template


def _mapping(field_path: list[str], value: str, **options: Any) -> dict[str, Any]:
    return {
        "type": "ComponentMappingDefinition",
        "field_path": field_path,
        "value": value,
        **options,
    }


NAME_AND_PATH = [
    _mapping(["name"], "{{ components_values.name }}"),
    _mapping(["retriever", "requester", "path"], "/{{ components_values.endpoint }}"),
]


def _http_resolver(url: str, mappings: list[dict] | None = None, **retriever: Any) -> dict:
    return {
        "type": "HttpComponentsResolver",
        "retriever": {
            "type": "SimpleRetriever",
            "requester": {
                "type": "HttpRequester",
                "url_base": url,
                "path": "/tables",
                "authenticator": {
                    "type": "BearerAuthenticator",
                    "api_token": "{{ config['token'] }}",
                },
            },
            "record_selector": {
                "type": "RecordSelector",
                "extractor": {"type": "DpathExtractor", "field_path": ["data"]},
            },
            **retriever,
        },
        "components_mapping": NAME_AND_PATH if mappings is None else mappings,
    }


def _config_resolver(mappings: list[dict] | None = None, *stream_configs: dict) -> dict:
    return {
        "type": "ConfigComponentsResolver",
        "stream_config": list(stream_configs)
        or {"type": "StreamConfig", "configs_pointer": ["tables"]},
        "components_mapping": NAME_AND_PATH if mappings is None else mappings,
    }


def _manifest(
    template: dict,
    resolver: dict,
    *,
    check: dict | None = None,
    streams: list[dict] | None = None,
    **dynamic: Any,
) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "version": "6.44.0",
        "type": "DeclarativeSource",
        "check": check or {"type": "CheckStream", "stream_names": []},
        "dynamic_streams": [
            {
                "type": "DynamicDeclarativeStream",
                "name": "tables",
                "stream_template": template,
                "components_resolver": resolver,
                **dynamic,
            }
        ],
        "spec": {
            "connection_specification": {
                "type": "object",
                "properties": {"token": {"type": "string", "airbyte_secret": True}},
            }
        },
    }
    if streams is not None:
        manifest["streams"] = streams
    return manifest


def _write(tmp_path: Path, manifest: dict) -> Path:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


@pytest.fixture
def api(api_server: ApiServer) -> ApiServer:
    auth = BearerAuth(TOKEN)
    api_server.add_collection("/tables", TABLES, auth=auth)
    api_server.add_collection("/customers", [{"id": i} for i in range(3)], auth=auth)
    api_server.add_collection("/orders", [{"order_id": i} for i in range(5)], auth=auth)
    api_server.add_collection("/refunds", [{"id": 9}], auth=auth)
    return api_server


def _requested(server: ApiServer) -> list[str]:
    return [request.path for request in server.requests]


# -- HttpComponentsResolver ---------------------------------------------------------------------


def test_an_api_listing_makes_one_stream_per_table(api: ApiServer) -> None:
    mappings = [*NAME_AND_PATH, _mapping(["primary_key"], "{{ components_values.key }}")]
    paginator = page_paginator(2)
    paged = Pagination("page", page_size=2)
    api.add_collection("/tables", TABLES, pagination=paged, auth=BearerAuth(TOKEN))
    manifest = _manifest(_template(api.url), _http_resolver(api.url, mappings, paginator=paginator))
    source = load_source(manifest, {"token": TOKEN})
    assert list(source.streams) == ["customers", "orders", "refunds"]
    assert _requested(api) == ["/tables", "/tables"]  # two pages of the listing
    assert len(list(source.read_records("customers"))) == 3
    assert list(source.read_records("orders")) == [{"order_id": i} for i in range(5)]
    assert source.stream("orders").primary_key == [["order_id"]]
    assert [e["name"] for e in source.discover()] == ["customers", "orders", "refunds"]


def test_the_listing_slices_reach_the_mappings_as_stream_slice(api: ApiServer) -> None:
    api.add_collection("/schemas/{schema}/tables", [{"table": "t1"}, {"table": "t2"}])
    router = {
        "type": "ListPartitionRouter",
        "values": ["sales", "hr"],
        "cursor_field": "schema",
    }
    resolver = _http_resolver(
        api.url,
        [_mapping(["name"], "{{ stream_slice.schema }}_{{ components_values.table }}")],
        partition_router=router,
    )
    resolver["retriever"]["requester"]["path"] = "/schemas/{{ stream_partition.schema }}/tables"
    source = load_source(_manifest(_template(api.url), resolver), {"token": TOKEN})
    assert list(source.streams) == ["sales_t1", "sales_t2", "hr_t1", "hr_t2"]


def test_a_failing_listing_request_names_the_resolver(api: ApiServer) -> None:
    source = load_source(
        _manifest(_template(api.url), _http_resolver(api.url)), {"token": "wrong-" + TOKEN}
    )
    with pytest.raises(ReadError) as failed:
        _ = source.streams
    message = str(failed.value)
    assert message.startswith("dynamic_streams[0].components_resolver: ")
    assert "status 401" in message and TOKEN not in message


# -- ConfigComponentsResolver and ParametrizedComponentsResolver ---------------------------------


def test_config_entries_and_default_values_make_streams(api: ApiServer) -> None:
    resolver = _config_resolver(
        None,
        {
            "type": "StreamConfig",
            "configs_pointer": ["tables"],
            "default_values": [{"name": "refunds", "endpoint": "refunds"}],
        },
    )
    config = {"token": TOKEN, "tables": [{"name": "clients", "endpoint": "customers"}]}
    source = load_source(_manifest(_template(api.url), resolver), config)
    assert list(source.streams) == ["clients", "refunds"]
    assert list(source.read_records("refunds")) == [{"id": 9}]
    assert _requested(api) == ["/refunds"]  # resolving from the config sends nothing


def test_two_stream_configs_combine_and_bare_values_keep_their_index(api: ApiServer) -> None:
    resolver = _config_resolver(
        [
            _mapping(
                ["name"],
                "{{ components_values.source_config_0[1] }}_{{ components_values.region }}"
                "_{{ components_values.source_config_0[0] }}",
            )
        ],
        {"type": "StreamConfig", "configs_pointer": ["tables"]},
        {"type": "StreamConfig", "configs_pointer": ["regions"]},
    )
    config = {"tables": ["a", "b"], "regions": [{"region": "eu"}, {"region": "us"}]}
    source = load_source(_manifest(_template(api.url), resolver), config)
    assert list(source.streams) == ["a_eu_0", "a_us_0", "b_eu_1", "b_us_1"]


def test_parametrized_resolver_makes_a_stream_per_parameter_set(api: ApiServer) -> None:
    resolver = {
        "type": "ParametrizedComponentsResolver",
        "stream_parameters": {
            "type": "StreamParametersDefinition",
            "list_of_parameters_for_stream": TABLES[:2],
        },
        "components_mapping": NAME_AND_PATH,
    }
    source = load_source(_manifest(_template(api.url), resolver), {"token": TOKEN})
    assert list(source.streams) == ["customers", "orders"]
    assert len(list(source.read_records("orders"))) == 5


def test_value_types_and_yaml_values(api: ApiServer) -> None:
    mappings = [
        _mapping(["name"], "{{ components_values.name }}", value_type="string"),
        _mapping(["primary_key"], "{{ components_values.pk }}"),
        _mapping(["checkpoint_interval"], "{{ components_values.every }}", value_type="integer"),
    ]
    template = _template(api.url, checkpoint_interval=100)
    config = {"tables": [{"name": "2024", "pk": "[id, region]", "every": "25"}]}
    source = load_source(_manifest(template, _config_resolver(mappings)), config)
    (stream,) = source.streams.values()
    assert stream.name == "2024"  # value_type string: a name that looks like a number stays text
    assert stream.primary_key == [["id"], ["region"]]  # YAML text became a list
    assert stream.checkpoint_interval == 25

    config["tables"][0]["every"] = "often"
    with pytest.raises(ManifestError) as failed:
        _ = load_source(_manifest(template, _config_resolver(mappings)), config).streams
    assert failed.value.path == "dynamic_streams[0].components_resolver.components_mapping[2].value"
    assert "'often' is not of value_type 'integer'" in str(failed.value)
    assert "stream number 1 of dynamic stream 'tables'" in str(failed.value)


def test_a_condition_decides_per_entry_whether_a_mapping_applies(api: ApiServer) -> None:
    mappings = [
        *NAME_AND_PATH,
        _mapping(
            ["primary_key"],
            "{{ components_values.key }}",
            condition="{{ components_values.get('key') }}",
        ),
    ]
    config = {"tables": [TABLES[0] | {"key": "customer_id"}, {"name": "x", "endpoint": "x"}]}
    source = load_source(_manifest(_template(api.url), _config_resolver(mappings)), config)
    assert source.stream("customers").primary_key == [["customer_id"]]
    assert source.stream("x").primary_key == [["id"]]  # the template's own


def test_create_or_update_adds_a_field_the_template_lacks(api: ApiServer) -> None:
    api.add_collection("/filtered", [{"id": 1, "t": "a"}, {"id": 2, "t": "b"}], filter_fields=["t"])
    mappings = [
        _mapping(["name"], "{{ components_values }}"),
        _mapping(["retriever", "requester", "path"], "/filtered"),
        _mapping(
            ["retriever", "requester", "request_parameters", "t"],
            "{{ components_values }}",
            create_or_update=True,
        ),
    ]
    resolver = _config_resolver(
        [
            {
                **m,
                "value": m["value"].replace(
                    "components_values", "components_values.source_config_0[1]"
                ),
            }
            for m in mappings
        ]
    )
    source = load_source(_manifest(_template(api.url), resolver), {"token": TOKEN, "tables": ["b"]})
    assert list(source.read_records("b")) == [{"id": 2, "t": "b"}]


def test_use_parent_parameters_decides_whose_parameters_win(api: ApiServer) -> None:
    template = _template(api.url, **{"$parameters": {"endpoint": "/customers"}})
    template["retriever"]["requester"]["path"] = "{{ parameters.endpoint }}"
    template["retriever"]["requester"]["$parameters"] = {"endpoint": "/refunds"}
    mappings = [
        _mapping(["name"], "{{ components_values.name }}"),
        _mapping(["$parameters", "endpoint"], "/orders"),
    ]
    config = {"token": TOKEN, "tables": [{"name": "s"}]}
    parents_win = load_source(_manifest(template, _config_resolver(mappings)), config)
    assert len(list(parents_win.read_records("s"))) == 5  # the stream's new /orders
    own_win = load_source(
        _manifest(template, _config_resolver(mappings), use_parent_parameters=False), config
    )
    assert list(own_win.read_records("s")) == [{"id": 9}]  # the requester's own /refunds


# -- errors -------------------------------------------------------------------------------------


def test_streams_with_the_same_name_are_refused(api: ApiServer) -> None:
    config = {"tables": [{"name": "a", "endpoint": "a"}, {"name": "a", "endpoint": "b"}]}
    with pytest.raises(ManifestError) as twice:
        _ = load_source(_manifest(_template(api.url), _config_resolver()), config).streams
    assert "two streams are named 'a'" in str(twice.value)
    assert twice.value.path == "dynamic_streams[0].stream_template.name"

    static = _template(api.url, name="a")
    manifest = _manifest(_template(api.url), _config_resolver(), streams=[static])
    with pytest.raises(ManifestError) as clash:
        _ = load_source(manifest, {"tables": [{"name": "a", "endpoint": "x"}]}).streams
    assert "one from streams[0], one from dynamic stream 'tables'" in str(clash.value)


def test_a_field_path_the_template_lacks_is_refused_at_load_by_path_and_line(
    api: ApiServer, tmp_path: Path
) -> None:
    mappings = [*NAME_AND_PATH, _mapping(["retriever", "requester", "pth"], "/x")]
    file = _write(tmp_path, _manifest(_template(api.url), _config_resolver(mappings)))
    with pytest.raises(ManifestError) as failed:
        load_manifest(file)
    error = failed.value
    assert error.path == "dynamic_streams[0].components_resolver.components_mapping[2].field_path"
    assert error.line is not None and "field_path:" in file.read_text().splitlines()[error.line - 1]
    assert error.suggestion == "path" and "create_or_update: true" in str(error)


def test_a_field_path_through_a_value_is_refused(api: ApiServer) -> None:
    mappings = [_mapping(["name", "first"], "x", create_or_update=True)]
    with pytest.raises(ManifestError) as failed:
        load_manifest(_manifest(_template(api.url), _config_resolver(mappings)))
    assert failed.value.path.endswith("components_mapping[0].field_path")
    assert "goes through name, which is str 'placeholder'" in str(failed.value)


def test_the_http_resolver_never_creates_fields_nor_takes_conditions(api: ApiServer) -> None:
    created = [
        _mapping(["retriever", "requester", "request_parameters", "t"], "x", create_or_update=True)
    ]
    with pytest.raises(ManifestError, match="HttpComponentsResolver only updates fields"):
        load_manifest(_manifest(_template(api.url), _http_resolver(api.url, created)))
    conditional = [_mapping(["name"], "x", condition="{{ true }}")]
    with pytest.raises(ManifestError) as failed:
        load_manifest(_manifest(_template(api.url), _http_resolver(api.url, conditional)))
    assert failed.value.path.endswith("components_mapping[0].condition")
    assert "only supported by ConfigComponentsResolver" in str(failed.value)


def test_a_templated_field_path_is_checked_when_resolved(api: ApiServer) -> None:
    mappings = [*NAME_AND_PATH, _mapping(["retriever", "{{ components_values.part }}"], "x")]
    config = {"tables": [{"name": "a", "endpoint": "a", "part": "requestor"}]}
    with pytest.raises(ManifestError) as failed:
        _ = load_source(_manifest(_template(api.url), _config_resolver(mappings)), config).streams
    assert failed.value.path.endswith("components_mapping[2].field_path")
    assert "['retriever', 'requestor'] is not in the stream template" in str(failed.value)
    assert "stream number 1 of dynamic stream 'tables'" in str(failed.value)


def test_the_template_is_validated_at_load_and_build_errors_name_the_stream(
    api: ApiServer, tmp_path: Path
) -> None:
    template = _template(api.url)
    template["retreiver"] = template.pop("retriever")
    with pytest.raises(ManifestError) as typo:
        load_manifest(_write(tmp_path, _manifest(template, _config_resolver([]))))
    assert typo.value.path == "dynamic_streams[0].stream_template.retreiver"
    assert typo.value.suggestion == "retriever" and typo.value.line is not None

    broken = _template(api.url)
    broken["retriever"]["requester"]["request_headers"] = {"X": "{{ config['a' }}"}
    with pytest.raises(ManifestError) as syntax:
        load_manifest(_manifest(broken, _config_resolver()))
    assert syntax.value.path == (
        "dynamic_streams[0].stream_template.retriever.requester.request_headers.X"
    )

    unknown = [
        *NAME_AND_PATH[:1],
        _mapping(["retriever", "requester", "path"], "{{ '{{ oops }}' }}"),
    ]
    source = load_source(
        _manifest(_template(api.url), _config_resolver(unknown)), {"tables": [TABLES[0]]}
    )
    with pytest.raises(ManifestError) as build:
        _ = source.streams
    assert build.value.path == "dynamic_streams[0].stream_template.retriever.requester.path"
    assert "unknown variable 'oops'" in str(build.value)
    assert "(stream 'customers' of dynamic stream 'tables')" in str(build.value)


# -- check --------------------------------------------------------------------------------------


def test_check_reads_the_configured_count_of_generated_streams(api: ApiServer) -> None:
    check = {
        "type": "CheckStream",
        "stream_names": [],
        "dynamic_streams_check_configs": [
            {"type": "DynamicStreamCheckConfig", "dynamic_stream_name": "tables", "stream_count": 1}
        ],
    }
    source = load_source(
        _manifest(_template(api.url), _http_resolver(api.url), check=check), {"token": TOKEN}
    )
    assert source.check() == (True, None)
    assert [p for p in _requested(api) if p != "/tables"] == ["/customers"]

    api.clear_requests()
    every = copy.deepcopy(check)
    del every["dynamic_streams_check_configs"][0]["stream_count"]
    source = load_source(
        _manifest(_template(api.url), _http_resolver(api.url), check=every), {"token": TOKEN}
    )
    assert source.check() == (True, None)
    assert [p for p in _requested(api) if p != "/tables"] == ["/customers", "/orders", "/refunds"]


def test_check_fails_for_an_unknown_dynamic_stream_or_an_unreadable_one(api: ApiServer) -> None:
    check = {
        "type": "CheckStream",
        "dynamic_streams_check_configs": [
            {"type": "DynamicStreamCheckConfig", "dynamic_stream_name": "tabels"}
        ],
    }
    ok, message = load_source(
        _manifest(_template(api.url), _config_resolver(), check=check), {"tables": TABLES}
    ).check()
    assert not ok and "check.dynamic_streams_check_configs[0]" in message and "'tabels'" in message

    check["dynamic_streams_check_configs"][0]["dynamic_stream_name"] = "tables"
    config = {"token": TOKEN, "tables": [{"name": "gone", "endpoint": "gone"}]}
    ok, message = load_source(
        _manifest(_template(api.url), _config_resolver(), check=check), config
    ).check()
    assert not ok and "status 404" in message and "'gone'" in message


def test_check_dynamic_stream_reads_the_first_streams(api: ApiServer) -> None:
    check = {"type": "CheckDynamicStream", "stream_count": 2}
    source = load_source(
        _manifest(_template(api.url), _http_resolver(api.url), check=check), {"token": TOKEN}
    )
    assert source.check() == (True, None)
    assert [p for p in _requested(api) if p != "/tables"] == ["/customers", "/orders"]

    api.clear_requests()
    check["use_check_availability"] = False
    source = load_source(
        _manifest(_template(api.url), _http_resolver(api.url), check=check), {"token": TOKEN}
    )
    assert source.check() == (True, None)
    assert set(_requested(api)) == {"/tables"}


def test_a_check_count_below_one_is_refused_at_load(api: ApiServer) -> None:
    check = {
        "type": "CheckStream",
        "dynamic_streams_check_configs": [
            {"type": "DynamicStreamCheckConfig", "dynamic_stream_name": "tables", "stream_count": 0}
        ],
    }
    with pytest.raises(ManifestError) as failed:
        load_manifest(_manifest(_template(api.url), _config_resolver(), check=check))
    assert failed.value.path == "check.dynamic_streams_check_configs[0].stream_count"


# -- discover through the command line, explain ---------------------------------------------------


def test_the_command_line_discovers_dynamic_streams(api: ApiServer, tmp_path: Path) -> None:
    manifest = _write(tmp_path, _manifest(_template(api.url), _http_resolver(api.url)))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"token": TOKEN}))
    done = engine_cli("discover", manifest, config)
    assert done.returncode == 0, done.stdout + done.stderr
    (catalog,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert [s["name"] for s in catalog["catalog"]["streams"]] == ["customers", "orders", "refunds"]


def test_explain_resolves_config_streams_offline_and_api_streams_when_asked(api: ApiServer) -> None:
    config = {"token": TOKEN, "tables": [{"name": "clients", "endpoint": "customers"}]}
    (from_config,) = explain(_manifest(_template(api.url), _config_resolver()), config)[
        "dynamic_streams"
    ]
    assert from_config["resolver"]["type"] == "ConfigComponentsResolver"
    assert from_config["template"]["request"]["path"] == "/placeholder"
    assert [(s["name"], s["request"]["path"]) for s in from_config["streams"]] == [
        ("clients", "/customers")
    ]

    manifest = _manifest(_template(api.url), _http_resolver(api.url))
    offline = explain(manifest, config)
    (listed,) = offline["dynamic_streams"]
    assert listed["streams"] is None and listed["resolution"].startswith("not resolved")
    assert listed["resolver"]["request"]["path"] == "/tables"
    assert api.requests == []
    assert "dynamic stream tables  (dynamic_streams[0])" in render_text(offline)

    (resolved,) = explain(manifest, config, resolve_dynamic_streams=True)["dynamic_streams"]
    assert [s["name"] for s in resolved["streams"]] == ["customers", "orders", "refunds"]
    assert set(_requested(api)) == {"/tables"}


def test_explain_without_config_resolves_from_placeholders_and_the_cli_resolves_when_asked(
    api: ApiServer, tmp_path: Path
) -> None:
    defaults = {
        "type": "StreamConfig",
        "configs_pointer": ["tables"],
        "default_values": [TABLES[2]],
    }
    (placeholder,) = explain(_manifest(_template(api.url), _config_resolver(None, defaults)))[
        "dynamic_streams"
    ]
    assert [s["name"] for s in placeholder["streams"]] == ["refunds"]
    assert placeholder["resolution"] == "resolved to 1 stream(s) from placeholder config values"

    manifest = _write(tmp_path, _manifest(_template(api.url), _http_resolver(api.url)))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"token": TOKEN}))
    done = engine_cli("explain", manifest, config, "--json", "--resolve")
    assert done.returncode == 0, done.stderr
    (listed,) = json.loads(done.stdout)["dynamic_streams"]
    assert [s["name"] for s in listed["streams"]] == ["customers", "orders", "refunds"]
    assert TOKEN not in done.stdout


# -- Dagster ------------------------------------------------------------------------------------


def test_resolved_streams_become_assets_that_materialize(api: ApiServer, tmp_path: Path) -> None:
    import dagster as dg

    from dagster_declarative import DeclarativeSourceResource, build_declarative_assets

    config = {"token": TOKEN, "tables": TABLES[:2]}
    mappings = [*NAME_AND_PATH, _mapping(["primary_key"], "{{ components_values.key }}")]
    manifest = _write(tmp_path, _manifest(_template(api.url), _config_resolver(mappings)))
    assets = build_declarative_assets(manifest, source_name="shop", config=config)
    by_key = {asset.key: asset for asset in assets}
    assert set(by_key) == {dg.AssetKey(["shop", "customers"]), dg.AssetKey(["shop", "orders"])}
    resource = DeclarativeSourceResource(
        config=config,
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}",
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [by_key[dg.AssetKey(["shop", "orders"])]],
            instance=instance,
            resources={"declarative_source": resource},
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["dagster/row_count"].value == 5


def test_api_listed_streams_read_their_credentials_from_the_environment_at_load(
    api: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other config from the environment stays unread when definitions load; listing streams
    from the API cannot work without its credentials, so those are read."""
    import dagster as dg

    from dagster_declarative import build_declarative_assets
    from engine import ConfigError

    manifest = _write(tmp_path, _manifest(_template(api.url), _http_resolver(api.url)))
    config = {"token": dg.EnvVar("DD_TEST_LISTING_TOKEN")}

    with pytest.raises(ConfigError, match="DD_TEST_LISTING_TOKEN, which is not set"):
        build_declarative_assets(manifest, source_name="shop", config=config)

    monkeypatch.setenv("DD_TEST_LISTING_TOKEN", TOKEN)
    assets = build_declarative_assets(manifest, source_name="shop", config=config)
    assert {asset.key.path[-1] for asset in assets} == {row["name"] for row in TABLES}
    assert all(TOKEN not in str(asset.specs_by_key) for asset in assets)
