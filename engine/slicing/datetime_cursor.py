"""DatetimeBasedCursor: date-window slices, request options for a window, and the cursor state.

One class serves three rule sets, because manifests written against each runtime depend on
its exact window boundaries:

- ``modern``: windows ``[start, start + step - granularity]`` (the last one ends exactly at
  the end boundary; none starts at or after it), the state cursor (minus the lookback) narrows
  the start, records count toward the state only inside their window, and
  values are compared as datetimes.
- ``jan2023`` (2022 dialect with ``cursor_granularity``): the lookback is subtracted from the
  start wherever it came from.
- ``nov2022`` (2022 dialect without ``cursor_granularity``): windows end one day before the next
  start, a read restarts the day after the state cursor, and the cursor is the largest value
  compared as text (the 2022 runtime compared strings), whatever window the record fell in.

The state is ``{cursor_field: value}``. In the modern rules the value is the latest cursor seen
in a closed window, formatted with ``datetime_format`` (formatting truncates, so a resumed read
can only start earlier, never later). Windows are closed by the reader strictly in order, so the
state never covers a window whose records were not all emitted.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.datetimes import (
    UTC,
    DatetimeFormatError,
    Duration,
    format_datetime,
    now_utc,
    parse_any_datetime,
    parse_datetime,
)
from engine.errors import ConfigError, ReadError
from engine.http.options import EMPTY, RequestOption, RequestOptions
from engine.interpolation import InterpolatedString
from engine.slicing.base import Cursor, Slice, UnparsableValues
from engine.slicing.clamping import Clamping, clamped_windows

Rules = Literal["modern", "jan2023", "nov2022"]
DEFAULT_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
_ONE_DAY = datetime.timedelta(days=1)
# Macros whose value depends on the clock: an end built from them means "now" to a scheduler.
_CLOCK_MACROS = re.compile(r"\b(now_utc|now_local|today_utc|today_with_timezone|day_delta)\s*\(")


@dataclass(frozen=True)
class MinMaxDatetime:
    """A datetime template with optional lower and upper bounds, all parsed with one format."""

    datetime: InterpolatedString
    datetime_format: str = ""
    min_datetime: InterpolatedString | None = None
    max_datetime: InterpolatedString | None = None

    def with_default_format(self, fmt: str) -> MinMaxDatetime:
        """Inherit the cursor's format when this one declares none (the format's rule)."""
        if self.datetime_format:
            return self
        return MinMaxDatetime(self.datetime, fmt, self.min_datetime, self.max_datetime)

    def get(
        self, config: Mapping[str, Any], *, keep_offset: bool = True, **context: Any
    ) -> datetime.datetime:
        fmt = self.datetime_format or DEFAULT_DATETIME_FORMAT
        value = self._parse(self.datetime, config, fmt, keep_offset, context)
        if value is None:
            raise ConfigError(
                f"the date {self.datetime.raw!r} is empty: the config has no value for the key "
                "it names"
            )
        lower = self._parse(self.min_datetime, config, fmt, keep_offset, context)
        upper = self._parse(self.max_datetime, config, fmt, keep_offset, context)
        if lower is not None and value < lower:
            value = lower
        if upper is not None and value > upper:
            value = upper
        return value

    @staticmethod
    def _parse(
        template: InterpolatedString | None,
        config: Mapping[str, Any],
        fmt: str,
        keep_offset: bool,
        context: dict[str, Any],
    ) -> datetime.datetime | None:
        if template is None:
            return None
        text = template.eval_str(config, **context)
        if text == "":
            return None
        try:
            parsed = parse_any_datetime(text, [fmt])
        except DatetimeFormatError:
            raise ConfigError(
                f"the date {text!r} (from {template.raw!r}) matches neither the datetime "
                f"format {fmt!r} nor ISO-8601"
            ) from None
        return parsed if keep_offset else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DateWindows:
    """How a cursor cuts time into windows, for schedulers that partition by time (Dagster).

    ``end`` is None when the windows run up to the present (no end, or an end computed from the
    clock). ``timezone`` is an IANA name ("UTC", a zone key, or "Etc/GMT+5" for a fixed UTC-5
    offset), or "+05:30" style text when no IANA name fits the start's offset.
    """

    cursor_field: str
    start: datetime.datetime
    end: datetime.datetime | None
    step: Duration | None
    granularity: Duration | None
    datetime_format: str
    partition_field_start: str
    partition_field_end: str
    timezone: str


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
    rules: Rules = "modern"
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
    def legacy(self) -> bool:
        """The 2022 runtime: offsets in text are ignored and cursors compare as strings."""
        return self.rules != "modern"

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
            elif self.legacy:
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
        start = self._first_start(configured, end)
        if self.rules == "modern":
            self._start_from(min(configured, end))
            if self.clamping is not None:
                return self._clamped_windows(start, configured, end)
            return self._modern_windows(start, end)
        return self._legacy_windows(start, end)

    def _legacy_windows(self, start: datetime.datetime, end: datetime.datetime) -> Iterator[Slice]:
        if self.step is None:
            if self._continues(start, end):
                yield self._window(start, end)
            return
        while self._continues(start, end):
            following = self._step_from(start, end)
            yield self._window(start, min(self._window_end(following), end))
            start = following

    def _modern_windows(self, start: datetime.datetime, end: datetime.datetime) -> Iterator[Slice]:
        """Today's rule: windows ``[start, start + step - granularity]``, but the last one ends
        exactly at the end boundary, and no window starts at or after it (a P1M step from
        2023-12-01 to an end of 2024-01-01T00:00:00 is one window, not a second empty one)."""
        while self._continues(start, end):
            upper = end if self.step is None else min(self._step_from(start, end), end)
            yield self._window(start, upper if upper >= end else self._window_end(upper))
            start = upper

    def _step_from(self, start: datetime.datetime, end: datetime.datetime) -> datetime.datetime:
        """The next window's start; a step past year 9999 ends the windows at ``end``."""
        assert self.step is not None
        try:
            return self.step.add_to(start)
        except OverflowError:
            return end + datetime.timedelta(days=1)

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

    def _first_start(self, start: datetime.datetime, end: datetime.datetime) -> datetime.datetime:
        lookback = self.lookback_window
        cursor = self._state_datetime()
        if self.rules == "nov2022":
            if lookback is not None:
                start = lookback.subtract_from(start)
            start = min(start, end)
            return max(start, cursor + _ONE_DAY) if cursor is not None else start
        start = min(start, end)
        if self.rules == "jan2023":
            start = max(start, cursor) if cursor is not None else start
            return lookback.subtract_from(start) if lookback is not None else start
        if cursor is not None:
            floor = lookback.subtract_from(cursor) if lookback else cursor
            if self.runtime_lookback:
                floor = min(floor, cursor - self.runtime_lookback)
            start = max(start, floor)
        return start

    def _state_datetime(self) -> datetime.datetime | None:
        cursor = self._cursor
        if cursor is None or isinstance(cursor, datetime.datetime):
            return cursor
        return self.parse(cursor)

    def _continues(self, start: datetime.datetime, end: datetime.datetime) -> bool:
        """Whether a window starts at ``start``: today's rule never starts one at the end; the
        2022 runtime did, unless ``is_compare_strictly``."""
        if self.rules == "modern" or self.is_compare_strictly:
            return start < end
        return start <= end

    def _window_end(self, next_start: datetime.datetime) -> datetime.datetime:
        if self.rules == "nov2022":
            return next_start - _ONE_DAY
        if self.cursor_granularity is not None:
            return self.cursor_granularity.subtract_from(next_start)
        return next_start

    def _window(self, start: datetime.datetime, end: datetime.datetime) -> Slice:
        window = {
            self.partition_field_start: format_datetime(start, self.datetime_format),
            self.partition_field_end: format_datetime(end, self.datetime_format),
        }
        with self._lock:
            self._bounds[self._key(window)] = (start, end)
        return window

    def _evaluate(self, bound: MinMaxDatetime, context: dict[str, Any]) -> datetime.datetime:
        return bound.get(self.config, keep_offset=not self.legacy, **context)

    # -- windows for schedulers ------------------------------------------------------------

    def describe(self) -> DateWindows:
        start = self._evaluate(self.start_datetime, {"stream_state": {}})
        end = None
        if self.end_datetime is not None and not _CLOCK_MACROS.search(
            self.end_datetime.datetime.raw
        ):
            end = self._evaluate(self.end_datetime, {"stream_state": {}})
        return DateWindows(
            cursor_field=self.cursor_field,
            start=start,
            end=end,
            step=self.step,
            granularity=_ONE_DAY_DURATION if self.rules == "nov2022" else self.cursor_granularity,
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
        before it (one day in the Nov-2022 rules) and, with ``clamp``, never after the cursor's
        own end or now (``explain`` shows whole windows of a config it only made up).
        """
        zone = self.describe().start.tzinfo
        start, end = _aware(start).astimezone(zone), _aware(end).astimezone(zone)
        limit = self._window_end(end)
        if clamp:
            bound = now_utc()
            if self.end_datetime is not None:
                bound = min(self._evaluate(self.end_datetime, {"stream_state": {}}), bound)
            if self.rules == "modern" and end >= bound:
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
        while self._continues(start, end) and len(starts) <= limit:
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
        return parsed.replace(tzinfo=UTC) if self.legacy else parsed

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
        if self.legacy:
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

    def close_slice(self, stream_slice: Mapping[str, Any]) -> None:
        with self._lock:
            self._bounds.pop(self._key(stream_slice), None)  # a long read keeps no closed window
            highest = self._highest.pop(self._key(stream_slice), None)
            if self.legacy:
                from_slice = stream_slice.get(self.cursor_field)
                candidates = [str(v) for v in (highest, from_slice, self._cursor) if v]
                self._cursor = max(candidates) if candidates else None
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


_ONE_DAY_DURATION = Duration(0, _ONE_DAY)


def _aware(moment: datetime.datetime) -> datetime.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def zone_name(moment: datetime.datetime) -> str:
    """An IANA name for the time zone of ``moment`` (see :class:`DateWindows`)."""
    key = getattr(moment.tzinfo, "key", None)
    if key:
        return str(key)
    offset = moment.utcoffset() or datetime.timedelta(0)
    if not offset:
        return "UTC"
    hours, remainder = divmod(offset, datetime.timedelta(hours=1))
    if not remainder:
        return f"Etc/GMT{-hours:+d}"  # IANA's Etc zones count the sign the other way
    sign = "-" if offset < datetime.timedelta(0) else "+"
    minutes = abs(offset) // datetime.timedelta(minutes=1)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
