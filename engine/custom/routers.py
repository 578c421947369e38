"""Adapter for a custom partition router (often a subclass of the reference's
``SubstreamPartitionRouter``).

Its ``stream_slices()`` are our partitions (``StreamSlice`` partition, cursor part and extra
fields flattened into our plain slice); the request options of a slice come from its
``get_request_*`` methods given the slice as a ``StreamSlice``. Its parents are the reference's
own streams, built by its factory and read by the router itself; their states are the router's
``get_stream_state()`` and go back through ``set_initial_state({"parent_state": ...})``, as the
reference's per-partition cursor hands them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.custom import values
from engine.custom.scope import ConnectorScope, scoped, scoped_iterator
from engine.http.options import RequestOptions
from engine.slicing.base import Slice
from engine.slicing.router import PartitionRouter


class ReferencePartitionRouter(PartitionRouter):
    def __init__(
        self, component: Any, scope: ConnectorScope, parent_stream_names: tuple[str, ...] = ()
    ) -> None:
        self.component = component
        self.scope = scope
        self.parent_stream_names = parent_stream_names

    @scoped_iterator
    def iter_partitions(self, parent_state: Mapping[str, Any]) -> Iterator[Slice]:
        if parent_state:
            self.component.set_initial_state({"parent_state": dict(parent_state)})
        try:
            for stream_slice in self.component.stream_slices():
                yield values.our_slice(stream_slice)
        except Exception as error:
            raise values.failure(self.component, error) from None

    @scoped
    def request_options(self, stream_slice: Mapping[str, Any]) -> RequestOptions:
        kwargs = {
            "stream_state": {},
            "stream_slice": values.stream_slice(stream_slice),
            "next_page_token": None,
        }
        component = self.component
        return RequestOptions(
            params=dict(component.get_request_params(**kwargs) or {}),
            headers=dict(component.get_request_headers(**kwargs) or {}),
            body_data=component.get_request_body_data(**kwargs) or None,
            body_json=component.get_request_body_json(**kwargs) or None,
        )

    @scoped
    def parent_state(self) -> dict[str, Any]:
        state = (
            self.component.get_stream_state()
            if hasattr(self.component, "get_stream_state")
            else None
        )
        return dict(state or {})
