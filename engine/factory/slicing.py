"""Builders for stream slicers: the stream's incremental cursor and its partition routers.

A stream gets one slicer: none (one empty slice), a date or count cursor, a router (or a
cartesian product of routers), or a router with a date cursor inside each partition. A 2022
stream that names a ``cursor_field`` but slices only by list or parent reports the last
partition it read as its state, as the 2022 runtime did.
"""

from __future__ import annotations

import datetime
from typing import Any

from engine.datetimes import unknown_directive
from engine.durations import Duration, DurationFormatError, parse_duration
from engine.errors import UnsupportedComponentError
from engine.factory.context import BuildContext, named_behaviour
from engine.factory.lazy_read import lazy_pointer_path
from engine.slicing.base import Cursor, SingleSlice, Slicer
from engine.slicing.clamping import TARGETS, WEEKDAYS, Clamping
from engine.slicing.combined import (
    CartesianProductRouter,
    GroupingPartitionRouter,
    UnionPartitionRouter,
)
from engine.slicing.count_cursor import IncrementingCountCursor
from engine.slicing.date_rules import DATE_RULES, DATETIME_CURSOR
from engine.slicing.date_windows import MinMaxDatetime
from engine.slicing.datetime_cursor import DatetimeBasedCursor
from engine.slicing.list_router import ListPartitionRouter
from engine.slicing.per_partition import PerPartitionCursor
from engine.slicing.router import LastPartitionState, PartitionRouter
from engine.slicing.substream import ParentStreamConfig, SubstreamPartitionRouter
from engine.templates.interpolation import InterpolatedString, literal


def build_slicer(
    ctx: BuildContext, stream: dict, retriever: dict, path: str
) -> tuple[Slicer, list[str]]:
    """The slicer of a stream, and the names of the parent streams it reads."""
    cursor_def: Any = stream.get("incremental_sync")
    routers_def: Any = retriever.get("partition_router")
    lazy = lazy_pointer_path(retriever, path) is not None
    router = (
        build_router(ctx, routers_def, f"{path}.retriever.partition_router", lazy=lazy)
        if routers_def
        else None
    )
    parents = list(router.parent_stream_names) if router is not None else []
    if cursor_def is None:
        if router is not None and stream.get("cursor_field"):
            return LastPartitionState(router, str(stream["cursor_field"])), parents
        return (router or SingleSlice()), parents
    cursor = build_cursor(ctx, cursor_def, f"{path}.incremental_sync")
    if router is None:
        return cursor, parents
    if not isinstance(cursor, DatetimeBasedCursor):
        raise UnsupportedComponentError(
            f"{cursor_def['type']} cannot be combined with a partition router",
            path=f"{path}.incremental_sync",
            file=ctx.file,
            expected="a DatetimeBasedCursor, or no partition_router",
        )
    return (
        PerPartitionCursor(
            router, cursor, global_cursor=bool(cursor_def.get("global_substream_cursor"))
        ),
        parents,
    )


def build_cursor(ctx: BuildContext, d: dict, path: str) -> Cursor:
    if d["type"] == "IncrementingCountCursor":
        return _count_cursor(ctx, d, path)
    if d["type"] != "DatetimeBasedCursor":
        raise UnsupportedComponentError(
            f"{d['type']} is not supported as incremental_sync",
            path=path,
            file=ctx.file,
            expected="a DatetimeBasedCursor or an IncrementingCountCursor",
        )
    rules = named_behaviour(ctx, d, "date_rules", path, DATE_RULES, DATETIME_CURSOR.name)
    granularity = _duration(ctx, d, "cursor_granularity", path)
    step = _duration(ctx, d, "step", path)
    if step is not None and step.add_to(_SOME_DAY) <= _SOME_DAY:
        raise ctx.error(
            f"step must be longer than zero, found {step}", d, "step", path, expected="e.g. P1D"
        )
    datetime_format = _text(ctx, d, "datetime_format", path) or ""
    _check_formats(ctx, d, path, datetime_format, *(d.get("cursor_datetime_formats") or ()))
    return DatetimeBasedCursor(
        config=ctx.config,
        cursor_field=_text(ctx, d, "cursor_field", path) or "",
        datetime_format=datetime_format,
        start_datetime=_min_max(ctx, d, "start_datetime", path),  # type: ignore[arg-type]
        end_datetime=_min_max(ctx, d, "end_datetime", path),
        step=step,
        cursor_granularity=granularity,
        lookback_window=_duration(ctx, d, "lookback_window", path),
        cursor_datetime_formats=tuple(str(f) for f in d.get("cursor_datetime_formats") or ()),
        start_time_option=ctx.optional(d.get("start_time_option"), f"{path}.start_time_option"),
        end_time_option=ctx.optional(d.get("end_time_option"), f"{path}.end_time_option"),
        partition_field_start=_text(ctx, d, "partition_field_start", path) or "start_time",
        partition_field_end=_text(ctx, d, "partition_field_end", path) or "end_time",
        is_compare_strictly=bool(d.get("is_compare_strictly")),
        is_client_side_incremental=bool(d.get("is_client_side_incremental")),
        is_data_feed=bool(d.get("is_data_feed")),
        rules=rules,
        clamping=_clamping(ctx, d, path),
    )


