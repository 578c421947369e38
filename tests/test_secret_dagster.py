"""Failing Dagster runs say nothing secret: event log, console, compute logs (issue 15).

The secrets come from an ``EnvVar`` that the manifest's spec does not mark secret and from the
warehouse URL's password, and the step fails in ways the engine does not raise itself:
``requests`` refusing a header or a URL's scheme, a decoder quoting a body the API echoed the
secret into, a database driver failing to connect.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from manifests import modern
from support.api_server import Handler, Response

from dagster_declarative import DeclarativeSourceResource, build_declarative_assets
from dagster_declarative.parent_ids import discover_keys
from engine import EngineError, load_manifest

SENTINEL = "SENTINEL-5a7d-dagster"
KEY_HEADER = "type: ApiKeyAuthenticator\napi_token: \"{{ config['ref'] }}\"\nheader: X-API-Key"


def run_failing(tmp_path: Path, manifest: str, **resource: object) -> str:
    """Materialize the manifest's stream (it fails); everything the run left, as text."""
    path = tmp_path / "shop.yaml"
    path.write_text(manifest)
    (asset,) = build_declarative_assets(path)
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={
                "declarative_source": DeclarativeSourceResource(
                    config={"ref": dg.EnvVar("DD_HOSTILE_TOKEN")},
                    state_url=f"sqlite:///{tmp_path / 'state.db'}",
                    **{"warehouse_url": f"duckdb:///{tmp_path / 'wh.duckdb'}", **resource},
                )
            },
            run_config={"loggers": {"console": {"config": {"log_level": "DEBUG"}}}},
            raise_on_error=False,
        )
        assert not result.success
        logged = [
            str(record.dagster_event or "") + str(record.user_message)
            for record in instance.all_logs(result.run_id)
        ]
    stored = [
        file.read_bytes().decode("utf-8", "replace") for file in home.rglob("*") if file.is_file()
    ]
    return "\n".join(logged + stored)


ACCOUNT = "request_parameters: {account: \"{{ config['ref'] }}\"}"
FAST_FAILURE = "{type: DefaultErrorHandler, max_retries: 1, backoff_strategies: [{type: \
ConstantBackoffStrategy, backoff_time_in_seconds: 0.001}]}"


def _answers(status: int, body: object) -> Handler:
    return lambda request: Response(status, body)


def _echoes(status: int) -> Handler:
    """An API answering with what it was sent: the query, so the secret, in a body that the
    JSON decoder can (400) or cannot (200) read."""
    return lambda request: (
        Response(400, {"q": request.query})
        if status == 400
        else Response(200, f"<html>{request.query}", {"Content-Type": "text/html"})
    )


# name: (resource fields, the EnvVar's value, the API, the manifest's url and requester, expected)
FAILURES = {
    # requests refuses the header (a key read with a trailing newline): InvalidHeader
    "header": (
        {},
        SENTINEL + "\n",
        _answers(200, {"data": [{"id": 1}]}),
        (None, {"authenticator": KEY_HEADER}),
        "InvalidHeader",
    ),
    # requests has no adapter for the URL's scheme: InvalidSchema quoting the URL
    "schema": (
        {},
        f"htp://127.0.0.1:1/?key={SENTINEL}",
        _answers(200, {"data": []}),
        ("{{ config['ref'] }}", {"path": ""}),
        "InvalidSchema",
    ),
    # the API echoes a value that only the EnvVar makes secret (sent as a plain parameter)
    "echo": ({}, SENTINEL, _echoes(400), (None, {"extra_requester": ACCOUNT}), "status 400"),
    # ... in a body the JSON decoder cannot read (quoted in the error)
    "decoder": (
        {},
        SENTINEL,
        _echoes(200),
        (None, {"extra_requester": ACCOUNT, "error_handler": FAST_FAILURE}),
        "could not be decoded",
    ),
    # the warehouse cannot be reached: a driver's exception, not the engine's
    "warehouse": (
        {"warehouse_url": f"postgresql+psycopg://someone:{SENTINEL}@127.0.0.1:1/nowhere"},
        "token-of-no-interest",
        _answers(200, {"data": [{"id": 1}]}),
        (None, {"authenticator": KEY_HEADER}),
        "unexpected OperationalError",
    ),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_failing_run_leaks_nothing_anywhere(api_server, tmp_path, monkeypatch, capfd, failure):
    resource, token, handler, (url, options), expected = FAILURES[failure]
    monkeypatch.setenv("DD_HOSTILE_TOKEN", token)
    api_server.add_route("GET", "/items", handler)
    manifest = modern(url or api_server.url, spec_properties="o: {}", **options)
    everything = run_failing(tmp_path, manifest, **resource)
    console = capfd.readouterr()
    everything += console.out + console.err
    assert expected in everything
    assert SENTINEL not in everything


def test_the_parent_id_sensor_fails_masked(api_server, tmp_path, monkeypatch):
    """The sensor reads the parent stream itself: its failure is masked like a run's."""
    monkeypatch.setenv("DD_HOSTILE_TOKEN", SENTINEL)
    api_server.add_route("GET", "/items", lambda request: Response(400, {"q": request.query}))
    account = "request_parameters: {account: \"{{ config['ref'] }}\"}"
    child = """
  - type: DeclarativeStream
    name: notes
    schema_loader: {type: InlineSchemaLoader, schema: {type: object}}
    retriever:
      type: SimpleRetriever
      requester: {type: HttpRequester, url_base: "URL", path: "/notes/{{ stream_partition.id }}"}
      record_selector:
        type: RecordSelector
        extractor: {type: DpathExtractor, field_path: [data]}
      partition_router:
        type: SubstreamPartitionRouter
        parent_stream_configs:
          - type: ParentStreamConfig
            stream: {$ref: "#/streams/0"}
            parent_key: id
            partition_field: id
"""
    text = modern(api_server.url, extra_requester=account, spec_properties="o: {}")
    text = text.replace("\nspec:", child.replace("URL", api_server.url) + "\nspec:", 1)
    resource = DeclarativeSourceResource(config={"ref": dg.EnvVar("DD_HOSTILE_TOKEN")})
    with pytest.raises(EngineError) as caught:
        discover_keys(resource, load_manifest(text), "notes")
    assert "status 400" in str(caught.value)
    assert SENTINEL not in str(caught.value)
