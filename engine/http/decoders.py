"""Turning response bytes into the body (or bodies) records are extracted from.

A decoder is a callable ``decoder(response)``. A document format (JSON, XML) gives one body; a
line-oriented one (JSON lines, CSV) gives a :class:`BodyStream`, one body per line or row, and
the record selector runs the extractor on each, as the reference runner does. A stream parses
lazily, so a page never holds its parsed lines beside the records taken from them, and a
gzip-wrapped one is inflated as it is read.

JSON goes through orjson, several times faster than the standard library on API pages. An
empty 200 response or one that is not JSON is treated as a broken response (retried, then a
clear failure) rather than silently read as "no records", which would end pagination early
and lose data without a word. A 204 No Content is an honest empty page. A line of a stream
that cannot be decoded fails the read with the line's number (the reference runner skips it
with a warning, losing the record).
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any
from xml.parsers import expat

import orjson
import requests

from engine.errors import ReadError

Decoder = Callable[[requests.Response], Any]
Opener = Callable[[], IO[bytes]]
LineParser = Callable[[IO[bytes]], Iterator[Any]]

_GZIP_MAGIC = b"\x1f\x8b"
_STREAM_ERRORS = (ValueError, OSError, EOFError, csv.Error, zlib.error)


def _text_preview(content: bytes) -> str:
    text = content[:60].decode("utf-8", "replace").replace("\n", " ").strip()
    return text + ("..." if len(content) > 60 else "")


class BodyStream:
    """The bodies of one line-oriented response, parsed one at a time as they are iterated.

    Iterating again parses again from the response bytes. A body that cannot be decoded raises
    :class:`~engine.errors.ReadError` naming what was wrong (the line, the corrupt gzip data).
    """

    __slots__ = ("_open", "_parse")

    def __init__(self, open_bytes: Opener, parse: LineParser) -> None:
        self._open = open_bytes
        self._parse = parse

    def __iter__(self) -> Iterator[Any]:
        try:
            with self._open() as stream:
                yield from self._parse(stream)
        except _STREAM_ERRORS as error:
            raise ReadError(f"the response body could not be decoded: {error}") from None


@dataclass(frozen=True)
class LineDecoder:
    """A decoder giving a :class:`BodyStream`: ``parse`` reads bodies off the response bytes."""

    parse: LineParser

    def __call__(self, response: requests.Response) -> BodyStream:
        content = response.content
        return BodyStream(lambda: io.BytesIO(content), self.parse)


def decode_json(response: requests.Response) -> Any:
    content = response.content
    if not content:
        if response.status_code == 204:
            return {}
        raise ValueError(f"the API returned an empty body with status {response.status_code}")
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        raise ValueError(
            f"the body is not valid JSON (it starts with {_text_preview(content)!r})"
        ) from None


def _json_lines(stream: IO[bytes]) -> Iterator[Any]:
    loads = orjson.loads
    for number, line in enumerate(stream, 1):
        if line.isspace():  # blank lines separate nothing
            continue
        try:
            yield loads(line)
        except orjson.JSONDecodeError:
            raise ValueError(
                f"line {number} is not valid JSON (it starts with {_text_preview(line)!r})"
            ) from None


decode_jsonl = LineDecoder(_json_lines)


def _text_lines(stream: IO[bytes]) -> Iterator[dict[str, str]]:
    """IterableDecoder: each line of the body, as text, under ``record`` (the reference's shape)."""
    for line in stream:
        yield {"record": line.rstrip(b"\r\n").decode()}


decode_iterable = LineDecoder(_text_lines)


def decode_csv(
    encoding: str = "utf-8", delimiter: str = ",", none_values: Sequence[str] = ()
) -> LineDecoder:
    """CsvDecoder: one body per row, keyed by the header row.

    A delimiter written with a backslash escape (``'\\t'`` in a single-quoted YAML string) is
    unescaped, and cells equal to one of ``none_values`` (``set_values_to_none``) become None,
    as in the reference runner.
    """
    if delimiter.startswith("\\"):
        delimiter = delimiter.encode("utf-8").decode("unicode_escape")
    nones = frozenset(none_values)

    def rows(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
        text = io.TextIOWrapper(stream, encoding=encoding, newline="")
        reader = csv.DictReader(text, delimiter=delimiter)
        if not nones:
            yield from reader
            return
        for row in reader:
            yield {k: None if isinstance(v, str) and v in nones else v for k, v in row.items()}

    return LineDecoder(rows)


def decode_xml(response: requests.Response) -> Any:
    """The document as nested dicts in the shape xmltodict gives the reference runner.

    Names stay as written, prefix included (``ns:item``), and namespace declarations are
    attributes like any other (``@xmlns:ns``); attributes are named ``@name`` and an element's
    text ``#text`` (its pieces around children joined, surrounding whitespace dropped); a
    repeated child becomes a list; an empty element is None. Comments and processing
    instructions are skipped. Entity declarations are refused: expanding them is how a hostile
    document makes a small body huge.
    """
    tree = _XmlTree()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = tree.start
    parser.EndElementHandler = tree.end
    parser.CharacterDataHandler = tree.characters
    parser.EntityDeclHandler = _refuse_entities
    try:
        parser.Parse(response.content, True)
    except expat.ExpatError as error:
        raise ValueError(f"the body is not valid XML: {error}") from None
    return tree.document


def _refuse_entities(*_: Any) -> None:
    raise ValueError("the XML body declares entities, which are not expanded")


class _XmlTree:
    """Builds the nested dicts from expat's events, one open element per stack entry."""

    def __init__(self) -> None:
        self.document: dict[str, Any] | None = None
        self._open: list[tuple[str, dict[str, Any], list[str]]] = []

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self._open.append((name, {f"@{key}": value for key, value in attributes.items()}, []))

    def characters(self, data: str) -> None:
        if self._open:
            self._open[-1][2].append(data)

    def end(self, _: str) -> None:
        name, item, pieces = self._open.pop()
        text = "".join(pieces).strip() or None
        if text is not None and item:
            item["#text"] = text
        value = item or text
        if not self._open:
            self.document = {name: value}
            return
        parent = self._open[-1][1]
        if name not in parent:
            parent[name] = value
        elif isinstance(parent[name], list):
            parent[name].append(value)
        else:
            parent[name] = [parent[name], value]


def decode_gzip(inner: Decoder, max_bytes: int) -> Decoder:
    """GzipDecoder: inflate a gzip body (known by its magic bytes), then decode it with ``inner``.

    A body that is not gzip (the HTTP client already inflated a ``Content-Encoding: gzip``
    response) goes to ``inner`` as it is. A line-oriented ``inner`` reads the gzip data as it
    inflates it, so the inflated body is never held whole. Either way the inflated size is held
    to ``max_bytes`` (the response size limit): a few kilobytes of gzip can inflate to gigabytes.
    """

    def decode(response: requests.Response) -> Any:
        content = response.content
        if content[:2] != _GZIP_MAGIC:
            return inner(response)
        if isinstance(inner, LineDecoder):
            return BodyStream(
                lambda: io.BufferedReader(
                    _BoundedReader(gzip.GzipFile(fileobj=io.BytesIO(content)), max_bytes)
                ),
                inner.parse,
            )
        try:
            with _BoundedReader(gzip.GzipFile(fileobj=io.BytesIO(content)), max_bytes) as body:
                content = body.read()
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"the gzip body is corrupt: {error}") from None
        clone = requests.Response()
        clone.status_code, clone.headers, clone._content = (
            response.status_code,
            response.headers,
            content,
        )
        return inner(clone)

    return decode


def decode_zip(inner: Decoder, max_bytes: int) -> Decoder:
    """ZipfileDecoder: every file of a zip body in turn, each decoded with ``inner`` (a
    line-oriented one reads each file as it inflates it); each file's inflated size is held to
    ``max_bytes``, as for gzip."""

    def files(stream: IO[bytes]) -> Iterator[Any]:
        try:
            archive = zipfile.ZipFile(stream)
        except zipfile.BadZipFile as error:
            raise ValueError(f"the zip body is corrupt: {error}") from None
        with archive:
            for name in archive.namelist():
                with _BoundedReader(archive.open(name), max_bytes) as member:
                    if isinstance(inner, LineDecoder):
                        yield from inner.parse(io.BufferedReader(member))
                        continue
                    clone = requests.Response()
                    clone.status_code, clone._content = 200, member.read()
                    yield inner(clone)

    return LineDecoder(files)


class _BoundedReader(io.RawIOBase):
    """A binary stream that fails once more than ``limit`` bytes were read from ``inner``."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self._inner, self._limit, self._count = inner, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        room = max(min(len(buffer), self._limit + 1 - self._count), 1)
        data = self._inner.read(room)
        self._count += len(data)
        if self._count > self._limit:
            raise ReadError(
                f"the gzip body inflates to more than {self._limit:,} bytes, the response size "
                "limit (--max-response-mib, max_response_mib)"
            )
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()