def _clamping(ctx: BuildContext, d: dict, path: str) -> Clamping | None:
    """``clamping: {target: DAY | WEEK | MONTH (a template), target_details: {weekday}}``."""
    clamping = d.get("clamping")
    if not clamping:
        return None
    if not isinstance(clamping, dict) or "target" not in clamping:
        raise ctx.error("clamping needs a target", d, "clamping", path, expected="target: DAY")
    holder = {"target": clamping["target"], "$parameters": d.get("$parameters")}
    target = _text(ctx, holder, "target", f"{path}.clamping")
    if target not in TARGETS:
        raise ctx.error(
            f"unknown clamping target {target!r}",
            d,
            "clamping",
            path,
            expected="DAY, WEEK or MONTH",
        )
    if target != "WEEK":
        return Clamping(target)  # type: ignore[arg-type]
    weekday = (clamping.get("target_details") or {}).get("weekday")
    if weekday not in WEEKDAYS:
        raise ctx.error(
            f"WEEK clamping needs target_details.weekday, found {weekday!r}",
            d,
            "clamping",
            path,
            expected="one of " + ", ".join(WEEKDAYS),
        )
    return Clamping("WEEK", WEEKDAYS.index(weekday))


def _count_cursor(ctx: BuildContext, d: dict, path: str) -> IncrementingCountCursor:
    return IncrementingCountCursor(
        cursor_field=_text(ctx, d, "cursor_field", path) or "",
        start_value=ctx.integer(d, "start_value", path, 0) or 0,
        start_value_option=ctx.optional(d.get("start_value_option"), f"{path}.start_value_option"),
    )


def _text(ctx: BuildContext, d: dict, key: str, path: str) -> str | None:
    """A field templated with config only, rendered as text now (never literal-coerced)."""
    compiled = ctx.string(d, key, path)
    return None if compiled is None else compiled.eval_str(ctx.config)


_SOME_DAY = datetime.datetime(2000, 1, 31, tzinfo=datetime.timezone.utc)


def _check_formats(ctx: BuildContext, d: dict, path: str, *formats: Any) -> None:
    for fmt in formats:
        unknown = unknown_directive(str(fmt))
        if unknown:
            raise ctx.error(
                f"the datetime format {str(fmt)!r} has the unknown directive {unknown!r}",
                d,
                "datetime_format",
                path,
                expected="strftime directives (%Y, %m, %d, %H, %M, %S, %f, %z...) or one of "
                "%s, %ms, %s_as_float, %epoch_microseconds",
            )


def _duration(ctx: BuildContext, d: dict, key: str, path: str) -> Duration | None:
    text = _text(ctx, d, key, path)
    if not text:
        return None
    try:
        return parse_duration(text)
    except DurationFormatError as error:
        raise ctx.error(
            str(error), d, key, path, expected="an ISO-8601 duration such as P1D"
        ) from None


def _min_max(ctx: BuildContext, d: dict, key: str, path: str) -> MinMaxDatetime | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        value = {"datetime": value}
    where = f"{path}.{key}"
    datetime_template = ctx.string(value, "datetime", where)
    assert datetime_template is not None, "validation requires MinMaxDatetime.datetime"
    datetime_format = _text(ctx, value, "datetime_format", where) or ""
    _check_formats(ctx, value, where, datetime_format)
    return MinMaxDatetime(
        datetime=datetime_template,
        datetime_format=datetime_format,
        min_datetime=ctx.string(value, "min_datetime", where),
        max_datetime=ctx.string(value, "max_datetime", where),
    )


# -- partition routers ---------------------------------------------------------------------------


