"""Records out of a decoded page: the extractor, the record filter, and the selector around them.

The selector runs, for every page: extract -> filter -> transformations -> schema normalisation.
Extractor paths are evaluated once when the stream is built (their context is only config and
parameters), so the per-page work is a few dictionary lookups. A line-oriented response (JSON
lines, CSV) arrives as a :class:`~engine.http.decoders.BodyStream` and the extractor runs on each of
its bodies, as in the reference runner: ``field_path: [data]`` takes every line's ``data``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ReadError
from engine.http.decoders import BodyStream
from engine.http.outcome import find_message as _find_message
from engine.records.record_expander import RecordExpander
from engine.templates.interpolation import InterpolatedBoolean

Record = dict[str, Any]
Transformation = Callable[[Record, Mapping[str, Any]], Record | None]


class Extractor:
    # Extractors that read the HTTP response itself (custom ones written against airbyte-cdk)
    # set this and implement ``extract_response``.
    reads_response = False

    def extract(self, body: Any) -> list:
        raise NotImplementedError

    def extract_response(self, response: Any) -> list:
        raise NotImplementedError


def extract_each(extractor: Extractor, bodies: Iterable[Any]) -> list:
    """The records of every body in turn (one body per line of a line-oriented response)."""
    records: list = []
    extract = extractor.extract
    for body in bodies:
        records.extend(extract(body))
    return records


@dataclass(frozen=True)
class DpathExtractor(Extractor):
    """Walks ``path`` into the body; ``*`` collects every value at that level."""

    path: tuple[str, ...] = ()
    expander: RecordExpander | None = None

    def value(self, body: Any) -> Any:
        """Whatever lies at ``path``, a single scalar too (an async job's status, a URL)."""
        return _walk(body, self.path) if self.path and body is not None else body

    def extract(self, body: Any) -> list:
        if body is None:
            return []
        values = self.value(body)
        if isinstance(values, dict):
            values = [values] if values else []
        elif not isinstance(values, list):
            return []
        if self.expander is None:
            return values
        expand = self.expander.expand
        return [item for record in values for item in expand(record)]


def _walk(node: Any, path: Sequence[str]) -> Any:
    for index, key in enumerate(path):
        if key == "*":
            children = (
                node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
            )
            rest = path[index + 1 :]
            collected: list = []
            for child in children:
                found = _walk(child, rest) if rest else child
                if isinstance(found, list) and rest:
                    collected.extend(found)
                elif found not in (None, [], {}):
                    collected.append(found)
            return collected
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and key.lstrip("-").isdigit():
            position = int(key)
            node = node[position] if -len(node) <= position < len(node) else None
        else:
            return None
        if node is None:
            return None
    return node


def _check_records_field(extractor: DpathExtractor, body: Any, warnings: list[str] | None) -> None:
    if not extractor.path or "*" in extractor.path or not isinstance(body, (dict, list)):
        return
    value = extractor.value(body)
    where = "/".join(extractor.path)
    if isinstance(value, (str, int, float, bool)):
        raise ReadError(
            f"the record selector found a {type(value).__name__} at {where!r} where records "
            "belong (a list of objects, or one object)"
        )
    if value is None and body and isinstance(body, dict) and warnings is not None:
        said = _find_message(body)
        keys = ", ".join(list(map(str, body))[:8]) or "none"
        warnings.append(
            f"a page has no records field {where!r} (its keys: {keys})"
            + (f"; it says: {said[:300]}" if said else "")
        )


def _only_objects(raw: list, extractor: Extractor, warnings: list[str] | None) -> list:
    records = [record for record in raw if isinstance(record, dict)]
    if warnings is not None:
        example = next(type(record).__name__ for record in raw if not isinstance(record, dict))
        path = getattr(extractor, "path", None)
        where = f" at {'/'.join(path)!r}" if path else ""
        warnings.append(
            f"{len(raw) - len(records)} of {len(raw)} records{where} are not objects "
            f"(e.g. a {example}) and were skipped"
        )
    return records


@dataclass
class RecordFilter:
    config: Mapping[str, Any]
    condition: InterpolatedBoolean

    def keep(self, record: Record, context: Mapping[str, Any]) -> bool:
        return self.condition.eval(self.config, record=record, **context)

    def filter_page(self, records: Iterable[Record], context: Mapping[str, Any]) -> list[Record]:
        keep = self.keep
        return [r for r in records if keep(r, context)]


@dataclass
class RecordSelector:
    extractor: Extractor
    record_filter: Any = None  # a RecordFilter, or anything with its filter_page()
    transformations: Sequence[Transformation] = ()
    normalize: Callable[[Record], Record] | None = None
    transform_before_filtering: bool = False
    extra_filters: list[Callable[[Record, Mapping[str, Any]], bool]] = field(default_factory=list)

    def select(
        self,
        body: Any,
        context: Mapping[str, Any],
        response: Any = None,
        warnings: list[str] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> tuple[list[Record], int]:
        """The page's records, and how many the extractor found before filtering.

        Records must be objects: a scalar where records belong fails the read, and items of a
        record list that are not objects are skipped with a note in ``warnings``, as is a page
        that lacks the records field altogether (often an error envelope sent with a 200).
        ``stream_state`` (2022 dialect) is what the record filter sees as the state; the 2022
        runtime's transformations saw it moved by each record, which this engine does not
        offer them.
        """
        if self.extractor.reads_response and response is not None:
            raw = self.extractor.extract_response(response)
        elif isinstance(body, BodyStream):
            raw = extract_each(self.extractor, body)
        else:
            if isinstance(self.extractor, DpathExtractor):
                _check_records_field(self.extractor, body, warnings)
            raw = self.extractor.extract(body)
        if not all(isinstance(record, dict) for record in raw):
            raw = _only_objects(raw, self.extractor, warnings)
        if not (self.record_filter or self.transformations or self.normalize or self.extra_filters):
            return raw, len(raw)
        records: Iterable[Record] = raw
        if self.transform_before_filtering:
            records = self._transform(records, context)
        if self.record_filter is not None:
            seen = context if stream_state is None else {**context, "stream_state": stream_state}
            records = self.record_filter.filter_page(records, seen)
        for extra in self.extra_filters:
            records = [r for r in records if extra(r, context)]
        if not self.transform_before_filtering:
            records = self._transform(records, context)
        if self.normalize is not None:
            records = [self.normalize(r) for r in records]
        return list(records), len(raw)

    def _transform(self, records: Iterable[Record], context: Mapping[str, Any]) -> list[Record]:
        result = []
        for record in records:
            current: Record | None = record
            for transformation in self.transformations:
                current = transformation(current, context)
                if current is None:
                    break
            if current is not None:
                result.append(current)
        return result
