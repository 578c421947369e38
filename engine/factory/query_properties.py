"""Builders for QueryProperties and its parts (see :mod:`engine.streams.query_properties`).

A requester names its query properties in one of three places, as the reference reads them: a
``request_parameters`` value of type QueryProperties (its key becomes the parameter the chunk
goes into), ``query_properties``, or the deprecated ``fetch_properties_from_endpoint``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.factory.context import BuildContext
from engine.http.client import RequestStats
from engine.slicing.base import SingleSlice
from engine.streams.query_properties import (
    PropertiesFromEndpoint,
    PropertyChunking,
    QueryProperties,
    SchemaPropertySelector,
)

LIMIT_TYPES = ("property_count", "characters")


def take_query_properties(
    ctx: BuildContext,
    requester: dict,
    path: str,
    load_schema: Callable[[], dict],
    build_retriever: Callable[..., Any],
) -> tuple[QueryProperties | None, dict]:
    """The requester's query properties, and the requester without them."""
    parameters = requester.get("request_parameters")
    in_parameters = (
        [k for k, v in parameters.items() if isinstance(v, dict) and v.get("type") == _TYPE]
        if isinstance(parameters, dict)
        else []
    )
    if len(in_parameters) > 1:
        raise ctx.error(
            f"request_parameters holds {len(in_parameters)} QueryProperties",
            requester,
            "request_parameters",
            path,
            expected="at most one QueryProperties per requester",
        )
    if in_parameters and requester.get("fetch_properties_from_endpoint"):
        raise ctx.error(
            "properties are fetched in both fetch_properties_from_endpoint and request_parameters",
            requester,
            "fetch_properties_from_endpoint",
            path,
            expected="one of them",
        )
    build = _Builder(ctx, load_schema, build_retriever)
    if in_parameters:
        key = in_parameters[0]
        where = f"{path}.request_parameters.{key}"
        properties = build.query_properties(parameters[key], where, parameter=key)
        rest = {k: v for k, v in parameters.items() if k != key}
        return properties, {**requester, "request_parameters": rest}
    endpoint = requester.get("fetch_properties_from_endpoint")
    if endpoint:
        where = f"{path}.fetch_properties_from_endpoint"
        return QueryProperties(names=build.from_endpoint(endpoint, where)), requester
    if requester.get("query_properties"):
        where = f"{path}.query_properties"
        return build.query_properties(requester["query_properties"], where), requester
    return None, requester


_TYPE = "QueryProperties"


class _Builder:
    def __init__(
        self,
        ctx: BuildContext,
        load_schema: Callable[[], dict],
        build_retriever: Callable[..., Any],
    ) -> None:
        self.ctx = ctx
        self.load_schema = load_schema
        self.build_retriever = build_retriever

    def query_properties(self, d: dict, path: str, parameter: str | None = None) -> Any:
        names = d["property_list"]
        if isinstance(names, dict):
            names = self.from_endpoint(names, f"{path}.property_list")
        elif not isinstance(names, list):
            raise self.ctx.error(
                "property_list must be a list of names or a PropertiesFromEndpoint",
                d,
                "property_list",
                path,
            )
        else:
            names = [str(name) for name in names]
        chunking = d.get("property_chunking")
        selector = d.get("property_selector")
        return QueryProperties(
            names=names,
            always_include=[str(n) for n in d.get("always_include_properties") or []],
            chunking=self.chunking(chunking, f"{path}.property_chunking") if chunking else None,
            selector=self.selector(selector, f"{path}.property_selector") if selector else None,
            parameter=parameter,
        )

    def from_endpoint(self, d: dict, path: str) -> PropertiesFromEndpoint:
        retriever_def = d["retriever"]
        requester = retriever_def.get("requester") or {}
        # The reference caches this endpoint's responses: every slice asks for the same list.
        retriever_def = {**retriever_def, "requester": {**requester, "use_cache": True}}
        retriever = self.build_retriever(
            self.ctx, retriever_def, f"{path}.retriever", SingleSlice(), [], dict
        )
        parameters = d.get("$parameters")
        field_path = [
            self.ctx.string({"p": str(part), "$parameters": parameters}, "p", path)
            for part in d["property_field_path"]
        ]
        return PropertiesFromEndpoint(
            read_records=lambda: retriever.read_slice({}, RequestStats()),
            field_path=field_path,
            config=self.ctx.config,
        )

    def chunking(self, d: dict, path: str) -> PropertyChunking:
        limit_type = str(d["property_limit_type"])
        if limit_type not in LIMIT_TYPES:
            raise self.ctx.error(
                f"unknown property_limit_type {limit_type!r}",
                d,
                "property_limit_type",
                path,
                expected=" or ".join(LIMIT_TYPES),
            )
        strategy = d.get("record_merge_strategy") or {}
        key = strategy.get("key", "id")
        keys = (key,) if isinstance(key, str) else tuple(str(k) for k in key)
        return PropertyChunking(limit_type, self.ctx.integer(d, "property_limit", path), keys)

    def selector(self, d: dict, path: str) -> SchemaPropertySelector:
        transformations = [
            self.ctx.build(t, f"{path}.transformations[{i}]")
            for i, t in enumerate(d.get("transformations") or [])
        ]
        return SchemaPropertySelector(self.load_schema, transformations)
