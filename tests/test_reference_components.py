"""Declarative components that airbyte-cdk implements and this engine does not
(RateLimitedMultipleTokenAuthenticator, DynamicSchemaLoader): built by airbyte-cdk's own class
with the ``airbyte`` extra, presented to the engine by the adapter of their family, against a
real local API. Without the extra, the error names the component and the extra."""

from __future__ import annotations

import time

import pytest
from manifests import modern
from support.api_server import ApiServer, Response
from test_custom_without_cdk import run_without_cdk

from engine import load_source

RATE_LIMITED = """
type: RateLimitedMultipleTokenAuthenticator
tokens: "{{{{ config['token'] }}}}"
auth_method: token
quota_status_source: {{type: QuotaStatusSource, url: "{url}/rate_limit"}}
quotas:
  - type: TokenQuota
    name: rest
    remaining_path: [core, remaining]
    reset_path: [core, reset]
"""

DYNAMIC_SCHEMA = """
    schema_loader:
      type: DynamicSchemaLoader
      retriever:
        type: SimpleRetriever
        requester: {{type: HttpRequester, url_base: "{url}", path: /fields}}
        record_selector:
          type: RecordSelector
          extractor: {{type: DpathExtractor, field_path: []}}
      schema_type_identifier:
        schema_pointer: [fields]
        key_pointer: [name]
        type_pointer: [kind]
        types_mapping: [{{target_type: integer, current_type: int}}]
"""


def _rate_limited(api_server: ApiServer, remaining: dict[str, int]) -> None:
    reset = int(time.time()) + 3600

    def quota(request):
        token = request.headers["authorization"].removeprefix("token ")
        return Response(200, {"core": {"remaining": remaining[token], "reset": reset}})

    api_server.add_route("GET", "/rate_limit", quota)
    api_server.add_route("GET", "/items", lambda r: Response(200, {"data": [{"id": 1}]}))


def test_tokens_rotate_as_the_reference_rotates_them(api_server, tmp_path):
    _rate_limited(api_server, {"first-secret": 1, "second-secret": 100})
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        modern(api_server.url, authenticator=RATE_LIMITED.format(url=api_server.url))
    )
    source = load_source(manifest, {"token": "first-secret,second-secret"})
    stream = source.streams["items"]
    assert list(stream.read_records()) == [{"id": 1}]
    assert list(stream.read_records()) == [{"id": 1}]
    sent = [
        (r.path, r.headers["authorization"]) for r in api_server.requests if r.path != "/rate_limit"
    ]
    # The first token has one call left: the second request goes out with the other one.
    assert sent == [("/items", "token first-secret"), ("/items", "token second-secret")]
    seeded = sorted(
        r.headers["authorization"] for r in api_server.requests if r.path == "/rate_limit"
    )
    assert seeded == ["token first-secret", "token second-secret"]
    assert "second-secret" not in source.masker.mask("sent token second-secret")
    source.close()


def test_a_schema_read_from_the_api_as_the_reference_reads_it(api_server, tmp_path):
    fields = [{"name": "id", "kind": "int"}, {"name": "title"}, {"name": "score", "kind": "number"}]
    api_server.add_route("GET", "/fields", lambda r: Response(200, {"fields": fields}))
    text = modern(api_server.url).replace(
        "    schema_loader:\n      type: InlineSchemaLoader\n"
        "      schema: {type: object, properties: {id: {type: integer}}}\n",
        DYNAMIC_SCHEMA.format(url=api_server.url),
    )
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(text)
    source = load_source(manifest, {"token": "t" * 8})
    (entry,) = source.discover()
    assert entry["json_schema"]["properties"] == {
        "id": {"type": ["null", "integer"]},
        "title": {"type": ["null", "string"]},
        "score": {"type": ["null", "number"]},
    }
    source.close()


@pytest.mark.parametrize("name", ["RateLimitedMultipleTokenAuthenticator", "DynamicSchemaLoader"])
def test_without_airbyte_cdk_the_error_names_the_component_and_the_extra(name, tmp_path):
    url = "http://127.0.0.1:9"
    text = modern(url, authenticator=RATE_LIMITED.format(url=url))
    if name == "DynamicSchemaLoader":
        text = modern(url).replace(
            "    schema_loader:\n      type: InlineSchemaLoader\n"
            "      schema: {type: object, properties: {id: {type: integer}}}\n",
            DYNAMIC_SCHEMA.format(url=url),
        )
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(text)
    outcome = run_without_cdk(manifest)
    assert f"{name} runs through airbyte-cdk's own class" in outcome["error"]
    assert "pip install 'dagster-declarative[airbyte]'" in outcome["error"]
