"""Builders for dynamic streams: the components resolvers and the dynamic streams that own them."""

from __future__ import annotations

from typing import Any

from engine.factory.context import BuildContext, builds
from engine.manifest.dynamic_streams import (
    ComponentMapping,
    ConfigComponentsResolver,
    DynamicStream,
    HttpComponentsResolver,
    ParametrizedComponentsResolver,
    StreamConfig,
    component_mapping,
    dynamic_stream_name,
)
from engine.templates.interpolation import InterpolatedString


def build_dynamic_stream(ctx: BuildContext, d: dict[str, Any], index: int) -> DynamicStream:
    """The manifest's ``dynamic_streams[index]`` with its resolver built (nothing resolved yet)."""
    path = f"dynamic_streams[{index}]"
    use_parent = ctx.boolean(d, "use_parent_parameters", path)
    return DynamicStream(
        name=dynamic_stream_name(d, index),
        path=path,
        template=d["stream_template"],
        resolver=ctx.build(d["components_resolver"], f"{path}.components_resolver"),
        use_parent_parameters=True if use_parent is None else use_parent.eval(ctx.config),
        config=ctx.config,
        file=ctx.file,
    )


@builds("ConfigComponentsResolver")
def config_components_resolver(ctx: BuildContext, d: dict, path: str) -> ConfigComponentsResolver:
    configs = d["stream_config"]
    located = (
        [(c, f"{path}.stream_config[{i}]") for i, c in enumerate(configs)]
        if isinstance(configs, list)
        else [(configs, f"{path}.stream_config")]
    )
    return ConfigComponentsResolver(
        config=ctx.config,
        stream_configs=tuple(_stream_config(ctx, c, where) for c, where in located),
        mappings=_mappings(ctx, d, path),
    )


def _stream_config(ctx: BuildContext, d: dict, path: str) -> StreamConfig:
    pointer = []
    for index, segment in enumerate(d["configs_pointer"]):
        holder = {"segment": str(segment), "$parameters": d.get("$parameters")}
        compiled = ctx.string(holder, "segment", f"{path}.configs_pointer[{index}]")
        assert isinstance(compiled, InterpolatedString)
        pointer.append(compiled)
    return StreamConfig(tuple(pointer), tuple(d.get("default_values") or ()))


@builds("ParametrizedComponentsResolver")
def parametrized_components_resolver(
    ctx: BuildContext, d: dict, path: str
) -> ParametrizedComponentsResolver:
    sets = d["stream_parameters"]["list_of_parameters_for_stream"]
    return ParametrizedComponentsResolver(tuple(sets), _mappings(ctx, d, path))


@builds("HttpComponentsResolver")
def http_components_resolver(ctx: BuildContext, d: dict, path: str) -> HttpComponentsResolver:
    """The retriever is read as a nameless stream; its errors carry the resolver's path."""
    listing = {
        "type": "DeclarativeStream",
        "name": "components_resolver",
        "retriever": d["retriever"],
        "schema_loader": {"type": "InlineSchemaLoader", "schema": {}, "$parameters": {}},
        "$parameters": d.get("$parameters") or {},
    }
    return HttpComponentsResolver(ctx.build(listing, path), path, _mappings(ctx, d, path))


def _mappings(ctx: BuildContext, d: dict, path: str) -> tuple[ComponentMapping, ...]:
    return tuple(
        component_mapping(node, f"{path}.components_mapping[{i}]", ctx.file)
        for i, node in enumerate(d["components_mapping"])
    )
