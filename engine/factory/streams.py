"""Builders for streams, retrievers, paginators and pagination strategies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.factory.context import BuildContext, builds
from engine.factory.http import requester as build_requester
from engine.factory.lazy_read import lazy_read_refusal, refuse_lazy_page_size_reduction
from engine.factory.page_size import page_size_reduction
from engine.factory.query_properties import take_query_properties
from engine.factory.records import record_selector
from engine.http.options import RequestOption
from engine.slicing.datetime_cursor import DatetimeBasedCursor
from engine.state.migrations import (
    LegacyToPerPartitionStateMigration,
    MigratingStream,
    StateDelegatingStream,
    StateMigration,
)
from engine.streams.pagination import CursorPagination, OffsetIncrement, PageIncrement, Paginator
from engine.streams.pagination_reset import PaginationReset
from engine.streams.retriever import SimpleRetriever
from engine.streams.stream import Stream


@builds("DeclarativeStream")
def declarative_stream(ctx: BuildContext, d: dict, path: str) -> Stream:
    from engine.factory.slicing import build_slicer

    name = str(ctx.constant(d, "name", path, "") or (d.get("$parameters") or {}).get("name") or "")
    if not name:
        raise ctx.error("the stream has no name", d, "name", path, expected="name: <stream name>")
    schema = _schema_loader(ctx, d, path, name)
    transformations = [
        ctx.build(t, f"{path}.transformations[{i}]")
        for i, t in enumerate(d.get("transformations") or [])
    ]
    retriever_def = d["retriever"]
    if _runs_in_reference(d):
        fields = {"name": name, "primary_key": primary_key(ctx, d, path)}
        return ctx.reference_stream(d, path, fields)
    build_retriever = _RETRIEVERS.get(retriever_def["type"])
    if build_retriever is None:
        retriever = ctx.build(retriever_def, f"{path}.retriever")
        return Stream(
            name=name,
            retriever=retriever,
            slicer=retriever.slicer,
            primary_key=primary_key(ctx, d, path),
            load_schema=schema,
            mask=ctx.masker.mask,
        )
    refuse_lazy_page_size_reduction(ctx, retriever_def, f"{path}.retriever")
    slicer, parents = build_slicer(ctx, d, retriever_def, path)
    retriever = build_retriever(
        ctx, retriever_def, f"{path}.retriever", slicer, transformations, schema
    )
    refusal = lazy_read_refusal(ctx, d, path)
    if refusal is not None:
        retriever.lazy_refusal = refusal
    incremental = d.get("incremental_sync") or {}
    cursor_field = incremental.get("cursor_field") or d.get("cursor_field") or []
    if isinstance(cursor_field, str):
        cursor_field = [
            str(ctx.constant({"c": cursor_field, "$parameters": d.get("$parameters")}, "c", path))
        ]
    fields: dict[str, Any] = {
        "name": name,
        "retriever": retriever,
        "slicer": slicer,
        "primary_key": primary_key(ctx, d, path),
        "cursor_field": [str(c) for c in cursor_field],
        "load_schema": schema,
        "checkpoint_interval": d.get("checkpoint_interval"),
        "parent_streams": parents,
        "mask": ctx.masker.mask,
    }
    migrations = _state_migrations(ctx, d, path, fields["cursor_field"])
    if migrations:
        return MigratingStream(state_migrations=migrations, **fields)
    return Stream(**fields)


def _runs_in_reference(d: dict) -> bool:
    """A custom retriever or incremental cursor: the reference runs the whole stream."""
    incremental = d.get("incremental_sync") or {}
    return d["retriever"]["type"] == "CustomRetriever" or (
        isinstance(incremental, dict) and str(incremental.get("type", "")).startswith("Custom")
    )


@builds("StateDelegatingStream")
def state_delegating_stream(ctx: BuildContext, d: dict, path: str) -> StateDelegatingStream:
    name = str(ctx.constant(d, "name", path, "") or (d.get("$parameters") or {}).get("name") or "")
    if not name:
        raise ctx.error("the stream has no name", d, "name", path, expected="name: <stream name>")
    built = {}
    for key in ("full_refresh_stream", "incremental_stream"):
        # Both delegates answer to the delegating stream's name (state and records use it).
        definition = {**d[key], "name": name}
        built[key] = ctx.build(definition, f"{path}.{key}")
    return StateDelegatingStream(name, built["full_refresh_stream"], built["incremental_stream"])


def _state_migrations(
    ctx: BuildContext, d: dict, path: str, cursor_field: list[str]
) -> list[StateMigration]:
    migrations: list[StateMigration] = []
    for index, definition in enumerate(d.get("state_migrations") or []):
        where = f"{path}.state_migrations[{index}]"
        if definition["type"] == "CustomStateMigration":
            # The reference hands a custom migration the stream's model (declarative_stream).
            migrations.append(ctx.custom(definition, where, declarative_stream=d))
            continue
        if definition["type"] != "LegacyToPerPartitionStateMigration":
            migrations.append(ctx.build(definition, where))
            continue
        router = d["retriever"].get("partition_router") or {}
        parents = router.get("parent_stream_configs") if isinstance(router, dict) else None
        union = isinstance(router, dict) and router.get("type") == "UnionPartitionRouter"
        if not (parents or union) or not cursor_field:
            raise ctx.error(
                "LegacyToPerPartitionStateMigration needs a SubstreamPartitionRouter (or a "
                "UnionPartitionRouter) and an incremental_sync on its stream",
                definition,
                None,
                where,
            )
        if union:  # its partitions have one field, whatever their parents
            holder = {"p": router["partition_field"], "$parameters": router.get("$parameters")}
        elif len(parents) != 1:
            continue  # the reference migrates only a stream with exactly one parent
        else:
            holder = {
                "p": parents[0]["partition_field"],
                "$parameters": parents[0].get("$parameters"),
            }
        partition_field = str(ctx.constant(holder, "p", where))
        migrations.append(LegacyToPerPartitionStateMigration(partition_field, cursor_field[0]))
    return migrations


@builds("LegacyToPerPartitionStateMigration")
def legacy_state_migration(ctx: BuildContext, d: dict, path: str) -> Any:
    raise ctx.error("a state migration belongs in a stream's state_migrations", d, None, path)


def primary_key(ctx: BuildContext, d: dict, path: str) -> list[list[str]]:
    """Primary keys in the catalog's list-of-lists form (``"id"`` -> ``[["id"]]``)."""
    value: Any = d.get("primary_key")
    if isinstance(value, str):
        value = ctx.constant(d, "primary_key", path)
    if value in (None, "", []):
        return []
    if isinstance(value, (str, int)):
        return [[str(value)]]
    if isinstance(value, list):
        return [[str(p) for p in part] if isinstance(part, list) else [str(part)] for part in value]
    raise ctx.error(
        f"primary_key must be a string or a list, found {value!r}", d, "primary_key", path
    )


