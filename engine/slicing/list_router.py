"""ListPartitionRouter (2022: ListStreamSlicer): one partition per value of a fixed list."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.http.options import EMPTY, RequestOption, RequestOptions
from engine.slicing.base import Slice
from engine.slicing.router import PartitionRouter


@dataclass(eq=False)
class ListPartitionRouter(PartitionRouter):
    """Partitions ``{cursor_field: value}`` in the order of ``values``; the value of the slice
    goes into the request through ``request_option``."""

    values: list[Any]
    cursor_field: str
    request_option: RequestOption | None = None

    def iter_partitions(self, parent_state: Mapping[str, Any]) -> Iterator[Slice]:
        return iter([{self.cursor_field: value} for value in self.values])

    def request_options(self, stream_slice: Mapping[str, Any]) -> RequestOptions:
        if self.request_option is None or self.cursor_field not in stream_slice:
            return EMPTY
        return self.request_option.options_for(stream_slice[self.cursor_field])
