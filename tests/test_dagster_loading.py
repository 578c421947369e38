"""Loading definitions never breaks the code location: a broken stream is left out with a
warning that says which, where, why and how to choose streams; config is checked when the
definitions load (plain values) and when a run starts (values from the environment), with the
same messages, naming keys and never values."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dagster as dg
import pytest
import yaml
from support.api_server import ApiServer
from support.slicing_manifests import date_cursor, modern, modern_stream

from dagster_declarative import DeclarativeSourceResource, build_declarative_definitions
from engine import ConfigError

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
SPEC = {
    "type": "Spec",
    "connection_specification": {
        "type": "object",
        "required": ["start_date", "api_key"],
        "properties": {
            "start_date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
            "api_key": {"type": "string", "airbyte_secret": True, "pattern": "^key-"},
        },
    },
}


def _manifest(tmp_path: Path, url: str) -> Path:
    good = modern_stream(url, "items", "/items")
    unsupported = modern_stream(url, "tokens", "/tokens")
    unsupported["retriever"]["requester"]["authenticator"] = {"type": "JwtAuthenticator"}
    bad_schema = modern_stream(url, "notes", "/notes")
    bad_schema["schema_loader"] = {"type": "JsonFileSchemaLoader", "file_path": "notes.json"}
    (tmp_path / "notes.json").write_text("{not json")
    every_second = date_cursor(
        "2019-01-01T00:00:00Z", "2024-01-01T00:00:00Z", step="PT1S", cursor_granularity="PT1S"
    )
    too_fine = modern_stream(url, "ticks", "/ticks", incremental=every_second)
    document = modern(good, unsupported, bad_schema, too_fine)
    document["spec"] = SPEC
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _resource(tmp_path: Path, **config: object) -> DeclarativeSourceResource:
    return DeclarativeSourceResource(
        config=config,
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}",
    )


def _load(path: Path, resource: DeclarativeSourceResource, **options: object) -> dg.Definitions:
    return build_declarative_definitions(path, resource=resource, source_name="shop", **options)


def _left_out(caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """The left-out warnings by stream name."""
    found = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    return {m.split("'")[3]: m for m in found if "is left out" in m}


def test_broken_streams_are_left_out_and_the_others_load(
    api_server: ApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _manifest(tmp_path, api_server.url)
    resource = _resource(tmp_path, start_date="2024-01-01", api_key=dg.EnvVar("SHOP_KEY"))
    defs = _load(path, resource)
    keys = {a.key for a in defs.assets or ()}
    assert keys == {dg.AssetKey(["shop", "items"])}
    (items,) = defs.assets or ()
    description = items.descriptions_by_key[items.key]
    assert f"**request**: `GET {api_server.url}/items`" in description
    assert "**primary key**: id" in description and "**cursor**: none" in description
    messages = _left_out(caplog)
    assert set(messages) == {"tokens", "notes", "ticks"}
    assert "streams[1].retriever.requester.authenticator" in messages["tokens"]
    assert "JwtAuthenticator is not supported" in messages["tokens"]
    assert "notes.json is not valid JSON" in messages["notes"]
    assert "step of PT1S" in messages["ticks"] and "more than 25000 windows" in messages["ticks"]
    for message in messages.values():
        assert "The other streams load" in message and "`streams:` in defs.yaml" in message


def test_choosing_the_streams_silences_the_warnings(
    api_server: ApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _manifest(tmp_path, api_server.url)
    resource = _resource(tmp_path, start_date="2024-01-01", api_key="key-1")
    defs = _load(path, resource, streams=["items"])
    assert not _left_out(caplog)
    assert [a.key for a in defs.assets or ()] == [dg.AssetKey(["shop", "items"])]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"api_key": "key-1"}, "config is missing the required key 'start_date'"),
        ({"start_date": "January", "api_key": "key-1"}, "config key 'start_date' is invalid"),
        ({"start_date": "2024-01-01", "api_key": "s3cret"}, "config key 'api_key' is invalid"),
    ],
)
def test_plain_config_is_checked_when_the_definitions_load(
    api_server: ApiServer, tmp_path: Path, config: dict, message: str
) -> None:
    path = _manifest(tmp_path, api_server.url)
    with pytest.raises(ConfigError) as raised:
        _load(path, _resource(tmp_path, **config))
    assert message in str(raised.value)
    for value in config.values():
        assert value not in str(raised.value)


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (
            {},
            "config is missing the key 'api_key': it comes from the environment "
            "variable SHOP_KEY, which is not set",
        ),
        ({"SHOP_KEY": "s3cret"}, "config key 'api_key' is invalid"),
    ],
)
def test_config_from_the_environment_is_checked_by_the_run(
    api_server: ApiServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict,
    message: str,
) -> None:
    api_server.add_collection("/items", [{"id": 1}])
    monkeypatch.delenv("SHOP_KEY", raising=False)
    path = _manifest(tmp_path, api_server.url)
    resource = _resource(tmp_path, start_date="2024-01-01", api_key=dg.EnvVar("SHOP_KEY"))
    defs = _load(path, resource)  # the variable is not needed to load
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    result = dg.materialize(
        list(defs.assets or ()), resources=defs.resources, run_config=QUIET, raise_on_error=False
    )
    assert not result.success
    failures = [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    assert any(message in failure for failure in failures), failures
    assert not any("s3cret" in json.dumps(failure) for failure in failures)
