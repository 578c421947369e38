"""Datetime formats and durations as manifests write them."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.datetimes import (
    DatetimeFormatError,
    format_datetime,
    now_utc,
    parse_any_datetime,
    parse_datetime,
    parse_iso_datetime,
    parse_lenient_datetime,
)
from engine.durations import Duration, DurationFormatError, parse_duration

UTC = datetime.timezone.utc
PLUS_2 = datetime.timezone(datetime.timedelta(hours=2))


def utc(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


# --- parse / format ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("2021-02-03T04:05:06Z", "%Y-%m-%dT%H:%M:%SZ", utc(2021, 2, 3, 4, 5, 6)),
        ("2021-02-03", "%Y-%m-%d", utc(2021, 2, 3)),
        ("2021-02-03 04:05:06", "%Y-%m-%d %H:%M:%S", utc(2021, 2, 3, 4, 5, 6)),
        ("2021-02-03T04:05:06.5Z", "%Y-%m-%dT%H:%M:%S.%fZ", utc(2021, 2, 3, 4, 5, 6, 500000)),
        ("2021-02-03T04:05:06.123Z", "%Y-%m-%dT%H:%M:%S.%_msZ", utc(2021, 2, 3, 4, 5, 6, 123000)),
        (
            "2021-02-03T04:05:06+0200",
            "%Y-%m-%dT%H:%M:%S%z",
            datetime.datetime(2021, 2, 3, 4, 5, 6, tzinfo=PLUS_2),
        ),
        (
            "2021-02-03T04:05:06+02:00",
            "%Y-%m-%dT%H:%M:%S%z",
            datetime.datetime(2021, 2, 3, 4, 5, 6, tzinfo=PLUS_2),
        ),
        ("2021-02-03T04:05:06Z", "%Y-%m-%dT%H:%M:%S%z", utc(2021, 2, 3, 4, 5, 6)),
        ("20210203", "%Y%m%d", utc(2021, 2, 3)),
        ("03/02/2021", "%d/%m/%Y", utc(2021, 2, 3)),
        # Not zero-padded or with names: handled by strptime.
        ("2021-2-3", "%Y-%m-%d", utc(2021, 2, 3)),
        ("Feb 03 2021", "%b %d %Y", utc(2021, 2, 3)),
        ("Wed, 03 Feb 2021 04:05:06 GMT", "%a, %d %b %Y %H:%M:%S GMT", utc(2021, 2, 3, 4, 5, 6)),
        ("2021-02-03t04:05:06z", "%Y-%m-%dT%H:%M:%SZ", utc(2021, 2, 3, 4, 5, 6)),
        # Epoch directives.
        ("1612325106", "%s", utc(2021, 2, 3, 4, 5, 6)),
        (1612325106, "%s", utc(2021, 2, 3, 4, 5, 6)),
        (1612325106.9, "%s", utc(2021, 2, 3, 4, 5, 6)),
        ("1612325106.9", "%s", utc(2021, 2, 3, 4, 5, 6)),
        (1612325106789, "%ms", utc(2021, 2, 3, 4, 5, 6, 789000)),
        ("1612325106789", "%ms", utc(2021, 2, 3, 4, 5, 6, 789000)),
        ("1612325106.25", "%s_as_float", utc(2021, 2, 3, 4, 5, 6, 250000)),
        (1612325106.25, "%s_as_float", utc(2021, 2, 3, 4, 5, 6, 250000)),
        (1612325106000123, "%epoch_microseconds", utc(2021, 2, 3, 4, 5, 6, 123)),
        ("-86400", "%s", utc(1969, 12, 31)),
    ],
)
def test_parse_datetime(text: str | int | float, fmt: str, expected: datetime.datetime) -> None:
    parsed = parse_datetime(text, fmt)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


def test_parse_datetime_matches_strptime_on_the_fast_path() -> None:
    text, fmt = "2024-02-29T23:59:58.000001+05:30", "%Y-%m-%dT%H:%M:%S.%f%z"
    assert parse_datetime(text, fmt) == datetime.datetime.strptime(text, fmt)
    assert parse_datetime(text, fmt).utcoffset() == datetime.timedelta(hours=5, minutes=30)


def test_keep_offset_false_reproduces_2022_forced_utc() -> None:
    text, fmt = "2021-02-03T04:05:06+0200", "%Y-%m-%dT%H:%M:%S%z"
    assert parse_datetime(text, fmt, keep_offset=False) == utc(2021, 2, 3, 4, 5, 6)
    assert parse_datetime(text, fmt, keep_offset=True) == utc(2021, 2, 3, 2, 5, 6)


@pytest.mark.parametrize(
    ("dt", "fmt", "expected"),
    [
        (utc(2021, 2, 3, 4, 5, 6), "%Y-%m-%dT%H:%M:%SZ", "2021-02-03T04:05:06Z"),
        (utc(2021, 2, 3, 4, 5, 6, 789000), "%Y-%m-%dT%H:%M:%S.%_msZ", "2021-02-03T04:05:06.789Z"),
        (utc(2021, 2, 3, 4, 5, 6, 7000), "%_ms|%_ms", "007|007"),
        (utc(2021, 2, 3, 4, 5, 6), "100%% %_ms", "100% 000"),
        (utc(2021, 2, 3, 4, 5, 6), "%Y-%m-%dT%H:%M:%S.%f%z", "2021-02-03T04:05:06.000000+0000"),
        (utc(2021, 2, 3, 4, 5, 6, 789000), "%s", "1612325106"),
        (utc(2021, 2, 3, 4, 5, 6, 789000), "%ms", "1612325106789"),
        (utc(2021, 2, 3, 4, 5, 6, 250000), "%s_as_float", "1612325106.25"),
        (utc(2021, 2, 3, 4, 5, 6, 123), "%epoch_microseconds", "1612325106000123"),
        (datetime.datetime(2021, 2, 3, 4, 5, 6), "%s", "1612325106"),  # naive means UTC
        (datetime.datetime(2021, 2, 3, 6, 5, 6, tzinfo=PLUS_2), "%s", "1612325106"),
    ],
)
def test_format_datetime(dt: datetime.datetime, fmt: str, expected: str) -> None:
    assert format_datetime(dt, fmt) == expected


@pytest.mark.parametrize(
    ("fmt", "precision"),
    [
        ("%Y-%m-%dT%H:%M:%SZ", 1_000_000),
        ("%Y-%m-%dT%H:%M:%S.%fZ", 1),
        ("%Y-%m-%dT%H:%M:%S.%_msZ", 1000),
        ("%Y-%m-%dT%H:%M:%S.%f%z", 1),
        ("%Y-%m-%d %H:%M:%S.%f+00:00", 1),
        ("%d %b %Y %H:%M:%S.%f", 1),
        ("%s", 1_000_000),
        ("%ms", 1000),
        ("%s_as_float", 1),
        ("%epoch_microseconds", 1),
    ],
)
@given(
    dt=st.datetimes(
        min_value=datetime.datetime(1971, 1, 1),
        max_value=datetime.datetime(2200, 1, 1),
        timezones=st.just(UTC),
    )
)
def test_formats_round_trip(fmt: str, precision: int, dt: datetime.datetime) -> None:
    """Formatting then parsing gives the datetime back, down to the format's precision."""
    truncated = dt.replace(microsecond=dt.microsecond // precision * precision)
    assert parse_datetime(format_datetime(dt, fmt), fmt) == truncated


def test_epoch_formats_handle_dates_before_1970() -> None:
    dt = utc(1901, 5, 6, 7, 8, 9, 123456)
    assert parse_datetime(format_datetime(dt, "%s"), "%s") == dt.replace(microsecond=0)
    assert parse_datetime(format_datetime(dt, "%ms"), "%ms") == dt.replace(microsecond=123000)


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        ("2021-13-01", "%Y-%m-%d"),
        ("2021-02-30", "%Y-%m-%d"),
        ("2021-02-03T04:05:06", "%Y-%m-%d"),
        ("yesterday", "%s"),
        ("", "%ms"),
        (True, "%s"),
        ("nan", "%s_as_float"),
    ],
)
def test_parse_errors_name_value_and_format(value: object, fmt: str) -> None:
    with pytest.raises(DatetimeFormatError) as error:
        parse_datetime(value, fmt)  # type: ignore[arg-type]
    assert repr(value) in str(error.value)
    assert repr(fmt) in str(error.value)
    assert isinstance(error.value, ValueError)