def build_router(ctx: BuildContext, d: Any, path: str, lazy: bool = False) -> PartitionRouter:
    """A partition router; ``lazy``: a parent's ``lazy_read_pointer`` is read (see
    engine.factory.lazy_read for where the reference reads it)."""
    if isinstance(d, list):
        routers = [build_router(ctx, item, f"{path}[{i}]") for i, item in enumerate(d)]
        return routers[0] if len(routers) == 1 else CartesianProductRouter(routers)
    kind = d["type"]
    if kind == "ListPartitionRouter":
        return _list_router(ctx, d, path)
    if kind == "SubstreamPartitionRouter":
        return _substream_router(ctx, d, path, lazy)
    if kind == "UnionPartitionRouter":
        children = d["partition_routers"]
        return UnionPartitionRouter(
            routers=[
                build_router(ctx, child, f"{path}.partition_routers[{i}]")
                for i, child in enumerate(children)
            ],
            partition_field=_text(ctx, d, "partition_field", path) or "",
        )
    if kind == "GroupingPartitionRouter":
        size = ctx.integer(d, "group_size", path)
        if not size or size < 1:
            raise ctx.error("group_size must be at least 1", d, "group_size", path)
        return GroupingPartitionRouter(
            underlying=build_router(
                ctx, d["underlying_partition_router"], f"{path}.underlying_partition_router"
            ),
            group_size=size,
            deduplicate=d.get("deduplicate") is not False,
        )
    built = ctx.build(d, path)
    if not isinstance(built, PartitionRouter):
        raise UnsupportedComponentError(
            f"{kind} does not implement this engine's partition router interface",
            path=path,
            file=ctx.file,
            expected="a subclass of engine.slicing.router.PartitionRouter",
        )
    return built


def _list_router(ctx: BuildContext, d: dict, path: str) -> ListPartitionRouter:
    values = d.get("values")
    if isinstance(values, str):
        values = InterpolatedString(values, parameters=d.get("$parameters")).eval(ctx.config)
        if isinstance(values, str):
            values = literal(values)
    if not isinstance(values, list):
        raise ctx.error(
            f"values must be a list, found {values!r}",
            d,
            "values",
            path,
            expected="a list, or a template that renders one such as {{ config['repos'] }}",
        )
    return ListPartitionRouter(
        values=values,
        cursor_field=_text(ctx, d, "cursor_field", path) or "",
        request_option=ctx.optional(d.get("request_option"), f"{path}.request_option"),
    )


def _substream_router(
    ctx: BuildContext, d: dict, path: str, lazy: bool
) -> SubstreamPartitionRouter:
    configs = []
    for index, config in enumerate(d.get("parent_stream_configs") or []):
        where = f"{path}.parent_stream_configs[{index}]"
        parent_key = _text(ctx, config, "parent_key", where) or ""
        pointer = _lazy_read_pointer(ctx, config, where)  # checked even where it is not read
        configs.append(
            ParentStreamConfig(
                stream=ctx.build(config["stream"], f"{where}.stream"),
                parent_key=tuple(p for p in parent_key.split("/") if p),
                partition_field=_text(ctx, config, "partition_field", where) or "",
                request_option=ctx.optional(
                    config.get("request_option"), f"{where}.request_option"
                ),
                incremental_dependency=bool(config.get("incremental_dependency")),
                extra_fields=tuple(
                    tuple(str(p) for p in field) for field in config.get("extra_fields") or ()
                ),
                lazy_read_pointer=pointer if lazy else (),
            )
        )
    if not configs:
        raise ctx.error(
            "a SubstreamPartitionRouter needs at least one parent stream config",
            d,
            "parent_stream_configs",
            path,
        )
    return SubstreamPartitionRouter(configs)


def _lazy_read_pointer(ctx: BuildContext, config: dict, path: str) -> tuple[str, ...]:
    """The path of the child list a parent record embeds (templates on the config allowed);
    the reference refuses wildcards there."""
    pointer = []
    for index, part in enumerate(config.get("lazy_read_pointer") or ()):
        text = ctx.constant({"value": str(part)}, "value", f"{path}.lazy_read_pointer[{index}]")
        if "*" in str(text):
            raise ctx.error(
                "lazy_read_pointer takes direct paths only: '*' is not supported",
                config,
                "lazy_read_pointer",
                path,
            )
        pointer.append(str(text))
    return tuple(pointer)
