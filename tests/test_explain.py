"""``explain``: each stream's request, pagination, auth, slicing and Dagster partitioning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.slicing_manifests import date_cursor, legacy, modern, modern_stream

from engine import UnsupportedComponentError, load_manifest
from engine.explain.report import explain, render_text

URL = "http://127.0.0.1:9"
CORPUS = Path(
    os.environ.get("CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
CORPUS_MANIFESTS = sorted(CORPUS.glob("*/manifest.yaml")) if CORPUS.is_dir() else []
REGIONS = {"type": "ListPartitionRouter", "values": ["eu", "us"], "cursor_field": "region"}


def _parent_router() -> dict:
    return {
        "type": "SubstreamPartitionRouter",
        "parent_stream_configs": [
            {
                "type": "ParentStreamConfig",
                "stream": modern_stream(URL, "users", "/users"),
                "parent_key": "id",
                "partition_field": "user_id",
            }
        ],
    }


def _sliced_manifest() -> dict:
    daily = date_cursor(
        "2024-01-01T00:00:00Z", "2024-01-10T00:00:00Z", step="P1D", cursor_granularity="PT1S"
    )
    return modern(
        modern_stream(URL, "events", "/events", incremental=daily),
        modern_stream(URL, "by_region", "/regions", router=REGIONS),
        modern_stream(
            URL, "orders", "/users/{{ stream_partition.user_id }}/orders", router=_parent_router()
        ),
        modern_stream(URL, "grid", "/grid", router=[REGIONS, _parent_router()]),
        modern_stream(URL, "users", "/users"),
    )


def _by_name(explanation: dict) -> dict[str, dict]:
    return {s["name"]: s for s in explanation["streams"]}


def test_partitioning_follows_the_slicers():
    streams = _by_name(explain(_sliced_manifest()))
    daily = streams["events"]["partitioning"]
    assert (daily["kind"], daily["step"]) == ("daily", "P1D")
    assert daily["examples"][1] == {
        "key": "2024-01-02",
        "slice": {"start_time": "2024-01-02T00:00:00Z", "end_time": "2024-01-02T23:59:59Z"},
    }
    assert streams["events"]["cursor_field"] == ["updated_at"]
    cursor = streams["events"]["slicing"]["incremental_sync"]
    assert cursor["step"] == "P1D" and cursor["granularity"] == "PT1S"
    assert cursor["start_goes_to"] == "request_parameter 'updated_since'"
    assert streams["by_region"]["partitioning"]["kind"] == "static"
    assert streams["by_region"]["partitioning"]["keys"] == 2
    assert streams["orders"]["partitioning"]["kind"] == "dynamic"
    assert streams["orders"]["slicing"]["partition_router"]["parents"][0]["stream"] == "users"
    grid = streams["grid"]["partitioning"]
    assert grid["kind"] == "multi"
    assert [d["kind"] for d in grid["dimensions"]] == ["static", "dynamic"]
    assert streams["grid"]["slicing"]["partition_router"]["type"] == "product"
    assert streams["users"]["partitioning"]["kind"] == "none"
    assert streams["users"]["primary_key"] == [["id"]]
    assert streams["users"]["request"] == {"method": "GET", "url_base": URL, "path": "/users"}


def test_other_steps_get_time_windows_and_three_dimensions_none():
    six_hours = date_cursor("2024-01-01T00:00:00Z", None, step="PT6H")
    three = {"type": "ListPartitionRouter", "values": ["a"], "cursor_field": "kind"}
    streams = _by_name(
        explain(
            modern(
                modern_stream(URL, "six", "/six", incremental=six_hours),
                modern_stream(URL, "many", "/many", router=[REGIONS, three, _parent_router()]),
            )
        )
    )
    assert streams["six"]["partitioning"]["kind"] == "cron"
    assert streams["six"]["partitioning"]["cron"] == "0 0,6,12,18 * * *"
    three_days = _by_name(
        explain(
            modern(
                modern_stream(
                    URL,
                    "three",
                    "/three",
                    incremental=date_cursor("2024-01-01T00:00:00Z", None, step="P3D"),
                )
            )
        )
    )["three"]["partitioning"]
    assert (three_days["kind"], three_days["step"]) == ("listed", "P3D")
    assert [e["key"] for e in three_days["examples"]] == ["2024-01-01", "2024-01-04", "2024-01-07"]
    assert streams["many"]["partitioning"]["kind"] == "none"
    assert "read unpartitioned" in streams["many"]["partitioning"]["reason"]


def test_a_2022_manifest_is_explained():
    manifest = legacy(
        URL,
        "repos",
        "/repos",
        stream_slicer={
            "type": "ListStreamSlicer",
            "slice_values": ["a", "b"],
            "cursor_field": "repo",
        },
    )
    (stream,) = explain(manifest)["streams"]
    assert stream["name"] == "repos"
    assert stream["slicing"]["partition_router"]["type"] == "ListPartitionRouter"
    assert stream["partitioning"]["kind"] == "static"


def _unsupported_stream() -> dict:
    stream = modern_stream(URL, "report", "/report")
    stream["retriever"]["requester"]["authenticator"] = {
        "type": "LegacySessionTokenAuthenticator",
    }
    return stream


def test_unsupported_components_are_reported_by_path_and_the_rest_explained(tmp_path):
    manifest = modern(
        modern_stream(URL, "first", "/first"),
        _unsupported_stream(),
        modern_stream(URL, "third", "/third"),
        _unsupported_stream(),
        modern_stream(URL, "fifth", "/fifth"),
    )
    file = tmp_path / "manifest.yaml"
    file.write_text(yaml.safe_dump(manifest))
    with pytest.raises(UnsupportedComponentError) as refused:
        load_manifest(file)
    explanation = explain(file)
    assert [(s["name"], s["path"]) for s in explanation["streams"]] == [
        ("first", "streams[0]"),
        ("third", "streams[2]"),
        ("fifth", "streams[4]"),
    ]
    assert [u["path"] for u in explanation["unsupported"]] == [
        "streams[1].retriever.requester.authenticator",
        "streams[3].retriever.requester.authenticator",
    ]
    assert explanation["unsupported"][0]["message"] == str(refused.value)
    assert (
        "streams[3].retriever.requester.authenticator: LegacySessionTokenAuthenticator is not "
        "supported" in render_text(explanation)
    )


def test_an_async_job_stream_is_explained_as_create_poll_download():
    auth = {"type": "BearerAuthenticator", "api_token": "{{ config['key'] }}"}
    retriever = {
        "type": "AsyncRetriever",
        "creation_requester": {
            "type": "HttpRequester",
            "url_base": URL,
            "path": "/exports",
            "http_method": "POST",
            "authenticator": auth,
        },
        "polling_requester": {
            "url_base": URL,
            "path": "/exports/{{ creation_response['id'] }}",
            "authenticator": auth,
        },
        "download_requester": {"url_base": "", "path": "{{ download_target }}"},
        "delete_requester": {
            "url_base": URL,
            "path": "/exports/{{ creation_response['id'] }}",
            "http_method": "DELETE",
        },
        "status_mapping": {
            "running": ["pending"],
            "completed": ["ready"],
            "failed": ["failed"],
            "timeout": [],
        },
        "status_extractor": {"field_path": ["status"]},
        "download_target_extractor": {"field_path": ["urls"]},
        "download_decoder": {"type": "GzipDecoder", "decoder": {"type": "CsvDecoder"}},
        "polling_job_timeout": 15,
        "partition_router": REGIONS,
        "record_selector": {"extractor": {"field_path": []}},
    }
    stream = modern_stream(URL, "exports", "/unused")
    stream["retriever"] = retriever
    (explained,) = explain(modern(stream))["streams"]
    job = explained["request"]
    assert job["kind"] == "async job"
    assert job["create"] == {"method": "POST", "url_base": URL, "path": "/exports"}
    assert job["poll"]["path"] == "/exports/{{ creation_response['id'] }}"
    assert job["statuses"] == {"running": ["pending"], "completed": ["ready"], "failed": ["failed"]}
    assert job["status_from"] == ["status"] and job["download_targets_from"] == ["urls"]
    assert job["download"]["path"] == "{{ download_target }}"
    assert job["download_format"] == "GzipDecoder" and job["timeout_minutes"] == 15
    assert job["delete"]["method"] == "DELETE" and "abort" not in job
    assert explained["authentication"]["type"] == "BearerAuthenticator"
    assert explained["pagination"] == {"strategy": "none"}
    assert explained["partitioning"]["kind"] == "static"
    text = render_text(explain(modern(stream)))
    assert "request: async job (create=(method=POST" in text


def test_secrets_in_the_config_never_appear(tmp_path):
    manifest = modern(modern_stream(URL, "users", "/users"))
    requester = manifest["streams"][0]["retriever"]["requester"]
    requester["authenticator"] = {
        "type": "ApiKeyAuthenticator",
        "api_token": "{{ config['api_key'] }}",
        "inject_into": {"type": "RequestOption", "inject_into": "header", "field_name": "X-Key"},
    }
    requester["path"] = "/users/{{ config['account'] }}"
    manifest["spec"] = {
        "type": "Spec",
        "connection_specification": {
            "type": "object",
            "properties": {
                "api_key": {"type": "string", "airbyte_secret": True},
                "account": {"type": "string"},
            },
        },
    }
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    (tmp_path / "config.json").write_text(json.dumps({"api_key": "s3cr3t-k3y", "account": "a"}))
    for extra in ([], ["--json"]):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "engine",
                "explain",
                "--manifest",
                str(tmp_path / "manifest.yaml"),
                "--config",
                str(tmp_path / "config.json"),
                *extra,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "s3cr3t-k3y" not in result.stdout + result.stderr
        assert "header 'X-Key'" in result.stdout
    parsed = json.loads(result.stdout)
    assert parsed["streams"][0]["authentication"] == {
        "type": "ApiKeyAuthenticator",
        "credential_goes_to": "header 'X-Key'",
    }


def test_an_unloadable_manifest_is_one_line_on_stderr(tmp_path):
    (tmp_path / "manifest.yaml").write_text("type: DeclarativeSource\nstreams: 3\n")
    result = subprocess.run(
        [sys.executable, "-m", "engine", "explain", "--manifest", str(tmp_path / "manifest.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "missing its required field 'version'" in result.stderr


@pytest.mark.skipif(not CORPUS_MANIFESTS, reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize("manifest", CORPUS_MANIFESTS, ids=lambda p: p.parent.name)
def test_every_corpus_manifest_is_explained(manifest: Path):
    explanation = explain(manifest)
    assert explanation["streams"]
    assert all(s["partitioning"]["kind"] != "unknown" for s in explanation["streams"]), [
        (s["name"], s["partitioning"]) for s in explanation["streams"]
    ]
    assert render_text(explanation)


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [("step", "P1X", "Invalid duration 'P1X'"), ("path", "/{{ config['x' }}", "template")],
)
def test_explain_exits_non_zero_when_a_stream_cannot_be_built(
    tmp_path: Path, setting: str, value: str, problem: str
) -> None:
    cursor = date_cursor("2024-01-01T00:00:00Z", None, step="P1D")
    stream = modern_stream(URL, "events", "/events", incremental=cursor)
    if setting == "step":
        cursor["step"] = value
    else:
        stream["retriever"]["requester"]["path"] = value
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(modern(stream)))
    result = subprocess.run(
        [sys.executable, "-m", "engine", "explain", "--manifest", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "streams that cannot be built: events" in result.stderr
    assert problem in result.stdout


def test_a_state_delegating_stream_shows_its_request_and_authenticator() -> None:
    incremental = modern_stream(URL, "events", "/events/changes")
    incremental["retriever"]["requester"]["authenticator"] = {
        "type": "BearerAuthenticator",
        "api_token": "{{ config['token'] }}",
    }
    full = modern_stream(URL, "events", "/events")
    full["retriever"]["requester"]["authenticator"] = incremental["retriever"]["requester"][
        "authenticator"
    ]
    delegating = {
        "type": "StateDelegatingStream",
        "name": "events",
        "full_refresh_stream": full,
        "incremental_stream": incremental,
    }
    (stream,) = explain(modern(delegating))["streams"]
    assert stream["authentication"]["type"] == "BearerAuthenticator"
    assert stream["request"]["path"] == "/events/changes"
    assert stream["request"]["first_sync_reads"] == f"GET {URL}/events"