def _schema_loader(ctx: BuildContext, d: dict, path: str, name: str) -> Any:
    definition = d.get("schema_loader") or {
        "type": "JsonFileSchemaLoader",
        "$parameters": {**(d.get("$parameters") or {}), "name": name},
    }
    if isinstance(definition, list):
        loaders = [
            ctx.build(item, f"{path}.schema_loader[{i}]") for i, item in enumerate(definition)
        ]

        def merged() -> dict:
            schema: dict = {}
            for load in loaders:
                part = load()
                properties = {**part.get("properties", {}), **schema.get("properties", {})}
                schema = {**part, **schema, "properties": properties}
            return schema

        return merged
    return ctx.build(definition, f"{path}.schema_loader")


def simple_retriever(
    ctx: BuildContext, d: dict, path: str, slicer: Any, transformations: list, schema: Any
) -> SimpleRetriever:
    decoder = ctx.optional(d.get("decoder"), f"{path}.decoder")
    query_properties, requester_def = take_query_properties(
        ctx, d["requester"], f"{path}.requester", schema, simple_retriever
    )
    if requester_def["type"] == "HttpRequester":
        requester = build_requester(ctx, requester_def, f"{path}.requester", decoder=decoder)
    else:
        requester = ctx.build(requester_def, f"{path}.requester")
    paginator = ctx.build(d.get("paginator") or {"type": "NoPagination"}, f"{path}.paginator")
    reduction = page_size_reduction(ctx, d, path, query_properties is not None, paginator.strategy)
    return SimpleRetriever(
        requester=requester,
        record_selector=record_selector(
            ctx, d["record_selector"], f"{path}.record_selector", transformations, schema
        ),
        paginator=paginator,
        slicer=slicer,
        ignore_slicer_options_on_later_pages=bool(
            d.get("ignore_stream_slicer_parameters_on_paginated_requests")
        ),
        query_properties=query_properties,
        pagination_reset=_pagination_reset(ctx, d, path, slicer),
        page_size_reduction=reduction,
    )


