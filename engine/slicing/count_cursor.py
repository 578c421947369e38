"""IncrementingCountCursor: an integer cursor (an auto-increment id) read in one slice.

APIs that number their records in order (``?since_id=1234``) need no date windows: the read is
one slice starting after the highest id seen so far, which the request carries through
``start_value_option``. The state is ``{cursor_field: <highest id>}``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ReadError
from engine.http.options import EMPTY, RequestOption, RequestOptions
from engine.slicing.base import Cursor, Slice, UnparsableValues


@dataclass(eq=False, kw_only=True)
class IncrementingCountCursor(Cursor):
    cursor_field: str
    start_value: int = 0
    start_value_option: RequestOption | None = None
    _start: int = field(default=0, init=False, repr=False)
    _cursor: int | None = field(default=None, init=False, repr=False)
    _highest: int | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _unparsable: UnparsableValues = field(default_factory=UnparsableValues, init=False)

    def __post_init__(self) -> None:
        self._start = self.start_value

    def take_warnings(self) -> list[str]:
        return self._unparsable.take()

    def set_initial_state(self, state: Mapping[str, Any] | None) -> None:
        value = (state or {}).get(self.cursor_field)
        with self._lock:
            self._highest = None
            self._cursor = None if value in (None, "") else _integer(value, "the state")
            self._start = self.start_value if self._cursor is None else self._cursor

    def slices(self, state: Mapping[str, Any] | None = None) -> list[Slice]:
        self.set_initial_state(state)
        return [{}]

    def request_options(self, stream_slice: Mapping[str, Any]) -> RequestOptions:
        if self.start_value_option is None:
            return EMPTY
        return self.start_value_option.options_for(self._start)

    def observe(self, stream_slice: Mapping[str, Any], record: Mapping[str, Any]) -> None:
        value = record.get(self.cursor_field)
        if value is None or value == "":
            return
        try:
            number = _integer(value, f"the record's {self.cursor_field!r}")
        except ReadError:  # kept, and the state does not move for it, as the reference does
            self._unparsable.note(self.cursor_field, value)
            return
        with self._lock:
            if self._highest is None or number > self._highest:
                self._highest = number

    def close_slice(self, stream_slice: Mapping[str, Any]) -> None:
        with self._lock:
            if self._highest is not None and (self._cursor is None or self._highest > self._cursor):
                self._cursor = self._highest
            self._highest = None

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {} if self._cursor is None else {self.cursor_field: self._cursor}


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ReadError(f"{where} holds {value!r}, which is not an integer cursor value")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ReadError(f"{where} holds {value!r}, which is not an integer cursor value") from None
