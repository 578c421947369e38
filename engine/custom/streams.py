"""Streams whose retriever or incremental cursor is custom: the reference runs the whole stream.

Why the whole stream: a custom retriever (a ``SimpleRetriever`` subclass) owns the request loop
and a custom incremental cursor owns the slices and the state; an adapter would have to
re-implement what the subclass changes. (airbyte-cdk 7 itself no longer accepts a custom
incremental cursor: building such a stream fails, and the error names the stream.) So the
reference's factory builds the stream (``DefaultStream``), and this engine drives it as it
drives its own: the reference's partitions are our slices, each slice's records come from its
partition's ``read()``, every record is shown to the reference's cursor and a slice is closed
only after all its records have been handed on, so the state we save (the reference cursor's
``state``) never runs ahead of the data. Our other guarantees are kept around it: each HTTP
session the stream holds gets this engine's timeout, total deadline per request, response size
limit (on the body as read, inflated) and redirect rules (no credential follows a redirect to
another origin), and every error is masked and names the stream and slice.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import Any

import requests
import urllib3
from requests.adapters import BaseAdapter

from engine.custom import values
from engine.custom.reference import ReferenceFactory
from engine.custom.scope import scoped, scoped_iterator
from engine.errors import EngineError, ReadError
from engine.http.budget import BudgetAdapter
from engine.http.client import RequestStats
from engine.http.deadline import DeadlineAdapter, within_deadline
from engine.http.redirects import guard_redirects
from engine.http.transport import BoundedTransport
from engine.slicing.base import Cursor, Slice


class ReferenceStreamCursor(Cursor):
    """The slices and state of a stream the reference runs (see the module docstring)."""

    def __init__(
        self,
        reference: ReferenceFactory,
        definition: Mapping[str, Any],
        transport: BoundedTransport,
    ) -> None:
        self.reference = reference
        self.scope = reference.scope
        self.definition = definition
        self.transport = transport
        self.masker = transport.masker
        self._initial: dict[str, Any] = {}
        self._stream: Any = None
        self._partitions: list[tuple[Slice, Any]] = []
        self.cursor_field = str(definition.get("incremental_sync", {}).get("cursor_field") or "")

    def built(self, state: Mapping[str, Any] | None = None) -> Any:
        """The reference's stream, built with ``state`` as its starting state."""
        if self._stream is None or state is not None:
            self._stream = self.reference.stream(self.definition, dict(state or {}))
            guard_sessions(self._stream, self.transport)
        return self._stream

    @scoped
    def json_schema(self) -> dict[str, Any]:
        return dict(self.built().get_json_schema())

    def set_initial_state(self, state: Mapping[str, Any]) -> None:
        self._initial = dict(state or {})
        self._stream = None

    @scoped
    def slices(self, state: Mapping[str, Any] | None = None) -> list[Slice]:
        stream = self.built(dict(state) if state else self._initial)
        self._partitions = [
            (values.our_slice(p.to_slice() or {}), p) for p in stream.generate_partitions()
        ]
        return [dict(our) for our, _ in self._partitions]

    def partition(self, stream_slice: Mapping[str, Any]) -> Any:
        for our, partition in self._partitions:
            if our == dict(stream_slice):
                return partition
        raise ReadError(f"slice {dict(stream_slice)!r} is not one of the stream's slices")

    @scoped_iterator
    def read(self, stream_slice: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        partition = self.partition(stream_slice)
        cursor = self.built().cursor
        for record in partition.read():
            cursor.observe(record)
            yield values.plain(record)

    @scoped
    def close_slice(self, stream_slice: Mapping[str, Any]) -> None:
        self.built().cursor.close_partition(self.partition(stream_slice))

    @scoped
    def state(self) -> dict[str, Any]:
        if not self.cursor_field or self._stream is None:
            return {}
        return dict(self._stream.cursor.state or {})


class ReferenceRetriever:
    """Reads one slice of a reference-run stream; errors are masked ``ReadError`` s."""

    def __init__(self, cursor: ReferenceStreamCursor) -> None:
        self.cursor = cursor
        self.slicer = cursor

    def read_slice(
        self, stream_slice: Mapping[str, Any], stats: RequestStats
    ) -> Iterator[dict[str, Any]]:
        try:
            for record in self.cursor.read(stream_slice):
                stats.records += 1
                yield record
        except EngineError:
            raise
        except Exception as error:  # the connector's own code may raise anything
            message = self.cursor.masker.mask(f"{type(error).__name__}: {error}")
            raise ReadError(f"the reference runtime failed: {message}") from None


_FRAMING_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})
"""Headers that describe the body as sent, not as read (inflated) and replayed."""


def guard_sessions(root: Any, transport: BoundedTransport) -> None:
    """Hold every ``requests.Session`` reachable from ``root`` to ``transport``'s bounds: its
    timeout (unless the manifest set one), its total deadline and its size limit on the body as
    read (inflated), this engine's redirect rules (engine/http/redirects.py) and the manifest's
    ``api_budget`` (airbyte-cdk's factory hands it to every requester it builds; the ones built
    here get none, so their sessions take calls from this engine's budget instead)."""
    seen: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen or isinstance(node, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(node))
        if isinstance(node, requests.Session):
            _bound(node, transport)
            continue
        if isinstance(node, Mapping):
            pending.extend(node.values())
        elif isinstance(node, (list, tuple, set)):
            pending.extend(node)
        elif hasattr(node, "__dict__") and type(node).__module__.split(".")[0] in (
            "airbyte_cdk",
            *_connector_modules(node),
        ):
            pending.extend(vars(node).values())


def _bound(session: requests.Session, transport: BoundedTransport) -> None:
    """Send each request of ``session`` through ``transport.bounded``.

    The body is read whole within the deadline and the limit, as for this engine's own
    requests; a caller that asked for a stream (airbyte-cdk's raw decoders read
    ``response.raw``) gets the body it read, replayed.
    """
    adapter: BaseAdapter = DeadlineAdapter()
    budget = getattr(transport.session.get_adapter("https://"), "budget", None)
    if budget is not None:  # the manifest's api_budget counts these requests too
        adapter = BudgetAdapter(adapter, budget)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    guard_redirects(session, transport.masker)
    send = session.send

    def bounded_send(request: requests.PreparedRequest, **options: Any) -> requests.Response:
        if within_deadline() and options.get("allow_redirects") is False:
            return send(request, **options)  # a redirect's hop: inside its request's bounds
        streamed = options.pop("stream", False)
        if options.get("timeout") is None:
            options["timeout"] = transport.timeout
        response = transport.bounded(send, request, **options)
        if streamed:
            response.raw = urllib3.HTTPResponse(
                body=io.BytesIO(response.content),
                headers={
                    name: value
                    for name, value in response.headers.items()
                    if name.lower() not in _FRAMING_HEADERS
                },
                status=response.status_code,
                preload_content=False,
            )
        return response

    session.send = bounded_send  # type: ignore[method-assign]


def _connector_modules(node: Any) -> tuple[str, ...]:
    """A connector's own objects are walked too (they subclass airbyte-cdk's)."""
    module = type(node).__module__.split(".")[0]
    return (module,) if module in ("components",) or module.startswith("source_") else ()
