"""Building one asset per stream of a manifest, as a function, a decorator and full Definitions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_declarative import checks
from dagster_declarative.execution import StreamTarget, materialize_stream
from dagster_declarative.parent_ids import ChildKeys, build_parent_id_sensor, child_keys_by_parent
from dagster_declarative.resource import DeclarativeSourceResource, env_name, resolve_env
from dagster_declarative.schedules import build_stream_jobs, build_stream_schedules
from dagster_declarative.translator import DeclarativeTranslator, StreamDescription, sanitize_name
from dagster_declarative.warehouse.urls import warehouse_kind
from engine import (
    ConfigError,
    DeclarativeSource,
    EngineError,
    Manifest,
    SecretMasker,
    StreamPartitions,
    describe_stream_markdown,
    load_manifest,
    load_source,
)

DEFAULT_RESOURCE_KEY = "declarative_source"
_LISTING = (
    "; this manifest lists its streams from the API when the definitions load, so the variable "
    "must be set there too"
)
logger = logging.getLogger("dagster_declarative")


def describe_streams(
    manifest: Manifest,
    *,
    source_name: str,
    config: Mapping[str, Any] | None = None,
    streams: Sequence[str] | None = None,
    destination_kind: str = "duckdb",
    validate_config: bool = False,
) -> list[StreamDescription]:
    """The description of each selected stream that can be built (config only shapes slicing,
    never secrets). With ``validate_config`` the config's plain values are checked against the
    manifest's spec here; those from the environment are checked by the run. A stream that
    cannot be built is left out with a warning (:func:`leave_out`), so the others still load."""
    given = dict(config or {})
    built = _definition_config(manifest, given)
    from_environment = [key for key, value in given.items() if env_name(value) is not None]
    masker = SecretMasker(built[key] for key in from_environment)
    # closes the source's HTTP session (a dynamic stream may list streams from the API)
    with load_source(manifest, built, masker=masker) as source:
        if validate_config:
            source.validate_config(not_yet_known=from_environment)
        result = _descriptions(source, manifest, source_name, streams, destination_kind)
    _refuse_collisions(result)
    return result


def _descriptions(
    source: DeclarativeSource,
    manifest: Manifest,
    source_name: str,
    streams: Sequence[str] | None,
    destination_kind: str,
) -> list[StreamDescription]:
    """The chosen streams of an open source, each described (see :func:`describe_streams`)."""
    with source.masker.failures_masked():
        available, problems = source.buildable_streams()  # may list streams from the API
    problems = [*manifest.left_out, *problems]
    broken = {problem.stream: problem for problem in problems}
    names = list(streams) if streams is not None else [*available, *broken]
    unknown = [name for name in names if name not in available and name not in broken]
    if unknown:
        raise ConfigError(
            f"the manifest has no stream(s) {', '.join(unknown)}; it has "
            f"{', '.join([*available, *broken])}"
        )
    digest = manifest.digest
    result = []
    for name in names:
        if name in broken:
            problem = broken[name]
            leave_out(source_name, name, problem.path, source.masker.mask(problem.reason))
            continue
        stream = available[name]
        result.append(
            StreamDescription(
                source_name=source_name,
                stream_name=name,
                primary_key=tuple(tuple(path) for path in stream.primary_key),
                cursor_field=tuple(stream.cursor_field),
                json_schema=stream.json_schema,
                parents=tuple(stream.parent_streams),
                manifest_hash=digest,
                destination_kind=destination_kind,
                partitioning=StreamPartitions(stream).describe(),
                description=describe_stream_markdown(manifest, name, stream.json_schema),
            )
        )
    return result


def leave_out(source_name: str, stream: str, path: str, reason: str) -> None:
    """Say on the ``dagster_declarative`` logger (which ``dg check defs`` and ``dagster dev``
    print) that a stream is left out of the definitions, where and why, and how to choose."""
    logger.warning(
        "source %r: stream %r is left out of the Dagster definitions (component %s): %s "
        "The other streams load. To choose the streams to load, list them under `streams:` in "
        "defs.yaml (or pass streams=[...] in Python).",
        source_name,
        stream,
        path,
        reason,
    )


def build_declarative_assets(
    manifest: str | Path | Mapping[str, Any] | Manifest,
    *,
    source_name: str | None = None,
    config: Mapping[str, Any] | None = None,
    streams: Sequence[str] | None = None,
    translator: DeclarativeTranslator | None = None,
    resource_key: str = DEFAULT_RESOURCE_KEY,
    destination_kind: str = "duckdb",
    check_schema: bool = False,
    validate_config: bool = False,
) -> list[dg.AssetsDefinition]:
    """One asset per stream, each in its own op, partitioned the way the stream is sliced.

    ``config`` is used only to build the streams at definition time (a slicer's start date may
    come from it); the run reads its config, with secrets, from the resource under
    ``resource_key``. With ``validate_config`` (when ``config`` is the runs' config), its plain
    values are checked against the manifest's spec now. Each partition's materialization says
    how many of its records break the stream's schema; ``check_schema`` also declares that
    verdict as the ``records_match_schema`` asset check, at one more Dagster event per partition.
    """
    loaded, descriptions = _described(
        manifest, source_name, config, streams, destination_kind, validate_config
    )
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
        return _stream_assets(loaded, descriptions, chosen, resource_key, False, body=fn)

    return decorate


def _described(
    manifest: str | Path | Mapping[str, Any] | Manifest,
    source_name: str | None,
    config: Mapping[str, Any] | None,
    streams: Sequence[str] | None,
    destination_kind: str = "duckdb",
    validate_config: bool = False,
) -> tuple[Manifest, list[StreamDescription]]:
    """The loaded manifest and the descriptions of its selected streams."""
    loaded = _load(manifest)
    name = source_name or default_source_name(loaded)
    descriptions = describe_streams(
        loaded,
        source_name=name,
        config=config,
        streams=streams,
        destination_kind=destination_kind,
        validate_config=validate_config,
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
    check_schema: bool = False,
    incremental_cron: str = "0 * * * *",
) -> dg.Definitions:
    """Assets, a job per stream (``<source>__<stream>_job``), schedules, parent-id sensors and
    the resource of one source, for a code location.

    Each stream partitioned by parent ids gets a sensor (stopped by default) that registers new
    ids and requests their runs.
    """
    loaded = _load(manifest)
    assets = build_declarative_assets(
        loaded,
        source_name=source_name,
        config=resource.config,
        streams=streams,
        translator=translator,
        resource_key=resource_key,
        destination_kind=warehouse_kind(resource.get_warehouse_url()),
        check_schema=check_schema,
        validate_config=True,
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
    jobs = build_stream_jobs(assets)
    return dg.Definitions(
        assets=assets,
        jobs=list(jobs.values()),
        schedules=build_stream_schedules(assets, incremental_cron=incremental_cron, jobs=jobs),
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
    partitions_defs: dict[str, dg.PartitionsDefinition | None] = {}
    for data in list(descriptions):
        try:
            partitions_defs[data.stream_name] = translator.get_partitions_def(data)
        except EngineError as error:  # a PartitionMappingError too
            path = f"stream {data.stream_name!r}: incremental_sync / partition_router"
            leave_out(data.source_name, data.stream_name, path, str(error))
            descriptions.remove(data)
    children = child_keys_by_parent(
        [(d.partitioning, partitions_defs[d.stream_name]) for d in descriptions]
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
    checked = check_schema and data.judges_records
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
        check_specs=[checks.schema_check_spec(spec.key, partitions_def)] if checked else None,
        required_resource_keys={resource_key},
    )
    def _asset(context) -> Iterable[Any]:  # unannotated: Dagster checks the hint
        resource = getattr(context.resources, resource_key)
        yield from body(context, resource, target)

    return _asset


def _load(manifest: str | Path | Mapping[str, Any] | Manifest) -> Manifest:
    """The manifest, without the streams whose components the engine refuses (named in its
    ``left_out``, and warned about by :func:`describe_streams`)."""
    if isinstance(manifest, Manifest):
        return manifest
    return load_manifest(manifest, skip_unsupported=True)


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
    if manifest.lists_streams_from_api:
        return {key: resolve_env(value, key, _LISTING) for key, value in config.items()}
    return {key: "" if env_name(value) is not None else value for key, value in config.items()}


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
