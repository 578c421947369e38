"""Building one asset per stream of a manifest, as a function, a decorator and full Definitions."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import orjson

from dagster_declarative import checks, partitions
from dagster_declarative.execution import StreamTarget, materialize_stream
from dagster_declarative.parent_ids import ChildKeys, build_parent_id_sensor, child_keys_by_parent
from dagster_declarative.resource import DeclarativeSourceResource
from dagster_declarative.schedules import build_stream_schedules
from dagster_declarative.translator import DeclarativeTranslator, StreamDescription, sanitize_name
from engine import ConfigError, Manifest, load_manifest, load_source

DEFAULT_RESOURCE_KEY = "declarative_source"


def describe_streams(
    manifest: Manifest,
    *,
    source_name: str,
    config: Mapping[str, Any] | None = None,
    streams: Sequence[str] | None = None,
    destination_kind: str = "duckdb",
) -> list[StreamDescription]:
    """The description of each selected stream (config only shapes slicing, never secrets)."""
    source = load_source(manifest, _definition_config(manifest, config or {}))
    available = source.streams
    names = list(streams) if streams is not None else list(available)
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ConfigError(
            f"the manifest has no stream(s) {', '.join(unknown)}; it has {', '.join(available)}"
        )
    digest = manifest_hash(manifest)
    result = []
    for name in names:
        stream = available[name]
        result.append(
            StreamDescription(
                source_name=source_name,
                stream_name=name,
                primary_key=tuple(tuple(path) for path in stream.primary_key),
                cursor_field=tuple(stream.cursor_field),
                json_schema=stream.json_schema,
                slicer_kind=partitions.slicer_kind(stream),
                parents=tuple(stream.parent_streams),
                manifest_hash=digest,
                destination_kind=destination_kind,
                slicer=stream.slicer,
            )
        )
    _refuse_collisions(result)
    return result


def build_declarative_assets(
    manifest: str | Path | Mapping[str, Any] | Manifest,
    *,
    source_name: str | None = None,
    config: Mapping[str, Any] | None = None,
    streams: Sequence[str] | None = None,
    translator: DeclarativeTranslator | None = None,
    resource_key: str = DEFAULT_RESOURCE_KEY,
    destination_kind: str = "duckdb",
    check_schema: bool = True,
) -> list[dg.AssetsDefinition]:
    """One asset per stream, each in its own op, partitioned the way the stream is sliced.

    ``config`` is used only to build the streams at definition time (a slicer's start date may
    come from it); the run reads its config, with secrets, from the resource under
    ``resource_key``.
    """
    loaded, descriptions = _described(manifest, source_name, config, streams, destination_kind)
    chosen = translator or DeclarativeTranslator()
    return _stream_assets(loaded, descriptions, chosen, resource_key, check_schema)


def declarative_assets(
    *,
    manifest: str | Path | Mapping[str, Any] | Manifest,
    source_name: str | None = None,
    config: Mapping[str, Any] | None = None,
    streams: Sequence[str] | None = None,
    translator: DeclarativeTranslator | None = None,
    resource_key: str = DEFAULT_RESOURCE_KEY,
) -> Callable[[Callable[..., Any]], list[dg.AssetsDefinition]]:
    """Decorator variant: the decorated function receives ``(context, resource, target)`` and
    yields events, typically ``yield from materialize_stream(context, resource, target)`` wrapped
    with extra work; it runs once per stream asset."""

    def decorate(fn: Callable[..., Any]) -> list[dg.AssetsDefinition]:
        loaded, descriptions = _described(manifest, source_name, config, streams)
        chosen = translator or DeclarativeTranslator()
        return _stream_assets(loaded, descriptions, chosen, resource_key, True, body=fn)

    return decorate


def _described(
    manifest: str | Path | Mapping[str, Any] | Manifest,
    source_name: str | None,
    config: Mapping[str, Any] | None,
    streams: Sequence[str] | None,
    destination_kind: str = "duckdb",
) -> tuple[Manifest, list[StreamDescription]]:
    """The loaded manifest and the descriptions of its selected streams."""
    loaded = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    name = source_name or default_source_name(loaded)
    descriptions = describe_streams(
        loaded, source_name=name, config=config, streams=streams, destination_kind=destination_kind
    )
    return loaded, descriptions


def build_declarative_definitions(
    manifest: str | Path | Mapping[str, Any] | Manifest,
    *,
    resource: DeclarativeSourceResource,
    source_name: str | None = None,
    streams: Sequence[str] | None = None,
    translator: DeclarativeTranslator | None = None,
    resource_key: str = DEFAULT_RESOURCE_KEY,
    incremental_cron: str = "0 * * * *",
) -> dg.Definitions:
    """Assets, schedules, parent-id sensors and the resource of one source, for a code location.

    Each stream partitioned by parent ids gets a sensor (stopped by default) that registers new
    ids and requests their runs.
    """
    loaded = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
    assets = build_declarative_assets(
        loaded,
        source_name=source_name,
        config=resource.config,
        streams=streams,
        translator=translator,
        resource_key=resource_key,
        destination_kind=_destination_kind(resource.get_warehouse_url()),
    )
    sensors = [
        build_parent_id_sensor(
            asset,
            manifest=loaded,
            stream=asset.metadata_by_key[asset.key]["declarative/stream"],
            resource_key=resource_key,
        )
        for asset in assets
        if isinstance(asset.partitions_def, dg.DynamicPartitionsDefinition)
        and asset.metadata_by_key[asset.key].get("declarative/slicer") == "substream"
    ]
    return dg.Definitions(
        assets=assets,
        schedules=build_stream_schedules(assets, incremental_cron=incremental_cron),
        sensors=sensors,
        resources={resource_key: resource},
    )


def _stream_assets(
    manifest: Manifest,
    descriptions: list[StreamDescription],
    translator: DeclarativeTranslator,
    resource_key: str,
    check_schema: bool,
    body: Callable[..., Any] = materialize_stream,
) -> list[dg.AssetsDefinition]:
    """The assets of the described streams; parents learn which child partitions they feed."""
    partitions_defs = {d.stream_name: translator.get_partitions_def(d) for d in descriptions}
    children = child_keys_by_parent(
        [(d.slicer, partitions_defs[d.stream_name]) for d in descriptions]
    )
    return [
        _stream_asset(
            manifest,
            data,
            translator,
            resource_key,
            check_schema,
            partitions_defs[data.stream_name],
            tuple(children.get(data.stream_name, ())),
            body,
        )
        for data in descriptions
    ]


def _stream_asset(
    manifest: Manifest,
    data: StreamDescription,
    translator: DeclarativeTranslator,
    resource_key: str,
    check_schema: bool,
    partitions_def: dg.PartitionsDefinition | None,
    children: tuple[ChildKeys, ...],
    body: Callable[..., Any],
) -> dg.AssetsDefinition:
    spec = translator.get_asset_spec(data)
    checked = check_schema and checks.has_checkable_schema(data.json_schema)
    target = StreamTarget(manifest, data, spec.key, partitions_def, checked, children)

    @dg.asset(
        key=spec.key,
        deps=spec.deps,
        description=spec.description,
        metadata=spec.metadata,
        group_name=spec.group_name,
        kinds=spec.kinds,
        code_version=spec.code_version,
        tags=spec.tags,
        owners=spec.owners,
        automation_condition=spec.automation_condition,
        partitions_def=partitions_def,
        backfill_policy=translator.get_backfill_policy(data),
        pool=f"declarative_{sanitize_name(data.source_name)}",
        output_required=False,
        check_specs=[checks.schema_check_spec(spec.key)] if checked else None,
        required_resource_keys={resource_key},
    )
    def _asset(context) -> Iterable[Any]:  # unannotated: Dagster checks the hint
        resource = getattr(context.resources, resource_key)
        yield from body(context, resource, target)

    return _asset


def manifest_hash(manifest: Manifest) -> str:
    """A short, stable hash of the resolved manifest: the assets' code version."""
    text = orjson.dumps(manifest.definition, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(text).hexdigest()[:16]


def default_source_name(manifest: Manifest) -> str:
    """The manifest file's stem, else ``declarative``."""
    return sanitize_name(Path(manifest.file).stem) if manifest.file else "declarative"


def _definition_config(manifest: Manifest, config: Mapping[str, Any]) -> dict[str, Any]:
    """Config for building streams at load time.

    Environment-variable values are secrets or belong to the run, so they are not read: they
    become empty strings. The exception is a manifest whose streams are listed from the API
    (an HttpComponentsResolver): listing them needs the credentials when the definitions load,
    so its variables are read then (and go only into those requests, never into definitions).
    """
    lists_from_api = any(
        (definition.get("components_resolver") or {}).get("type") == "HttpComponentsResolver"
        for definition in manifest.dynamic_stream_definitions
    )
    return {
        key: (_env_value(key, value) if lists_from_api else "") if _is_env_var(value) else value
        for key, value in config.items()
    }


def _env_value(key: str, value: Any) -> str:
    name = value.env_var_name if isinstance(value, dg.EnvVar) else value["env"]
    if name not in os.environ:
        raise ConfigError(
            f"config key {key!r} comes from the environment variable {name}, which is not set; "
            "this manifest lists its streams from the API when the definitions load, so the "
            "variable must be set there too"
        )
    return os.environ[name]


def _is_env_var(value: Any) -> bool:
    return isinstance(value, dg.EnvVar) or (isinstance(value, Mapping) and set(value) == {"env"})


def _destination_kind(url: str) -> str:
    scheme = url.split(":", 1)[0].split("+", 1)[0] if "://" in url else "duckdb"
    return {"postgresql": "postgres"}.get(scheme, scheme)


def _refuse_collisions(descriptions: list[StreamDescription]) -> None:
    seen: dict[str, str] = {}
    for data in descriptions:
        cleaned = sanitize_name(data.stream_name)
        if cleaned in seen:
            raise ConfigError(
                f"streams {seen[cleaned]!r} and {data.stream_name!r} both become asset "
                f"{cleaned!r}; rename one or give them distinct keys with a translator"
            )
        seen[cleaned] = data.stream_name
