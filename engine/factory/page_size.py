"""A SimpleRetriever's ``page_size_reduction``, checked as airbyte-cdk 7 checks it.

Re-asking a page with a smaller size is only correct where the next page does not depend on
the page size and where the size is sent at all, so airbyte-cdk 7
(``ModelToComponentFactory._create_page_size_reduction``) refuses the block on a stream with
query properties, a paginator other than a DefaultPaginator with a ``page_size_option``, a
``RequestPath`` page token (the API's next URL already carries the old size) or a
``PageIncrement`` strategy (a smaller size shifts every page boundary); a custom strategy must
take the reduced size (a ``page_size_override`` keyword). A response filter with
``action: REDUCE_PAGE_SIZE`` on the stream's requester needs the block; the block without such
a filter is accepted with a warning (a custom error handler may still resolve to the action).
"""

from __future__ import annotations

from typing import Any

from engine.errors import UnsupportedComponentError
from engine.factory.context import BuildContext
from engine.http.error_handling import REDUCE_PAGE_SIZE
from engine.manifest.yaml_loader import line_of
from engine.streams.page_size_reduction import RESET_POLICIES, PageSizeReduction
from engine.streams.pagination import Strategy

_STRATEGIES = ("CursorPagination", "OffsetIncrement")


def page_size_reduction(
    ctx: BuildContext, d: dict, path: str, query_properties: bool, strategy: Strategy | None
) -> PageSizeReduction | None:
    """The retriever ``d``'s (at ``path``) reduction, or None when it has none;
    ``query_properties``: whether the retriever asks each page once per chunk of properties;
    ``strategy``: its paginator's built strategy."""
    block = d.get("page_size_reduction")
    if not block:
        if uses_reduce_page_size(d.get("requester")):
            raise ctx.error(
                "a response filter of the requester has the REDUCE_PAGE_SIZE action but the "
                "retriever defines no page_size_reduction",
                d,
                None,
                path,
                expected="a page_size_reduction block on the retriever",
            )
        return None
    where = f"{path}.page_size_reduction"
    if not isinstance(block, dict):
        raise ctx.error("page_size_reduction must be an object", d, "page_size_reduction", path)
    _check_supported(ctx, d, path, query_properties, strategy)
    if not uses_reduce_page_size(d.get("requester")):
        ctx.warnings.append(
            f"{where}: no response filter of the requester has the REDUCE_PAGE_SIZE action; "
            "the page size is only reduced if a custom error handler resolves to it"
        )
    reduction = _read(ctx, block, where)
    for field, value, bad in (
        ("reduction_factor", reduction.reduction_factor, reduction.reduction_factor <= 1),
        ("minimum_page_size", reduction.minimum_page_size, reduction.minimum_page_size < 1),
        ("max_attempts", reduction.max_attempts, reduction.max_attempts < 1),
        ("backoff_seconds", reduction.backoff_seconds, reduction.backoff_seconds < 0),
        (
            "retries_at_minimum_page_size",
            reduction.retries_at_minimum_page_size,
            reduction.retries_at_minimum_page_size < 0,
        ),
    ):
        if bad:
            raise ctx.error(f"{field} {value!r} is out of range", block, field, where)
    return reduction


def _read(ctx: BuildContext, block: dict, where: str) -> PageSizeReduction:
    policy = str(block.get("reset_policy") or RESET_POLICIES[0])
    if policy not in RESET_POLICIES:
        raise ctx.error(
            f"unknown reset_policy {policy!r}",
            block,
            "reset_policy",
            where,
            expected=" or ".join(RESET_POLICIES),
        )
    defaults = PageSizeReduction()
    message = ctx.constant(block, "failure_message", where)
    return PageSizeReduction(
        reduction_factor=float(ctx.number(block, "reduction_factor", where, 2.0) or 0.0),
        minimum_page_size=ctx.integer(block, "minimum_page_size", where, 1) or 0,
        max_attempts=ctx.integer(block, "max_attempts", where, defaults.max_attempts) or 0,
        reset_policy=policy,
        backoff_seconds=float(ctx.number(block, "backoff_seconds", where, 0.5) or 0.0),
        retries_at_minimum_page_size=ctx.integer(block, "retries_at_minimum_page_size", where, 0)
        or 0,
        failure_message=str(message) if message else None,
    )


def _check_supported(
    ctx: BuildContext, d: dict, path: str, query_properties: bool, built: Strategy | None
) -> None:
    """Refuse, by path, a retriever where a smaller page could not be asked correctly."""
    paginator: Any = d.get("paginator")
    strategy: Any = paginator.get("pagination_strategy") if isinstance(paginator, dict) else None
    custom = getattr(built, "page_size_reduction_refusal", None)
    if query_properties:
        problem = "query properties (the earlier chunks' records would be read twice)"
    elif not isinstance(paginator, dict) or paginator.get("type") != "DefaultPaginator":
        problem = "a paginator other than a DefaultPaginator (no page size to send)"
    elif not paginator.get("page_size_option"):
        problem = "a paginator without page_size_option (the smaller size would not be sent)"
    elif (paginator.get("page_token_option") or {}).get("type") == "RequestPath":
        problem = "a RequestPath page token (the API's next URL carries the old page size)"
    elif custom is not None:
        if (problem := custom()) is None:
            return
    elif not isinstance(strategy, dict) or strategy.get("type") not in _STRATEGIES:
        kind = strategy.get("type") if isinstance(strategy, dict) else None
        problem = f"a {kind} pagination strategy (supported: {', '.join(_STRATEGIES)})"
    else:
        return
    raise UnsupportedComponentError(
        f"page_size_reduction cannot be used with {problem}, as in airbyte-cdk 7",
        path=f"{path}.page_size_reduction",
        file=ctx.file,
        line=line_of(d, "page_size_reduction"),
    )


def uses_reduce_page_size(requester: Any) -> bool:
    """Whether a response filter of the requester's error handler (nested in composite
    handlers too) has the REDUCE_PAGE_SIZE action."""
    handler = requester.get("error_handler") if isinstance(requester, dict) else None
    return _handler_reduces(handler)


def _handler_reduces(handler: Any) -> bool:
    if not isinstance(handler, dict):
        return False
    if any(_handler_reduces(inner) for inner in handler.get("error_handlers") or ()):
        return True
    return any(
        isinstance(f, dict) and str(f.get("action") or "").upper() == REDUCE_PAGE_SIZE
        for f in handler.get("response_filters") or ()
    )
