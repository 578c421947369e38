"""Date windows clamped to days, weeks and months, as airbyte-cdk 7.39 cuts them (each case's
windows were read from the reference runner against this same server)."""

from __future__ import annotations

import pytest
from support.slicing_manifests import date_cursor, modern, modern_stream

from engine import load_source
from engine.errors import ManifestError

MONDAY = {"target": "WEEK", "target_details": {"weekday": "MONDAY"}}
THURSDAY = {"target": "WEEK", "target_details": {"weekday": "THURSDAY"}}
SECOND = {"cursor_granularity": "PT1S"}

CASES = {
    # The end rounds down to April 1st less a second; the start rounds up to February 1st.
    "month": (
        ("2024-01-15T00:00:00Z", "2024-04-10T00:00:00Z"),
        {"step": "P1M", **SECOND, "clamping": {"target": "MONTH"}},
        [
            ("2024-02-01T00:00:00Z", "2024-02-29T23:59:59Z"),
            ("2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z"),
        ],
    ),
    "month, a day's granularity": (
        ("2024-01-15T00:00:00Z", "2024-04-10T00:00:00Z"),
        {"step": "P1M", "cursor_granularity": "P1D", "clamping": {"target": "MONTH"}},
        [
            ("2024-02-01T00:00:00Z", "2024-02-29T00:00:00Z"),
            ("2024-03-01T00:00:00Z", "2024-03-31T00:00:00Z"),
        ],
    ),
    "month from config, two-month step": (
        ("2024-01-01T00:00:00Z", "2024-05-02T00:00:00Z"),
        {"step": "P2M", **SECOND, "clamping": {"target": "{{ config['unit'] }}"}},
        [
            ("2024-01-01T00:00:00Z", "2024-02-29T23:59:59Z"),
            ("2024-03-01T00:00:00Z", "2024-04-30T23:59:59Z"),
        ],
    ),
    "day": (
        ("2024-01-01T10:00:00Z", "2024-01-04T05:00:00Z"),
        {"step": "P1D", **SECOND, "clamping": {"target": "DAY"}},
        [
            ("2024-01-02T00:00:00Z", "2024-01-02T23:59:59Z"),
            ("2024-01-03T00:00:00Z", "2024-01-03T23:59:59Z"),
        ],
    ),
    # Without a step (nor granularity) the one window's end rounds up again.
    "day, no step": (
        ("2024-01-01T10:00:00Z", "2024-01-04T05:00:00Z"),
        {"clamping": {"target": "DAY"}},
        [("2024-01-02T00:00:00Z", "2024-01-04T00:00:00Z")],
    ),
    # A step shorter than the period: rounding makes the second window empty, which ends the read.
    "day, six-hour step": (
        ("2024-01-01T10:00:00Z", "2024-01-03T05:00:00Z"),
        {"step": "PT6H", **SECOND, "clamping": {"target": "DAY"}},
        [("2024-01-02T00:00:00Z", "2024-01-02T23:59:59Z")],
    ),
    "week from Monday, ten-day step": (
        ("2024-01-03T00:00:00Z", "2024-02-20T12:00:00Z"),
        {"step": "P10D", **SECOND, "clamping": MONDAY},
        [
            ("2024-01-08T00:00:00Z", "2024-01-21T23:59:59Z"),
            ("2024-01-22T00:00:00Z", "2024-02-04T23:59:59Z"),
            ("2024-02-05T00:00:00Z", "2024-02-18T23:59:59Z"),
        ],
    ),
    "week from Thursday, no step": (
        ("2024-01-03T00:00:00Z", "2024-02-20T12:00:00Z"),
        {"clamping": THURSDAY},
        [("2024-01-04T00:00:00Z", "2024-02-15T00:00:00Z")],
    ),
    "no whole month": (
        ("2024-01-15T00:00:00Z", "2024-01-20T00:00:00Z"),
        {"step": "P1M", **SECOND, "clamping": {"target": "MONTH"}},
        [],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_clamped_windows_are_the_reference_runners(api_server, case):
    (start, end), settings, expected = CASES[case]
    api_server.add_collection("/items", [])
    cursor = date_cursor(start, end, **settings)
    source = load_source(
        modern(modern_stream(api_server.url, "items", "/items", incremental=cursor)),
        {"unit": "MONTH"},
    )
    try:
        list(source.read_records("items"))
    finally:
        source.close()
    asked = [(r.param("updated_since"), r.param("updated_until")) for r in api_server.requests]
    assert asked == expected


@pytest.mark.parametrize(
    ("clamping", "problem"),
    [
        ({"target": "YEAR"}, "unknown clamping target 'YEAR'"),
        ({"target": "WEEK"}, "WEEK clamping needs target_details.weekday"),
    ],
)
def test_a_clamping_the_reference_rejects_is_a_manifest_error(api_server, clamping, problem):
    cursor = date_cursor("2024-01-01T00:00:00Z", None, clamping=clamping)
    manifest = modern(modern_stream(api_server.url, "items", "/items", incremental=cursor))
    with pytest.raises(ManifestError, match=problem) as refused:
        load_source(manifest, {}).stream("items")
    assert refused.value.path == "streams[0].incremental_sync.clamping"


def test_clamped_windows_are_read_incrementally_not_as_date_partitions(api_server):
    from engine import StreamPartitions

    cursor = date_cursor("2024-01-01T00:00:00Z", None, step="P1M", **SECOND)
    stepped = modern(modern_stream(api_server.url, "items", "/items", incremental=cursor))
    cursor_clamped = {**cursor, "clamping": {"target": "MONTH"}}
    clamped = modern(modern_stream(api_server.url, "items", "/items", incremental=cursor_clamped))
    kinds = [
        [d.kind for d in StreamPartitions(load_source(m, {}).stream("items")).describe().dimensions]
        for m in (stepped, clamped)
    ]
    assert kinds == [["datetime"], []]
