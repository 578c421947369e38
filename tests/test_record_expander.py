"""DpathExtractor.record_expander against a real server: the records airbyte-cdk 7.39 emits
for the same pages (checked against the reference runner on this same server)."""

from __future__ import annotations

import pytest
from support.api_server import Response
from support.slicing_manifests import modern, modern_stream

from engine import load_source
from engine.errors import ManifestError

INVOICES = [
    {"id": "a", "lines": {"data": [{"n": 1}, {"n": 2}]}},
    {"id": "b", "lines": {"data": []}},
    {"id": "c", "lines": {"data": ["x"]}},
    {"id": "d"},
]
GROUPS = {"groups": {"one": [{"n": 1}], "two": [{"n": 2}, {"n": 3}], "none": "not a list"}}


def _read(api_server, body, expander: dict) -> list:
    api_server.add_route("GET", "/items", lambda request: Response(200, body))
    stream = modern_stream(api_server.url, "items", "/items")
    extractor = {"type": "DpathExtractor", "field_path": ["data"], "record_expander": expander}
    stream["retriever"]["record_selector"] = {"type": "RecordSelector", "extractor": extractor}
    source = load_source(modern(stream), {})
    try:
        return list(source.read_records("items"))
    finally:
        source.close()


EXPAND = {"type": "RecordExpander", "expand_records_from_field": ["lines", "data"]}
CASES = {
    # (A scalar item alone is no record: the reference fails the stream on one, this engine
    # skips it with a warning, as it does any non-object where records belong.)
    "items": ([INVOICES[0], INVOICES[1], INVOICES[3]], EXPAND, [{"n": 1}, {"n": 2}]),
    "items with the original record": (
        INVOICES,
        {**EXPAND, "remain_original_record": True},
        [
            {"n": 1, "original_record": INVOICES[0]},
            {"n": 2, "original_record": INVOICES[0]},
            {"value": "x", "original_record": INVOICES[2]},
        ],
    ),
    "parents without items": (
        [INVOICES[0], INVOICES[1], INVOICES[3]],
        {**EXPAND, "on_no_records": "emit_parent"},
        [{"n": 1}, {"n": 2}, INVOICES[1], INVOICES[3]],
    ),
    "every list a glob matches": (
        [GROUPS],
        {"type": "RecordExpander", "expand_records_from_field": ["groups", "*"]},
        [{"n": 1}, {"n": 2}, {"n": 3}],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_expanded_records_are_the_reference_runners(api_server, case):
    records, expander, expected = CASES[case]
    assert _read(api_server, {"data": records}, expander) == expected


def test_an_unknown_on_no_records_is_a_manifest_error(api_server):
    with pytest.raises(ManifestError, match="on_no_records"):
        _read(api_server, {"data": []}, {**EXPAND, "on_no_records": "keep"})
