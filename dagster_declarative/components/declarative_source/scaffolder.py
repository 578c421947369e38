"""``dg scaffold defs DeclarativeSourceComponent <path>``: a defs.yaml pointing at a manifest."""

from __future__ import annotations

import dagster as dg
from dagster.components.component_scaffolding import scaffold_component

_MANIFEST = """\
# An Airbyte low-code (declarative) manifest. Templates such as {{ config['api_key'] }} are
# rendered by the engine at run time, never by Dagster.
version: 6.0.0
type: DeclarativeSource
check: {type: CheckStream, stream_names: [items]}
streams:
  - type: DeclarativeStream
    name: items
    primary_key: id
    retriever:
      type: SimpleRetriever
      requester: {type: HttpRequester, url_base: "https://api.example.com", path: /items}
      record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: []}}
"""


class DeclarativeSourceScaffolder(dg.Scaffolder):
    """Writes ``defs.yaml`` and a starter ``manifest.yaml`` next to it."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        manifest = request.target_path / "manifest.yaml"
        if not manifest.exists():
            request.target_path.mkdir(parents=True, exist_ok=True)
            manifest.write_text(_MANIFEST)
        scaffold_component(
            request,
            {"manifest_path": "manifest.yaml", "source_name": request.target_path.name},
        )
