"""DatetimeBasedCursor: date-window slices, request options for a window, and the cursor state.

Where windows end, where a read resumes and how cursor values compare follow the cursor's
:class:`~engine.slicing.date_rules.DateRules`, chosen when the manifest was normalised. The
window bounds and what a scheduler sees of them are in :mod:`engine.slicing.date_windows`.

The state is ``{cursor_field: value}``. With today's rules the value is the latest cursor seen
in a closed window, formatted with ``datetime_format`` (formatting truncates, so a resumed read
can only start earlier, never later). Windows are closed by the reader strictly in order, so the
state never covers a window whose records were not all emitted.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.datetimes import (
    UTC,
    DatetimeFormatError,
    format_datetime,
    now_utc,
    parse_any_datetime,
    parse_datetime,
)
from engine.durations import Duration
from engine.errors import ReadError
from engine.http.options import EMPTY, RequestOption, RequestOptions
from engine.slicing.base import Cursor, Slice, UnparsableValues
from engine.slicing.clamping import Clamping, clamped_windows
from engine.slicing.date_rules import DATETIME_CURSOR, DateRules
from engine.slicing.date_windows import (
    CLOCK_MACROS,
    DateWindows,
    MinMaxDatetime,
    aware,
    zone_name,
)


@dataclass(eq=False, kw_only=True)
class DatetimeBasedCursor(Cursor):
    config: Mapping[str, Any]
    cursor_field: str
    datetime_format: str
    start_datetime: MinMaxDatetime
    end_datetime: MinMaxDatetime | None = None
    step: Duration | None = None
    cursor_granularity: Duration | None = None
    lookback_window: Duration | None = None
    cursor_datetime_formats: tuple[str, ...] = ()
    start_time_option: RequestOption | None = None
    end_time_option: RequestOption | None = None
    partition_field_start: str = "start_time"
    partition_field_end: str = "end_time"
    is_compare_strictly: bool = False
    is_client_side_incremental: bool = False
    is_data_feed: bool = False
    rules: DateRules = DATETIME_CURSOR
    clamping: Clamping | None = None
    """Windows on day, week or month boundaries (today's rules only; see slicing.clamping)."""
    # Per-partition state: how long the previous read took, re-read for partitions that start
    # from the global cursor (the larger of this and ``lookback_window`` applies).
    runtime_lookback: datetime.timedelta | None = None
    # Shared with the per-partition copies (``fresh``), so each bad value is reported once.
    unparsable: UnparsableValues = field(default_factory=UnparsableValues, repr=False)
    _cursor: Any = field(default=None, init=False, repr=False)  # str, or datetime (modern)
    advanced: bool = field(default=False, init=False, repr=False)
    """Records moved the cursor in this read (beyond the state or start it began from)."""
    _highest: dict[tuple, Any] = field(default_factory=dict, init=False, repr=False)
    _bounds: dict[tuple, tuple[datetime.datetime, datetime.datetime]] = field(
        default_factory=dict, init=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.start_datetime = self.start_datetime.with_default_format(self.datetime_format)
        if self.end_datetime is not None:
            self.end_datetime = self.end_datetime.with_default_format(self.datetime_format)
        formats = [*self.cursor_datetime_formats, self.datetime_format]
        self._parse_formats = tuple(dict.fromkeys(formats))

    @property
    def windows_by_step(self) -> bool:
        """Whether the windows are steps from the start, which a scheduler can list as time
        partitions: without a step there is one window up to now, and clamped windows follow
        the calendar rather than the step (both are read incrementally instead)."""
        return self.step is not None and self.clamping is None

    def fresh(self, runtime_lookback: datetime.timedelta | None = None) -> DatetimeBasedCursor:
        """A cursor with the same settings and no state (one per partition)."""
        return dataclasses.replace(self, runtime_lookback=runtime_lookback)

    # -- state -----------------------------------------------------------------------------

    def set_initial_state(self, state: Mapping[str, Any] | None) -> None:
        value = (state or {}).get(self.cursor_field)
        with self._lock:
            self.advanced = False
            self._highest.clear()
            if value in (None, ""):
                self._cursor = None
            elif self.rules.text_cursor:
                self._cursor = value
            else:
                self._cursor = self.parse(value)

    def state(self) -> dict[str, Any]:
        with self._lock:
            cursor = self._cursor
        if cursor is None:
            return {}
        if isinstance(cursor, datetime.datetime):
            return {self.cursor_field: format_datetime(cursor, self.datetime_format)}
        return {self.cursor_field: cursor}

    def position(self) -> Any:
        """The cursor as a comparable value (datetime, or text in the 2022 rules), or None."""
        with self._lock:
            return self._cursor

    # -- slices ----------------------------------------------------------------------------

    def slices(self, state: Mapping[str, Any] | None = None) -> Iterator[Slice]:
        """The windows of a read that starts from ``state`` (None or {}: from the start).

        The state and the bounds are read now; the windows are made as they are taken, so a
        start in year 1 with a one-minute step sends its first request at once instead of
        building a billion windows first.
        """
        self.set_initial_state(state)
        context = {"stream_state": dict(state or {})}
        now = now_utc()
        end = now
        if self.end_datetime is not None:
            end = min(self._evaluate(self.end_datetime, context), now)
        configured = self._evaluate(self.start_datetime, context)
        start = self.rules.first_start(
            configured, end, self._state_datetime(), self.lookback_window, self.runtime_lookback
        )
        if not self.rules.text_cursor:
            self._start_from(min(configured, end))
            if self.clamping is not None:
                return self._clamped_windows(start, configured, end)
        bounds = self.rules.windows(
            start, end, self.step, self.cursor_granularity, self.is_compare_strictly
        )
        return (self._window(lower, upper) for lower, upper in bounds)

    def _clamped_windows(
        self, start: datetime.datetime, configured: datetime.datetime, end: datetime.datetime
    ) -> list[Slice]:
        assert self.clamping is not None
        upper = self.clamping.read_end(end, self.cursor_granularity)
        if upper < configured:
            return []
        bounds = clamped_windows(
            self.clamping,
            start,
            upper,
            self.step,
            self.cursor_granularity,
            strict=self.is_compare_strictly,
        )
        return [self._window(lower, higher) for lower, higher in bounds]

    def _start_from(self, sync_start: datetime.datetime) -> None:
        """Today's runtime states where a read starts even when it sees no record: the state
        after a read is the newest cursor value seen, and at least the configured start (or
        the state the read began from)."""
        with self._lock:
            if self._cursor is None:
                self._cursor = sync_start

    def _state_datetime(self) -> datetime.datetime | None:
        cursor = self._cursor
        if cursor is None or isinstance(cursor, datetime.datetime):
            return cursor
        return self.parse(cursor)

    def _window(self, start: datetime.datetime, end: datetime.datetime) -> Slice:
        window = {
            self.partition_field_start: format_datetime(start, self.datetime_format),
            self.partition_field_end: format_datetime(end, self.datetime_format),
        }
        with self._lock:
            self._bounds[self._key(window)] = (start, end)
        return window

    def _evaluate(self, bound: MinMaxDatetime, context: dict[str, Any]) -> datetime.datetime:
        return bound.get(self.config, keep_offset=not self.rules.text_cursor, **context)

    # -- windows for schedulers ------------------------------------------------------------

    def describe(self) -> DateWindows:
        start = self._evaluate(self.start_datetime, {"stream_state": {}})
        end = None
        if self.end_datetime is not None and not CLOCK_MACROS.search(
            self.end_datetime.datetime.raw
        ):
            end = self._evaluate(self.end_datetime, {"stream_state": {}})
        return DateWindows(
            cursor_field=self.cursor_field,
            start=start,
            end=end,
            step=self.step,
            granularity=self.rules.slice_granularity(self.cursor_granularity),
            datetime_format=self.datetime_format,
            partition_field_start=self.partition_field_start,
            partition_field_end=self.partition_field_end,
            timezone=zone_name(start),
        )

    def slice_for_window(
        self, start: datetime.datetime, end: datetime.datetime, *, clamp: bool = True
    ) -> Slice:
        """The slice this cursor would produce for the window ``[start, end)``.

        ``end`` is exclusive, as in a scheduler's time window; the slice ends one granularity
        before it (as the rules end a window) and, with ``clamp``, never after the cursor's
        own end or now (``explain`` shows whole windows of a config it only made up).
        """
        zone = self.describe().start.tzinfo
        start, end = aware(start).astimezone(zone), aware(end).astimezone(zone)
        limit = self.rules.window_end(end, self.cursor_granularity)
        if clamp:
            bound = now_utc()
            if self.end_datetime is not None:
                bound = min(self._evaluate(self.end_datetime, {"stream_state": {}}), bound)
            if not self.rules.text_cursor and end >= bound:
                return self._window(start, max(start, bound))  # the last window ends at the end
            limit = min(limit, bound)
        return self._window(start, max(start, limit))

    def window_starts(self, limit: int) -> list[datetime.datetime]:
        """The start of every window a read from the start date produces up to now, then the
        start of the window after the last (so window ``i`` is ``[starts[i], starts[i + 1])``).

        Schedulers list these as partitions when no calendar cadence reproduces the step.
        At most ``limit`` windows are listed (``limit + 1`` starts): the caller decides what
        too many means.
        """
        assert self.step is not None, "a cursor without a step has one window, not a list"
        windows = self.describe()
        end = now_utc() if windows.end is None else min(windows.end, now_utc())
        start, starts = windows.start, []
        while (
            self.rules.starts_window(start, end, self.is_compare_strictly) and len(starts) <= limit
        ):
            starts.append(start)
            start = self.step.add_to(start)
        return [*starts, start]

    # -- records ---------------------------------------------------------------------------

    def parse(self, value: Any) -> datetime.datetime:
        """A cursor value (record or state) as a datetime, trying every declared format."""
        try:
            parsed = parse_any_datetime(value, self._parse_formats)
        except DatetimeFormatError as error:
            raise ReadError(f"the cursor field {self.cursor_field!r}: {error}") from None
        return parsed.replace(tzinfo=UTC) if self.rules.text_cursor else parsed

    def _record_moment(self, value: Any) -> datetime.datetime | None:
        """A record's cursor value as a datetime, or None (noted as a warning) when it does not
        parse: the reference runner keeps such a record and does not move its state for it."""
        try:
            return self.parse(value)
        except ReadError:
            self.unparsable.note(self.cursor_field, value)
            return None

    def take_warnings(self) -> list[str]:
        return self.unparsable.take()

    def request_options(self, stream_slice: Mapping[str, Any]) -> RequestOptions:
        options = EMPTY
        if self.start_time_option is not None:
            options = self.start_time_option.options_for(
                stream_slice.get(self.partition_field_start)
            )
        if self.end_time_option is not None:
            options = options.merge(
                self.end_time_option.options_for(stream_slice.get(self.partition_field_end))
            )
        return options

    def keep(self, stream_slice: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
        """Client-side incremental: drop records outside the slice's window (which starts at
        the state cursor, less the lookback)."""
        if not (self.is_client_side_incremental or self.is_data_feed):
            return True
        value = record.get(self.cursor_field)
        if value is None:
            return True
        moment = self._record_moment(value)
        if moment is None:
            return True
        start, end = self.bounds(stream_slice)
        return start <= moment <= end

    def feed_exhausted(self, stream_slice: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
        """A data feed lists newest first: once a record is older than the window's start (the
        state cursor less the lookback, or the start date), every later page is older still."""
        if not self.is_data_feed:
            return False
        value = record.get(self.cursor_field)
        if value is None or value == "":
            return False
        moment = self._record_moment(value)
        return moment is not None and moment < self.bounds(stream_slice)[0]

    def observe(self, stream_slice: Mapping[str, Any], record: Mapping[str, Any]) -> None:
        value = record.get(self.cursor_field)
        if value is None or value == "":
            return
        key = self._key(stream_slice)
        if self.rules.text_cursor:
            text = str(value)
            with self._lock:
                best = self._highest.get(key)
                if best is None or text > best:
                    self._highest[key] = text
            return
        moment = self._record_moment(value)
        if moment is None:
            return
        start, end = self.bounds(stream_slice)
        if not start <= moment <= end:
            return
        with self._lock:
            best = self._highest.get(key)
            if best is None or moment > best:
                self._highest[key] = moment

    def current_state(self, stream_slice: Mapping[str, Any]) -> dict[str, Any]:
        """With the 2022 rules, the state moved by the records of ``stream_slice`` seen so far
        (the 2022 runtime moved its cursor with every record, so a slice's second page saw the
        first page's values); otherwise the state of the closed windows."""
        if not self.rules.text_cursor:
            return self.state()
        with self._lock:
            cursor = self._text_cursor(stream_slice, self._highest.get(self._key(stream_slice)))
        return {self.cursor_field: cursor} if cursor is not None else {}

    def _text_cursor(self, stream_slice: Mapping[str, Any], highest: Any) -> str | None:
        """The 2022 cursor after ``stream_slice``: the largest text among the slice's highest
        record value, a slice key named like the cursor field, and the cursor so far."""
        from_slice = stream_slice.get(self.cursor_field)
        candidates = [str(v) for v in (highest, from_slice, self._cursor) if v]
        return max(candidates) if candidates else None

    def close_slice(self, stream_slice: Mapping[str, Any]) -> None:
        with self._lock:
            self._bounds.pop(self._key(stream_slice), None)  # a long read keeps no closed window
            highest = self._highest.pop(self._key(stream_slice), None)
            if self.rules.text_cursor:
                self._cursor = self._text_cursor(stream_slice, highest)
            elif highest is not None and (self._cursor is None or highest > self._cursor):
                self._cursor = highest
                self.advanced = True

    def bounds(self, stream_slice: Mapping[str, Any]) -> tuple[datetime.datetime, ...]:
        """The exact datetimes of a window (formatting may have dropped precision)."""
        key = self._key(stream_slice)
        known = self._bounds.get(key)
        if known is not None:
            return known
        start, end = key
        try:
            parsed = (
                parse_datetime(start, self.datetime_format),
                parse_datetime(end, self.datetime_format),
            )
        except DatetimeFormatError as error:
            raise ReadError(f"the slice is not a window of this cursor: {error}") from None
        with self._lock:
            self._bounds[key] = parsed
        return parsed

    def _key(self, stream_slice: Mapping[str, Any]) -> tuple:
        return (
            stream_slice.get(self.partition_field_start),
            stream_slice.get(self.partition_field_end),
        )
