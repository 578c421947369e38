"""Adapters for the record families: extractors, record filters, transformations, and the
type transformers of schema normalisation.

Each wraps a component built by the reference's factory and calls it the way the reference's
``RecordSelector`` does: the extractor gets the ``requests.Response`` itself, the filter a
page's records with ``stream_state``, ``stream_slice`` (a ``StreamSlice``) and
``next_page_token``, transformations one record with ``config``, ``stream_state`` and
``stream_slice``, in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import requests

from engine.custom import values
from engine.custom.scope import ConnectorScope, scoped
from engine.records.extract import Extractor, Record


class ReferenceExtractor(Extractor):
    """A custom ``RecordExtractor``: ``extract_records(response)``."""

    reads_response = True

    def __init__(self, component: Any, scope: ConnectorScope) -> None:
        self.component = component
        self.scope = scope

    @scoped
    def extract_response(self, response: requests.Response) -> list:
        try:
            return [values.plain(r) for r in self.component.extract_records(response)]
        except Exception as error:
            raise values.failure(self.component, error) from None

    def extract(self, body: Any) -> list:
        """Only a body at hand (an async job's download): it becomes the response's content."""
        response = requests.Response()
        response.status_code = 200
        response._content = orjson.dumps(body)
        response.headers["Content-Type"] = "application/json"
        return self.extract_response(response)


class ReferenceRecordFilter:
    """A custom ``RecordFilter``: ``filter_records`` over a page's records."""

    def __init__(self, component: Any, scope: ConnectorScope) -> None:
        self.component = component
        self.scope = scope

    @scoped
    def filter_page(self, records: Iterable[Record], context: Mapping[str, Any]) -> list[Record]:
        try:
            kept = self.component.filter_records(
                list(records),
                stream_state=dict(context.get("stream_state") or {}),
                stream_slice=values.stream_slice(context.get("stream_slice") or {}),
                next_page_token=context.get("next_page_token"),
            )
            return [values.plain(r) for r in kept]
        except Exception as error:
            raise values.failure(self.component, error) from None

    def keep(self, record: Record, context: Mapping[str, Any]) -> bool:
        return bool(self.filter_page([record], context))


class ReferenceTransformation:
    """A custom ``RecordTransformation``: ``transform(record, config, stream_state, stream_slice)``
    changes the record in place."""

    def __init__(self, component: Any, config: Mapping[str, Any], scope: ConnectorScope) -> None:
        self.component = component
        self.config = config
        self.scope = scope

    @scoped
    def __call__(self, record: Record, context: Mapping[str, Any]) -> Record | None:
        try:
            self.component.transform(
                record,
                config=self.config,
                stream_state=dict(context.get("stream_state") or {}),
                stream_slice=values.stream_slice(context.get("stream_slice") or {}),
            )
        except Exception as error:
            raise values.failure(self.component, error) from None
        return record


class ReferenceTypeTransformer:
    """A custom schema normaliser (``TypeTransformer``): ``transform(record, schema)`` in place."""

    def __init__(self, component: Any, scope: ConnectorScope) -> None:
        self.component = component
        self.scope = scope

    def normalizer(self, schema: Any) -> Any:
        return lambda record: self._normalize(record, schema)

    @scoped
    def _normalize(self, record: Record, schema: Any) -> Record:
        self.component.transform(record, schema())
        return record
