"""``dg scaffold defs dagster_declarative.DeclarativeSourceComponent <name>``: a commented
``defs.yaml`` and a starter manifest with a spec and a schema, in ``defs/<name>/`` (both
written from the files beside this module)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster.components.component_scaffolding import scaffold_component

from dagster_declarative.translator import sanitize_name

_HERE = Path(__file__).parent
_MANIFEST = _HERE / "starter_manifest.yaml"
_DEFS = _HERE / "starter_defs.yaml"
"""``defs.yaml``, in which ``{source}`` and ``{variable}`` are filled in."""


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
            manifest.write_text(_MANIFEST.read_text())
        variable = f"{source.upper()}_API_KEY"
        defs = _DEFS.read_text().replace("{source}", source).replace("{variable}", variable)
        (request.target_path / "defs.yaml").write_text(defs)
