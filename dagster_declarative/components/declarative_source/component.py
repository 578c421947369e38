"""``DeclarativeSourceComponent``: what a user writes in ``defs.yaml`` to get a source's assets
(every attribute is shown, commented, in ``starter_defs.yaml``, which ``dg scaffold defs`` writes
with a starter manifest).

The manifest stays in its own file so Dagster's templating never touches its ``{{ config[...] }}``
expressions; ``config`` is declared with ``inject_before_resolve=False`` for the same reason.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import dagster as dg
from dagster.components.component_scaffolding import scaffold_component
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver

from dagster_declarative.asset_builder import build_declarative_definitions
from dagster_declarative.resource import DeclarativeSourceResource
from dagster_declarative.translator import DeclarativeTranslator, StreamDescription, sanitize_name

_HERE = Path(__file__).parent


class DeclarativeSourceScaffolder(dg.Scaffolder):
    """``dg scaffold defs dagster_declarative.DeclarativeSourceComponent <name>``: a commented
    ``defs.yaml`` and a starter ``manifest.yaml`` with a spec and a schema, in ``defs/<name>/``."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        source = sanitize_name(request.target_path.name)
        if request.scaffold_format != "yaml" or request.append:
            scaffold_component(request, {"manifest_path": "manifest.yaml", "source_name": source})
            return
        request.target_path.mkdir(parents=True, exist_ok=True)
        manifest = request.target_path / "manifest.yaml"
        if not manifest.exists():
            manifest.write_text((_HERE / "starter_manifest.yaml").read_text())
        variable = f"{source.upper()}_API_KEY"
        defs = (_HERE / "starter_defs.yaml").read_text()
        defs = defs.replace("{source}", source).replace("{variable}", variable)
        (request.target_path / "defs.yaml").write_text(defs)


def _stream_template_vars(data: StreamDescription) -> dict[str, Any]:
    return {"stream": data, "stream_name": data.stream_name, "source_name": data.source_name}


class _TranslationFnTranslator(DeclarativeTranslator):
    """Applies the ``translation:`` block of defs.yaml on top of the default spec."""

    def __init__(self, fn: TranslationFn[StreamDescription]) -> None:
        self._fn = fn

    def get_asset_spec(self, data: StreamDescription) -> dg.AssetSpec:
        return self._fn(super().get_asset_spec(data), data)


@dg.scaffold_with(DeclarativeSourceScaffolder)
@dataclass
class DeclarativeSourceComponent(dg.Component, dg.Resolvable):
    """Every stream of a declarative (Airbyte low-code) manifest as a Dagster asset."""

    manifest_path: str
    source_name: str | None = None
    config: Annotated[
        dict[str, Any],
        dg.Resolver(
            lambda _context, value: value,
            model_field_type=dict[str, Any],
            inject_before_resolve=False,
            description="Connector config values, taken literally (no templating).",
        ),
    ] = field(default_factory=dict)
    env_config: dict[str, str] = field(default_factory=dict)
    state_url: str | None = None
    warehouse_url: str | None = None
    streams: list[str] | None = None
    concurrency: int | None = None
    check_schema: bool = False
    translation: (
        Annotated[
            TranslationFn[StreamDescription],
            TranslationFnResolver(template_vars_for_translation_fn=_stream_template_vars),
        ]
        | None
    ) = None

    def get_translator(self) -> DeclarativeTranslator:
        if self.translation is None:
            return DeclarativeTranslator()
        return _TranslationFnTranslator(self.translation)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        manifest = context.path / self.manifest_path
        source_name = self.source_name or sanitize_name(manifest.stem)
        resource = DeclarativeSourceResource(
            config={
                **self.config,
                **{key: dg.EnvVar(name) for key, name in self.env_config.items()},
            },
            state_url=self.state_url,
            warehouse_url=self.warehouse_url,
            concurrency=self.concurrency,
        )
        return build_declarative_definitions(
            manifest,
            resource=resource,
            source_name=source_name,
            streams=self.streams,
            translator=self.get_translator(),
            resource_key=f"declarative_{sanitize_name(source_name)}",
            check_schema=self.check_schema,
        )
