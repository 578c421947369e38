"""Templates mentioning ``stream_state`` in today's dialect: tolerated here, refused by the
reference.

airbyte-cdk 7 fails a stream as soon as it evaluates a template whose text mentions
``stream_state`` (its migration guide asks for ``stream_interval`` instead). This engine does
not fail: a DatetimeBasedCursor's start and end still see the stream's state, as earlier
versions of the format allowed, and elsewhere ``stream_state`` is undefined (a mapping entry
reading it is left out). The loader says once which templates do it, because the same manifest
fails under the reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_SHOWN = 3


def stream_state_warning(document: dict[str, Any]) -> str | None:
    """One warning naming the templates (up to a few paths) that mention ``stream_state``."""
    paths = [
        path
        for key in ("streams", "dynamic_streams")
        for path in _template_paths(document.get(key), key)
    ]
    if not paths:
        return None
    shown = ", ".join(paths[:_SHOWN]) + (
        f" and {len(paths) - _SHOWN} more" if paths[_SHOWN:] else ""
    )
    return (
        f"{len(paths)} template(s) mention stream_state ({shown}): airbyte-cdk 7 fails a stream "
        "when it evaluates one; this engine reads on, with the state only in a "
        "DatetimeBasedCursor's start and end (elsewhere stream_state is undefined: use "
        "stream_interval for the slice's window)"
    )


def _template_paths(node: Any, path: str) -> Iterator[str]:
    if isinstance(node, str):
        if "stream_state" in node and ("{{" in node or "{%" in node):
            yield path
    elif isinstance(node, dict):
        for key, value in node.items():
            if key != "$parameters":  # copied onto the components, where they are found
                yield from _template_paths(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _template_paths(value, f"{path}[{index}]")