def test_parse_any_datetime_uses_the_first_format_that_matches() -> None:
    formats = ["%Y-%m-%d", "%s", "%Y-%m-%dT%H:%M:%SZ"]
    assert parse_any_datetime("2021-02-03", formats) == utc(2021, 2, 3)
    assert parse_any_datetime("1612325106", formats) == utc(2021, 2, 3, 4, 5, 6)
    assert parse_any_datetime("2021-02-03T04:05:06Z", formats) == utc(2021, 2, 3, 4, 5, 6)


def test_parse_any_datetime_falls_back_to_iso() -> None:
    parsed = parse_any_datetime("2021-02-03T04:05:06.5+02:00", ["%s"])
    assert parsed == datetime.datetime(2021, 2, 3, 4, 5, 6, 500000, tzinfo=PLUS_2)
    assert parse_any_datetime("2021-02-03T04:05:06Z", []) == utc(2021, 2, 3, 4, 5, 6)


def test_parse_any_datetime_error_lists_the_formats_tried() -> None:
    with pytest.raises(DatetimeFormatError, match=r"'soon'.*\['%s', '%Y-%m-%d'\]"):
        parse_any_datetime("soon", ["%s", "%Y-%m-%d"])


def test_iso_and_lenient_parsing() -> None:
    assert parse_iso_datetime("2021-02-03") == utc(2021, 2, 3)
    assert parse_iso_datetime("2021-02-03T04:05:06Z") == utc(2021, 2, 3, 4, 5, 6)
    assert parse_iso_datetime("20210203T040506") == utc(2021, 2, 3, 4, 5, 6)
    with pytest.raises(DatetimeFormatError, match="ISO-8601"):
        parse_iso_datetime("Feb 3 2021")
    assert parse_lenient_datetime("Feb 3 2021 04:05") == utc(2021, 2, 3, 4, 5)
    with pytest.raises(DatetimeFormatError, match="'whenever'"):
        parse_lenient_datetime("whenever")