def _pagination_reset(ctx: BuildContext, d: dict, path: str, slicer: Any) -> PaginationReset | None:
    """``pagination_reset: {action: RESET | SPLIT_USING_CURSOR, limits: {number_of_records}}``."""
    reset = d.get("pagination_reset")
    if not reset:
        return None
    action = reset.get("action") if isinstance(reset, dict) else None
    if action not in ("RESET", "SPLIT_USING_CURSOR"):
        raise ctx.error(
            f"unknown pagination_reset action {action!r}",
            d,
            "pagination_reset",
            path,
            expected="action: RESET or SPLIT_USING_CURSOR",
        )
    limits = reset.get("limits") or {}
    limit = limits.get("number_of_records")
    if limit is not None and (d.get("record_selector") or {}).get("record_filter"):
        raise ctx.error(
            "pagination_reset limits cannot be combined with a record_filter (as in the reference)",
            d,
            "pagination_reset",
            path,
        )
    date_cursor = getattr(slicer, "datetime_cursor", slicer)
    split = action == "SPLIT_USING_CURSOR" and isinstance(date_cursor, DatetimeBasedCursor)
    return PaginationReset(
        limit=None if limit is None else int(limit), cursor=date_cursor if split else None
    )


def _async_retriever(*arguments: Any, **options: Any) -> Any:
    """Imported when a manifest has one: otherwise every start-up would pay for it."""
    from engine.factory.async_retrieval import async_retriever

    return async_retriever(*arguments, **options)


# Retrievers that slice by the stream's incremental_sync and their partition_router.
_RETRIEVERS: dict[str, Callable[..., Any]] = {
    "SimpleRetriever": simple_retriever,
    "AsyncRetriever": _async_retriever,
}


@builds("NoPagination")
def no_pagination(ctx: BuildContext, d: dict, path: str) -> Paginator:
    return Paginator()


@builds("DefaultPaginator")
def default_paginator(ctx: BuildContext, d: dict, path: str) -> Paginator:
    strategy = ctx.build(d["pagination_strategy"], f"{path}.pagination_strategy")
    token_option = d.get("page_token_option")
    is_url = token_option is not None and token_option["type"] == "RequestPath"
    size_option = ctx.optional(d.get("page_size_option"), f"{path}.page_size_option")
    if size_option is not None and strategy.page_size is None:
        raise ctx.error(
            "page_size_option is set but the strategy has no page_size",
            d,
            "page_size_option",
            path,
            expected="page_size on the pagination strategy",
        )
    return Paginator(
        strategy=strategy,
        page_size_option=size_option,
        page_token_option=None
        if is_url or token_option is None
        else ctx.build(token_option, f"{path}.page_token_option"),
        token_is_url=is_url,
        limits=ctx.page_limits,
    )


@builds("RequestPath")
def request_path(ctx: BuildContext, d: dict, path: str) -> RequestOption:
    raise ctx.error("RequestPath can only be a paginator's page_token_option", d, None, path)


@builds("PageIncrement")
def page_increment(ctx: BuildContext, d: dict, path: str) -> PageIncrement:
    return PageIncrement(
        page_size=_page_size(ctx, d, path),
        start_from_page=ctx.integer(d, "start_from_page", path, 0) or 0,
        inject_on_first_request=bool(d.get("inject_on_first_request")),
    )


@builds("OffsetIncrement")
def offset_increment(ctx: BuildContext, d: dict, path: str) -> OffsetIncrement:
    return OffsetIncrement(
        page_size=_page_size(ctx, d, path),
        inject_on_first_request=bool(d.get("inject_on_first_request")),
    )


def _page_size(ctx: BuildContext, d: dict, path: str) -> int | None:
    size = ctx.integer(d, "page_size", path)
    if size is not None and size < 1:
        raise ctx.error(
            f"page_size must be at least 1, found {size}",
            d,
            "page_size",
            path,
            expected="the number of records a full page holds",
        )
    return size


@builds("CursorPagination")
def cursor_pagination(ctx: BuildContext, d: dict, path: str) -> CursorPagination:
    cursor_value = ctx.string(d, "cursor_value", path)
    assert cursor_value is not None
    return CursorPagination(
        config=ctx.config,
        cursor_value=cursor_value,
        stop_condition=ctx.boolean(d, "stop_condition", path),
        page_size=_page_size(ctx, d, path),
    )
