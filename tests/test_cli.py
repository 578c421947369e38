"""The Airbyte-protocol command line, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

from manifests import modern
from support.api_server import BearerAuth, Pagination

RECORDS = [{"id": i} for i in range(12)]
PAGINATOR = """
type: DefaultPaginator
page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
pagination_strategy: {type: PageIncrement, page_size: 5, start_from_page: 1}
"""


def run(*args: str) -> tuple[int, list[dict]]:
    done = subprocess.run(
        [sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=60
    )
    assert done.stderr == "", done.stderr
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def setup(api_server, tmp_path, token="t0ken-secret"):
    api_server.add_collection(
        "/items",
        RECORDS,
        pagination=Pagination("page", page_size=5),
        auth=BearerAuth("t0ken-secret"),
    )
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        modern(
            api_server.url,
            paginator=PAGINATOR,
            authenticator="type: BearerAuthenticator\napi_token: \"{{ config['token'] }}\"",
        )
    )
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"token": token}))
    return str(manifest), str(config)


def test_spec_check_discover_read(api_server, tmp_path):
    manifest, config = setup(api_server, tmp_path)
    code, [spec] = run("spec", "--manifest", manifest)
    assert code == 0 and spec["type"] == "SPEC"
    assert spec["spec"]["connectionSpecification"]["properties"]["token"]["airbyte_secret"]
    code, [status] = run("check", "--manifest", manifest, "--config", config)
    assert status == {"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED"}}
    code, [catalog] = run("discover", "--manifest", manifest, "--config", config)
    stream = catalog["catalog"]["streams"][0]
    assert stream["name"] == "items" and stream["source_defined_primary_key"] == [["id"]]
    assert stream["json_schema"]["properties"]["id"] == {"type": "integer"}
    code, messages = run("read", "--manifest", manifest, "--config", config)
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert code == 0 and [r["data"] for r in records] == RECORDS
    assert all(r["stream"] == "items" and isinstance(r["emitted_at"], int) for r in records)
    assert messages[-1] == {
        "type": "LOG",
        "log": {"level": "INFO", "message": "Read 12 records from items stream"},
    }


def test_failures_are_trace_messages_without_secrets(api_server, tmp_path):
    manifest, config = setup(api_server, tmp_path, token="wrong-secret-value")
    code, [status] = run("check", "--manifest", manifest, "--config", config)
    assert status["connectionStatus"]["status"] == "FAILED"
    assert code == 0, "the Airbyte protocol reports a failed check with exit code 0"
    assert "wrong-secret-value" not in json.dumps(status)
    code, [again] = run("check", "--manifest", manifest, "--config", config, "--exit-code")
    assert code == 1 and again == status
    code, messages = run("read", "--manifest", manifest, "--config", config)
    assert code == 1
    trace = messages[-1]["trace"]
    assert trace["type"] == "ERROR" and "status 401" in trace["error"]["message"]
    assert "wrong-secret-value" not in json.dumps(messages)


def test_bad_manifest_is_a_trace_error(tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("version: 6.0.0\ntype: DeclarativeSource\nstreams: [\n")
    code, [message] = run("spec", "--manifest", str(manifest))
    assert code == 1 and message["trace"]["error"]["failure_type"] == "config_error"
    assert "invalid YAML" in message["trace"]["error"]["message"]


def test_missing_config_file(tmp_path, api_server):
    manifest, _ = setup(api_server, tmp_path)
    code, [message] = run("read", "--manifest", manifest, "--config", str(tmp_path / "nope.json"))
    assert code == 1 and "cannot read the config file" in message["trace"]["error"]["message"]


def test_help_lists_every_command():
    done = subprocess.run(
        [sys.executable, "-m", "engine", "--help"], capture_output=True, text=True, timeout=60
    )
    for command in ("spec", "check", "discover", "read", "state", "explain"):
        assert f"\n    {command} " in done.stdout, command


def test_spec_imports_no_http_template_or_json_schema_code(api_server, tmp_path):
    """Start-up is a feature (see `python -m bench startup_spec`): spec loads the manifest and
    nothing it has no use for."""
    manifest, _config = setup(api_server, tmp_path)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "engine", "spec", "--manifest", manifest],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and '"type":"SPEC"' in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    unwanted = {
        "requests",
        "urllib3",
        "jinja2",
        "jsonschema",
        "engine.http.client",
        "engine.factory",
    }
    assert not imported & unwanted, sorted(imported & unwanted)


def test_check_imports_no_state_store(api_server, tmp_path):
    """``check`` keeps no state: neither SQLAlchemy nor the store load (they are half of its
    start-up time; see `python -m bench startup_check`), whatever package a module lives in."""
    manifest, config = setup(api_server, tmp_path)
    command = ["check", "--manifest", manifest, "--config", config]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "engine", *command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert '"status":"SUCCEEDED"' in done.stdout, done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert not imported & {"sqlalchemy", "engine.state.store"}, sorted(imported)
