"""Small manifests in both dialects for tests, built around one stream.

``modern(...)`` and ``legacy(...)`` return YAML text for the same connector so that a test can
run one scenario through both dialects: the stream reads ``path`` from ``url`` with the given
paginator / authenticator / error handler snippets (written in each dialect's own words).
"""

from __future__ import annotations

import textwrap


def _indent(text: str, spaces: int) -> str:
    return textwrap.indent(textwrap.dedent(text).strip("\n"), " " * spaces)


def modern(
    url: str,
    path: str = "/items",
    *,
    field_path: str = "[data]",
    paginator: str = "type: NoPagination",
    authenticator: str = "type: NoAuth",
    error_handler: str | None = None,
    extra_stream: str = "",
    extra_requester: str = "",
    spec_properties: str = "token: {type: string, airbyte_secret: true}",
) -> str:
    handler = f"error_handler:\n{_indent(error_handler, 2)}" if error_handler else ""
    return f"""
version: 6.0.0
type: DeclarativeSource
check: {{type: CheckStream, stream_names: [items]}}
definitions:
  requester:
    type: HttpRequester
    url_base: "{url}"
    authenticator:
{_indent(authenticator, 6)}
{_indent(handler, 4)}
{_indent(extra_requester, 4)}
streams:
  - type: DeclarativeStream
    name: items
    primary_key: id
    $parameters:
      path: "{path}"
    retriever:
      type: SimpleRetriever
      requester:
        $ref: "#/definitions/requester"
      record_selector:
        type: RecordSelector
        extractor: {{type: DpathExtractor, field_path: {field_path}}}
      paginator:
{_indent(paginator, 8)}
{_indent(extra_stream, 4)}
    schema_loader:
      type: InlineSchemaLoader
      schema: {{type: object, properties: {{id: {{type: integer}}}}}}
spec:
  type: Spec
  connection_specification:
    type: object
    properties:
{_indent(spec_properties, 6)}
"""


def legacy(
    url: str,
    path: str = "/items",
    *,
    field_pointer: str = "[data]",
    paginator: str = "type: NoPagination",
    authenticator: str = "type: NoAuth",
    error_handler: str | None = None,
    extra_stream: str = "",
    extra_requester: str = "",
    spec_properties: str = "token: {type: string, airbyte_secret: true}",
) -> str:
    handler = f"error_handler:\n{_indent(error_handler, 2)}" if error_handler else ""
    return f"""
version: "0.1.0"
definitions:
  requester:
    type: HttpRequester
    name: "{{{{ options['name'] }}}}"
    url_base: "{url}"
    path: "{path}"
    authenticator:
{_indent(authenticator, 6)}
{_indent(handler, 4)}
{_indent(extra_requester, 4)}
  retriever:
    type: SimpleRetriever
    name: "{{{{ options['name'] }}}}"
    primary_key: "{{{{ options['primary_key'] }}}}"
    record_selector:
      extractor:
        field_pointer: {field_pointer}
    paginator:
{_indent(paginator, 6)}
    requester:
      $ref: "*ref(definitions.requester)"
streams:
  - type: DeclarativeStream
    $options:
      name: items
      primary_key: id
      url_base: "{url}"
    retriever:
      $ref: "*ref(definitions.retriever)"
{_indent(extra_stream, 4)}
check:
  stream_names: [items]
spec:
  documentation_url: https://example.test/docs
  connection_specification:
    type: object
    properties:
{_indent(spec_properties, 6)}
"""


DIALECTS = {"modern": modern, "legacy": legacy}


def page_paginator(page_size: int) -> dict:
    """A DefaultPaginator sending ``page`` (from 1) and ``per_page`` as query parameters."""

    def parameter(name: str) -> dict:
        return {"type": "RequestOption", "inject_into": "request_parameter", "field_name": name}

    return {
        "type": "DefaultPaginator",
        "pagination_strategy": {
            "type": "PageIncrement",
            "page_size": page_size,
            "start_from_page": 1,
        },
        "page_token_option": parameter("page"),
        "page_size_option": parameter("per_page"),
    }