def test_now_utc_is_aware() -> None:
    assert now_utc().utcoffset() == datetime.timedelta(0)


# --- durations -----------------------------------------------------------------------------------

DAY = datetime.timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "months", "delta"),
    [
        ("P1D", 0, DAY),
        ("PT1H", 0, datetime.timedelta(hours=1)),
        ("P1W", 0, 7 * DAY),
        ("P1M", 1, datetime.timedelta(0)),
        ("P1Y", 12, datetime.timedelta(0)),
        ("P1Y2M3DT4H5M6S", 14, datetime.timedelta(days=3, hours=4, minutes=5, seconds=6)),
        ("PT0.000001S", 0, datetime.timedelta(microseconds=1)),
        ("PT1S", 0, datetime.timedelta(seconds=1)),
        ("PT0,5S", 0, datetime.timedelta(milliseconds=500)),
        ("P0.5D", 0, datetime.timedelta(hours=12)),
        ("PT36H", 0, datetime.timedelta(hours=36)),
        ("P0D", 0, datetime.timedelta(0)),
        ("-P1D", 0, -DAY),
        ("-P1M", -1, datetime.timedelta(0)),
        (" P30D ", 0, 30 * DAY),
        # The 2022 short form: m means months.
        ("1d", 0, DAY),
        ("2w", 0, 14 * DAY),
        ("1m", 1, datetime.timedelta(0)),
        ("1y", 12, datetime.timedelta(0)),
        ("1y2m", 14, datetime.timedelta(0)),
        ("1y2m3w4d", 14, 25 * DAY),
        ("10000d", 0, 10000 * DAY),
        ("0d", 0, datetime.timedelta(0)),
    ],
)
def test_parse_duration(text: str, months: int, delta: datetime.timedelta) -> None:
    assert parse_duration(text) == Duration(months, delta)


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "1", "P1", "1h", "2m1y", "P1.5M", "P0.5Y", "p1d", "P1DT", "1 d", "P1S"]
)
def test_invalid_durations_explain_the_accepted_forms(text: str) -> None:
    with pytest.raises(DurationFormatError) as error:
        parse_duration(text)
    assert repr(text) in str(error.value)
    assert isinstance(error.value, ValueError)


