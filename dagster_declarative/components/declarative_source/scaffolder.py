"""``dg scaffold defs dagster_declarative.DeclarativeSourceComponent <name>``: a commented
``defs.yaml`` and a starter manifest with a spec and a schema, in ``defs/<name>/``."""

from __future__ import annotations

import dagster as dg
from dagster.components.component_scaffolding import scaffold_component

from dagster_declarative.translator import sanitize_name

_MANIFEST = """\
# An Airbyte low-code (declarative) manifest: one stream, read from a REST API.
# Templates such as {{ config['api_key'] }} are rendered by the engine at run time, never by
# Dagster. `python -m engine explain --manifest manifest.yaml` shows what it will do.
version: 6.0.0                  # the dialect: today's low-code CDK
type: DeclarativeSource
check:                          # `python -m engine check` reads one record of these streams
  type: CheckStream
  stream_names: [items]
spec:                           # the config this manifest needs, checked when definitions load
  type: Spec
  connection_specification:
    type: object
    required: [api_key, start_date]
    properties:
      api_key:                  # a secret: masked in every log, error and metadata value
        type: string
        airbyte_secret: true
      start_date:               # the first daily partition
        type: string
        format: date-time
streams:
  - type: DeclarativeStream
    name: items                 # the asset becomes <source_name>/items
    description: Items of the example API.  # shown as the asset's description
    primary_key: id             # rows are upserted on it
    schema_loader:              # the columns of the warehouse table and the schema check
      type: InlineSchemaLoader
      schema:
        type: object
        properties:
          id: {type: integer}
          name: {type: [string, "null"]}
          updated_at: {type: string, format: date-time}
    incremental_sync:           # daily windows: one Dagster partition per day
      type: DatetimeBasedCursor
      cursor_field: updated_at
      datetime_format: "%Y-%m-%dT%H:%M:%SZ"
      start_datetime: "{{ config['start_date'] }}"
      end_datetime: "{{ now_utc().strftime('%Y-%m-%dT%H:%M:%SZ') }}"
      step: P1D                 # any ISO-8601 step works (P3D, PT6H, P1M...)
      cursor_granularity: PT1S
      start_time_option: {type: RequestOption, inject_into: request_parameter, field_name: since}
      end_time_option: {type: RequestOption, inject_into: request_parameter, field_name: until}
    retriever:
      type: SimpleRetriever
      requester:
        type: HttpRequester
        url_base: "https://api.example.com"   # replace with your API
        path: /items
        authenticator:          # the key goes in a header, from the config
          type: ApiKeyAuthenticator
          header: X-Api-Key
          api_token: "{{ config['api_key'] }}"
      record_selector:          # records are the body's `data` list
        type: RecordSelector
        extractor: {type: DpathExtractor, field_path: [data]}
      paginator:                # `page=1, 2, ...` until a page is shorter than 100
        type: DefaultPaginator
        pagination_strategy: {type: PageIncrement, page_size: 100, start_from_page: 1}
        page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
        page_size_option: {type: RequestOption, inject_into: request_parameter, field_name: limit}
"""

_DEFS = """\
# A declarative (Airbyte low-code) source: every stream of the manifest becomes an asset.
type: dagster_declarative.DeclarativeSourceComponent

attributes:
  # The manifest, relative to this folder (kept in its own file so that Dagster never renders
  # its {{{{ config[...] }}}} templates).
  manifest_path: manifest.yaml
  # Asset keys are <source_name>/<stream>; the warehouse schema takes this name too.
  source_name: {source}
  # Plain config values, taken literally and checked against the manifest's spec at load.
  config:
    start_date: "2024-01-01T00:00:00Z"
  # Secrets: config key -> environment variable, read (and checked) by each run.
  env_config:
    api_key: {variable}
  # Optional: load only these streams (default: every stream that can be built).
  # streams: [items]
  # Optional: where cursor state and rows go (default: SQLite and DuckDB files under
  # $DAGSTER_HOME/declarative).
  # state_url: sqlite:////absolute/path/state.db
  # warehouse_url: duckdb:////absolute/path/warehouse.duckdb
  # Optional: slices read at once (default: the manifest's concurrency_level, else 1).
  # concurrency: 4
  # Optional: change keys, groups, metadata per stream ({{{{ stream_name }}}} is available).
  # translation:
  #   group_name: {source}_raw

# Environment variables this component reads, listed by `dg list envs`.
requirements:
  env: [{variable}]
"""


class DeclarativeSourceScaffolder(dg.Scaffolder):
    """Writes a commented ``defs.yaml`` and a starter ``manifest.yaml`` next to it."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        source = sanitize_name(request.target_path.name)
        if request.scaffold_format != "yaml" or request.append:
            scaffold_component(request, {"manifest_path": "manifest.yaml", "source_name": source})
            return
        request.target_path.mkdir(parents=True, exist_ok=True)
        manifest = request.target_path / "manifest.yaml"
        if not manifest.exists():
            manifest.write_text(_MANIFEST)
        variable = f"{source.upper()}_API_KEY"
        (request.target_path / "defs.yaml").write_text(
            _DEFS.format(source=source, variable=variable)
        )
