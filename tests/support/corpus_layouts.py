"""Response layouts that a connector's own Python code expects and nothing in its manifest
describes: test data for `CorpusServer`, keyed by the class whose code reads the layout.

The server generates records from a stream's schema, which gives their shape after every
component ran. A custom extractor that builds records out of an API's own structure (Amplitude's
day series, Mixpanel's funnel days keyed by date) or a custom transformation that reshapes them
(Mixpanel's ``$properties``) needs the API's shape instead. Each entry here turns the generated
records into that shape, so the component's code gives back records of the schema's shape:

- ``BODY_LAYOUTS``: class of a custom extractor -> the response body holding the records;
- ``RECORD_LAYOUTS``: class of a custom transformation -> one record as the API sends it.

Nothing here is used by the engine: it answers the question "what would this API send?", which
the connector's authors answered in their code, not in their manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _amplitude_average_session_length(records: list[dict]) -> Any:
    # One series of lengths, one value per day of ``xValues`` (dashboard REST API).
    return {
        "data": {
            "xValues": [r["date"] for r in records],
            "series": [[r.get("length") for r in records]],
        }
    }


def _amplitude_active_users(records: list[dict]) -> Any:
    # A series per label (a segment, e.g. a country), each with one count per day.
    labels = sorted({label for r in records for label in r.get("statistics") or {}}) or ["all"]
    counts = [
        [(r.get("statistics") or {}).get(label, index + 1) for index, r in enumerate(records)]
        for label in labels
    ]
    return {
        "data": {"xValues": [r["date"] for r in records], "seriesLabels": labels, "series": counts}
    }


def _mixpanel_funnels(records: list[dict]) -> Any:
    # One object per day under ``data``, keyed by the date.
    days = {}
    for record in records:
        fields = dict(record)
        days[str(fields.pop("date"))] = fields
    return {"data": days}


def _mixpanel_engage_properties(definitions: list[dict]) -> Any:
    # The properties of people profiles, keyed by name (the extractor adds each name).
    return {
        "results": {d["name"]: {k: v for k, v in d.items() if k != "name"} for d in definitions}
    }


def _mixpanel_engage_record(record: dict) -> dict:
    # A profile: ``$distinct_id`` and its ``$properties`` (reserved names start with "$").
    properties = {f"${k}": v for k, v in record.items() if k != "distinct_id"}
    return {"$distinct_id": record.get("distinct_id"), "$properties": properties}


BODY_LAYOUTS: dict[str, Callable[[list[dict]], Any]] = {
    "source_amplitude.components.AverageSessionLengthRecordExtractor": (
        _amplitude_average_session_length
    ),
    "source_amplitude.components.ActiveUsersRecordExtractor": _amplitude_active_users,
    "source_mixpanel.components.FunnelsDpathExtractor": _mixpanel_funnels,
    "source_mixpanel.components.EngagePropertiesDpathExtractor": _mixpanel_engage_properties,
}

RECORD_LAYOUTS: dict[str, Callable[[dict], dict]] = {
    "source_mixpanel.components.EngageTransformation": _mixpanel_engage_record,
}
