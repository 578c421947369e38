"""Request options: the parameters, headers and bodies each component adds to a request.

Several components contribute to one request (the requester itself, the authenticator, the
paginator, the date cursor, the partition router). Each returns a :class:`RequestOptions`; the
requester merges them, and a key given twice with different values is a manifest mistake that
we report instead of letting one silently win.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ManifestError

PARAMETER, HEADER, BODY_DATA, BODY_JSON = "request_parameter", "header", "body_data", "body_json"
INJECT_TARGETS = (PARAMETER, HEADER, BODY_DATA, BODY_JSON)


@dataclass
class RequestOptions:
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)
    body_data: dict[str, Any] | str | None = None
    body_json: dict[str, Any] | None = None

    def merge(self, other: RequestOptions, *, source: str = "") -> RequestOptions:
        """Combine two sets of options; conflicting keys are an error naming both.

        Merging with an empty side returns the other side itself: most requests combine several
        empty contributions, and this runs for every page.
        """
        if other is EMPTY or other.is_empty():
            return self
        if self is EMPTY or self.is_empty():
            return other
        return RequestOptions(
            params=_merge_flat(self.params, other.params, "request parameter", source),
            headers=_merge_flat(self.headers, other.headers, "header", source),
            body_data=_merge_body_data(self.body_data, other.body_data, source),
            body_json=_merge_json(self.body_json, other.body_json, source),
        )

    def is_empty(self) -> bool:
        """Whether merging with these options changes nothing (an empty body counts as none)."""
        return not (self.params or self.headers or self.body_json) and self.body_data in (None, {})


EMPTY = RequestOptions()


@dataclass(frozen=True)
class RequestOption:
    """Where one value goes: a query parameter, a header, or a (possibly nested) body field."""

    inject_into: str
    field_name: str
    field_path: tuple[str, ...] = ()

    def options_for(self, value: Any) -> RequestOptions:
        if value is None or (not self.field_name and not self.field_path):
            return EMPTY
        if self.inject_into == PARAMETER:
            return RequestOptions(params={self.field_name: value})
        if self.inject_into == HEADER:
            return RequestOptions(headers={self.field_name: str(value)})
        if self.inject_into == BODY_DATA:
            return RequestOptions(body_data={self.field_name: value})
        path = self.field_path or (self.field_name,)
        body: dict[str, Any] = {}
        cursor = body
        for key in path[:-1]:
            cursor = cursor.setdefault(key, {})
        cursor[path[-1]] = value
        return RequestOptions(body_json=body)


def check_inject_into(value: Any, path: str) -> str:
    if value not in INJECT_TARGETS:
        raise ManifestError(
            f"inject_into {value!r} is not a place a value can go",
            path=f"{path}.inject_into",
            expected="one of " + ", ".join(INJECT_TARGETS),
        )
    return value


def _merge_flat(left: Mapping, right: Mapping, what: str, source: str) -> dict:
    if not right:
        return dict(left) if not isinstance(left, dict) else left
    merged = dict(left)
    for key, value in right.items():
        if key in merged and merged[key] != value:
            raise ManifestError(
                f"the {what} {key!r} is set twice with different values"
                + (f" ({source})" if source else ""),
                expected=f"each {what} defined by one component only",
            )
        merged[key] = value
    return merged


def _merge_body_data(left: Any, right: Any, source: str) -> Any:
    if right is None or right == {}:
        return left
    if left is None or left == {}:
        return right
    if isinstance(left, str) or isinstance(right, str):
        raise ManifestError(
            "a plain-text request body cannot be combined with other body fields"
            + (f" ({source})" if source else ""),
            expected="either a string body or body fields",
        )
    return _merge_flat(left, right, "body field", source)


def _merge_json(left: dict | None, right: dict | None, source: str) -> dict | None:
    if not right:
        return left
    if not left:
        return right
    merged = dict(left)
    for key, value in right.items():
        if key in merged and isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = _merge_json(merged[key], value, source)
        elif key in merged and merged[key] != value:
            raise ManifestError(
                f"the JSON body field {key!r} is set twice with different values"
                + (f" ({source})" if source else ""),
                expected="each body field defined by one component only",
            )
        else:
            merged[key] = value
    return merged