def test_fractional_months_are_rejected_with_a_reason() -> None:
    with pytest.raises(DurationFormatError, match="whole numbers"):
        parse_duration("P1.5M")


def test_non_string_duration_is_rejected() -> None:
    with pytest.raises(DurationFormatError, match="must be a string"):
        parse_duration(7)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("start", "step", "expected"),
    [
        (utc(2023, 1, 31), "P1M", utc(2023, 2, 28)),
        (utc(2024, 1, 31), "P1M", utc(2024, 2, 29)),
        (utc(2024, 3, 31), "P1M", utc(2024, 4, 30)),
        (utc(2024, 2, 29), "P1Y", utc(2025, 2, 28)),
        (utc(2024, 2, 29), "P4Y", utc(2028, 2, 29)),
        (utc(2023, 11, 30), "P3M", utc(2024, 2, 29)),
        (utc(2023, 12, 15, 10), "P1M", utc(2024, 1, 15, 10)),
        (utc(2023, 1, 31), "P1M1D", utc(2023, 3, 1)),
        (utc(2024, 2, 28), "P1D", utc(2024, 2, 29)),
        (utc(2023, 2, 28), "1d", utc(2023, 3, 1)),
        (utc(2023, 1, 31), "1m", utc(2023, 2, 28)),
        (utc(2023, 1, 1), "PT0.000001S", utc(2023, 1, 1, 0, 0, 0, 1)),
    ],
)
def test_duration_add_is_calendar_aware(
    start: datetime.datetime, step: str, expected: datetime.datetime
) -> None:
    duration = parse_duration(step)
    assert duration.add_to(start) == expected
    assert start + duration == expected


def test_duration_subtract_clamps_and_supports_the_minus_operator() -> None:
    assert parse_duration("P1M").subtract_from(utc(2024, 3, 31)) == utc(2024, 2, 29)
    assert utc(2024, 3, 31) - parse_duration("P1M") == utc(2024, 2, 29)
    assert parse_duration("P1D").subtract_from(utc(2024, 3, 1)) == utc(2024, 2, 29)
    assert parse_duration("-P1D").add_to(utc(2024, 3, 1)) == utc(2024, 2, 29)


def test_duration_keeps_the_offset_of_aware_datetimes() -> None:
    start = datetime.datetime(2024, 1, 31, 12, tzinfo=PLUS_2)
    assert parse_duration("P1M").add_to(start).tzinfo == PLUS_2


def test_duration_works_on_dates() -> None:
    assert parse_duration("P1M").add_to(datetime.date(2023, 1, 31)) == datetime.date(2023, 2, 28)


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("PT1H", "hour"),
        ("PT60M", "hour"),
        ("P1D", "day"),
        ("PT24H", "day"),
        ("1d", "day"),
        ("P1W", "week"),
        ("P7D", "week"),
        ("P1M", "month"),
        ("1m", "month"),
        ("P2D", None),
        ("P1Y", None),
        ("P1M1D", None),
        ("PT1S", None),
    ],
)
def test_calendar_unit_recognises_exact_steps(text: str, unit: str | None) -> None:
    assert parse_duration(text).calendar_unit == unit


def test_duration_size_and_zero() -> None:
    assert parse_duration("P0D").is_zero
    assert parse_duration("0d").is_zero
    assert not parse_duration("PT0.000001S").is_zero
    assert not parse_duration("P1M").is_zero
    assert parse_duration("P1D").total_seconds_estimate() == 86400
    assert 28 * 86400 < parse_duration("P1M").total_seconds_estimate() < 31 * 86400
    assert parse_duration("P1Y").total_seconds_estimate() == pytest.approx(365.2425 * 86400)


def test_duration_is_immutable_and_hashable() -> None:
    duration = parse_duration("P1M")
    with pytest.raises(AttributeError):
        duration.months = 2  # type: ignore[misc]
    assert {duration: 1}[Duration(1)] == 1


def test_an_impossible_date_in_a_well_formed_value_is_an_error() -> None:
    with pytest.raises(DatetimeFormatError, match="2023-02-30"):
        parse_datetime("2023-02-30T00:00:00Z", "%Y-%m-%dT%H:%M:%SZ")
