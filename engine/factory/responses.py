"""Builders for what meets a response: error handlers, backoff strategies and decoders."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import UnsupportedComponentError
from engine.factory.context import BuildContext, builds, named_behaviour
from engine.http import decoders
from engine.http.backoff import (
    ConstantBackoff,
    ExponentialBackoff,
    WaitTimeFromHeader,
    WaitUntilTimeFromHeader,
)
from engine.http.error_handling import (
    ACTIONS,
    ERROR_DEFAULTS,
    STATUS_TABLE,
    CompositeErrorHandler,
    DefaultErrorHandler,
    ResponseFilter,
)
from engine.manifest.yaml_loader import line_of
from engine.templates import limits

if TYPE_CHECKING:
    import regex

# -- error handling ------------------------------------------------------------------------------


@builds("DefaultErrorHandler")
def default_error_handler(ctx: BuildContext, d: dict, path: str) -> DefaultErrorHandler:
    filters = [
        response_filter(ctx, f, f"{path}.response_filters[{i}]")
        for i, f in enumerate(d.get("response_filters") or [])
    ]
    strategies = [
        ctx.build(s, f"{path}.backoff_strategies[{i}]")
        for i, s in enumerate(d.get("backoff_strategies") or [])
    ]
    return DefaultErrorHandler(
        config=ctx.config,
        response_filters=filters,
        backoff_strategies=strategies,
        max_retries=ctx.integer(d, "max_retries", path, 5) or 0,
        defaults=named_behaviour(ctx, d, "error_defaults", path, ERROR_DEFAULTS, STATUS_TABLE.name),
    )


@builds("CompositeErrorHandler")
def composite_error_handler(ctx: BuildContext, d: dict, path: str) -> CompositeErrorHandler:
    handlers = [
        ctx.build(h, f"{path}.error_handlers[{i}]") for i, h in enumerate(d["error_handlers"])
    ]
    if not handlers:
        raise ctx.error("error_handlers is empty", d, "error_handlers", path)
    return CompositeErrorHandler(handlers)


def response_filter(ctx: BuildContext, d: dict, path: str) -> ResponseFilter:
    action = str(d.get("action") or "").upper()
    if action == "SPLIT_REQUEST_WINDOW":
        raise UnsupportedComponentError(
            "the SPLIT_REQUEST_WINDOW action (airbyte-cdk 7's request_window_splitting: the "
            "cursor's date window cut in two and both halves read) is not supported yet",
            path=f"{path}.action",
            file=ctx.file,
            line=line_of(d, "action"),
        )
    if action not in ACTIONS:
        raise ctx.error(
            f"unknown action {d.get('action')!r}",
            d,
            "action",
            path,
            expected="one of " + ", ".join(ACTIONS),
        )
    try:
        codes = frozenset(int(code) for code in d.get("http_codes") or ())
    except (TypeError, ValueError):
        raise ctx.error("http_codes must be numbers", d, "http_codes", path) from None
    return ResponseFilter(
        action=action,
        http_codes=codes,
        error_message_contains=d.get("error_message_contains"),
        predicate=ctx.boolean(d, "predicate", path),
        error_message=ctx.string(d, "error_message", path),
        failure_type=d.get("failure_type"),
    )


@builds("ExponentialBackoffStrategy")
def exponential(ctx: BuildContext, d: dict, path: str) -> ExponentialBackoff:
    return ExponentialBackoff(
        ctx.number(d, "factor", path, 5.0) or 0.0,
        ctx.number(d, "jitter_range_in_seconds", path, 0.0) or 0.0,
    )


@builds("ConstantBackoffStrategy")
def constant(ctx: BuildContext, d: dict, path: str) -> ConstantBackoff:
    return ConstantBackoff(
        ctx.number(d, "backoff_time_in_seconds", path, 0.0) or 0.0,
        ctx.number(d, "jitter_range_in_seconds", path, 0.0) or 0.0,
    )


def _regex(ctx: BuildContext, d: dict, path: str) -> regex.Pattern[str] | None:
    pattern = d.get("regex")
    if not pattern:
        return None
    try:
        return limits.compile_regex(str(pattern))
    except ValueError as error:
        raise ctx.error(f"invalid regex: {error}", d, "regex", path) from None


@builds("WaitTimeFromHeader")
def wait_time(ctx: BuildContext, d: dict, path: str) -> WaitTimeFromHeader:
    return WaitTimeFromHeader(
        str(ctx.constant(d, "header", path)),
        _regex(ctx, d, path),
        ctx.number(d, "max_waiting_time_in_seconds", path),
    )


@builds("WaitUntilTimeFromHeader")
def wait_until(ctx: BuildContext, d: dict, path: str) -> WaitUntilTimeFromHeader:
    return WaitUntilTimeFromHeader(
        str(ctx.constant(d, "header", path)),
        ctx.number(d, "min_wait", path),
        _regex(ctx, d, path),
        ctx.number(d, "max_waiting_time_in_seconds", path),
    )


# -- decoders ------------------------------------------------------------------------------------


@builds("JsonDecoder")
def json_decoder(ctx: BuildContext, d: dict, path: str) -> decoders.Decoder:
    return decoders.decode_json


@builds("JsonlDecoder")
def jsonl_decoder(ctx: BuildContext, d: dict, path: str) -> decoders.Decoder:
    return decoders.decode_jsonl


@builds("CsvDecoder")
def csv_decoder(ctx: BuildContext, d: dict, path: str) -> decoders.Decoder:
    return decoders.decode_csv(
        str(d.get("encoding") or "utf-8"),
        str(d.get("delimiter") or ","),
        [str(value) for value in d.get("set_values_to_none") or []],
    )


@builds("ZipfileDecoder")
def zip_decoder(ctx: BuildContext, d: dict, path: str) -> decoders.Decoder:
    inner = ctx.build(d.get("decoder") or {"type": "JsonDecoder"}, f"{path}.decoder")
    return decoders.decode_zip(inner, ctx.client.max_response_bytes)


@builds("IterableDecoder")
def iterable_decoder(ctx: BuildContext, d: dict, path: str) -> decoders.Decoder:
    return decoders.decode_iterable


@builds("XmlDecoder")
def xml_decoder(ctx: BuildContext, d: dict, path: str) -> decoders.Decoder:
    return decoders.decode_xml


@builds("GzipDecoder")
def gzip_decoder(ctx: BuildContext, d: dict, path: str) -> decoders.Decoder:
    inner = ctx.build(d.get("decoder") or {"type": "JsonDecoder"}, f"{path}.decoder")
    return decoders.decode_gzip(inner, ctx.client.max_response_bytes)
