"""The benchmark API: a loopback HTTP server fast enough never to be the bottleneck.

It runs in its own process (``python -m bench.api --records N``, which prints ``READY <port>``),
so its work never competes with the measured client for the interpreter lock. It answers from
pre-serialised JSON: record ``i`` is formatted once at start-up, every aligned page of 100 records
is joined once, and a request only looks up bytes and writes them. HTTP parsing is the minimum
a keep-alive client needs (request line and ``Content-Length``), on uvloop when it is installed.

Paths are ``/[modifier/...]endpoint`` with modifiers ``n<count>`` (collection size, default the
``--records`` given), ``lat<ms>`` (answer after a delay) and ``fault<k>`` (every k-th request of
the server is a ``429`` with ``Retry-After: 0.01``, a wait both runtimes honour: both take
``0`` for no wait and fall back to 1 s). Endpoints:

- ``/page?page=P`` (from 1), ``/offset?offset=O``, ``/cursor?cursor=C``: 100 records a page,
  as ``{"data": [...]}``; the cursor page adds ``"next"`` (absent on the last page);
- ``/daily?start=YYYY-MM-DD...&page=P``: 250 records of that day, 100 a page, dated within it;
- ``/parents?page=P``: 1,000 parents, 100 a page; ``/parents/<id>/children``: 60 children each.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import itertools
from urllib.parse import parse_qsl

PAGE_SIZE = 100
DAILY_RECORDS = 250
DAYS = 365
FIRST_DAY = datetime.date(2024, 1, 1)
PARENTS = 1_000
CHILDREN_PER_PARENT = 60

_RECORD = (
    b'{"id":%d,"name":"item %d","updated_at":"2024-01-01T00:00:00Z",'
    b'"amount":%s,"tags":["a","b"],"active":%s}'
)
_DAILY = b'{"id":%d,"day":%d,"updated_at":"%sT%02d:%02d:00Z","value":%d}'
_PARENT = b'{"id":%d,"name":"parent %d"}'
_CHILD = b'{"id":%d,"parent_id":%d,"value":%d}'
_EMPTY_ARRAY = b""


def _record(i: int) -> bytes:
    return _RECORD % (i, i, repr(i * 1.5).encode(), b"true" if i % 2 else b"false")


def _blocks(fragments: list[bytes], size: int) -> list[bytes]:
    return [b",".join(fragments[i : i + size]) for i in range(0, len(fragments), size)]


class Data:
    """Every answer the server can give, as bytes, built before the first request."""

    def __init__(self, records: int) -> None:
        self.records = records
        self.item_blocks = _blocks([_record(i) for i in range(records)], PAGE_SIZE)
        self.daily_blocks = [self._day(day) for day in range(DAYS)]
        self.parent_blocks = _blocks([_PARENT % (p, p) for p in range(PARENTS)], PAGE_SIZE)
        self.children = [
            b",".join(
                _CHILD % (p * CHILDREN_PER_PARENT + c, p, c) for c in range(CHILDREN_PER_PARENT)
            )
            for p in range(PARENTS)
        ]

    @staticmethod
    def _day(day: int) -> list[bytes]:
        date = str(FIRST_DAY + datetime.timedelta(days=day)).encode()
        fragments = [
            _DAILY % (day * DAILY_RECORDS + i, day, date, (i * 5) // 60, (i * 5) % 60, i)
            for i in range(DAILY_RECORDS)
        ]
        return _blocks(fragments, PAGE_SIZE)

    def items(self, start: int, count: int) -> bytes:
        """Records ``[start, min(start + 100, count))`` as the inside of a JSON array."""
        end = min(start + PAGE_SIZE, count)
        if start >= end:
            return _EMPTY_ARRAY
        if start % PAGE_SIZE == 0 and (end == start + PAGE_SIZE or end == self.records):
            return self.item_blocks[start // PAGE_SIZE]
        return b",".join(_record(i) for i in range(start, end))


def _page(array: bytes, extra: bytes = b"") -> bytes:
    return b'{"data":[' + array + b"]" + extra + b"}"


def _block(blocks: list[bytes], page: int) -> bytes:
    return blocks[page - 1] if 1 <= page <= len(blocks) else _EMPTY_ARRAY


class Api:
    """Maps a request target to (status, extra headers, body, delay in seconds)."""

    def __init__(self, data: Data) -> None:
        self.data = data
        self.requests = itertools.count(1)

    def answer(self, target: str) -> tuple[int, bytes, bytes, float]:
        path, _, query = target.partition("?")
        params = dict(parse_qsl(query))
        segments = [s for s in path.split("/") if s]
        count, delay, fault = self.data.records, 0.0, 0
        while segments and segments[0][:1] in ("n", "l", "f") and segments[0][-1:].isdigit():
            head = segments.pop(0)
            if head.startswith("lat"):
                delay = int(head[3:]) / 1000
            elif head.startswith("fault"):
                fault = int(head[5:])
            else:
                count = min(int(head[1:]), self.data.records)
        number = next(self.requests)
        if fault and number % fault == 0:
            return 429, b"Retry-After: 0.01\r\n", b'{"message":"slow down"}', delay
        body = self._body(segments, params, count)
        if body is None:
            return 404, b"", b'{"message":"no such endpoint"}', delay
        return 200, b"", body, delay

    def _body(self, segments: list[str], params: dict[str, str], count: int) -> bytes | None:
        data = self.data
        page = int(params.get("page", 1))
        match segments:
            case ["page"]:
                return _page(data.items((page - 1) * PAGE_SIZE, count))
            case ["offset"]:
                return _page(data.items(int(params.get("offset", 0)), count))
            case ["cursor"]:
                start = int(params.get("cursor", 0))
                following = start + PAGE_SIZE
                extra = b',"next":"%d"' % following if following < count else b""
                return _page(data.items(start, count), extra)
            case ["daily"]:
                day = (datetime.date.fromisoformat(params["start"][:10]) - FIRST_DAY).days
                blocks = data.daily_blocks[day] if 0 <= day < DAYS else []
                return _page(_block(blocks, page))
            case ["parents"]:
                return _page(_block(data.parent_blocks, page))
            case ["parents", parent, "children"]:
                index = int(parent)
                children = data.children[index] if 0 <= index < PARENTS and page == 1 else b""
                return _page(children)
        return None


_REASONS = {200: b"OK", 404: b"Not Found", 429: b"Too Many Requests"}


def _response(status: int, headers: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
        % (status, _REASONS[status], len(body), headers)
        + body
    )


class _Connection(asyncio.Protocol):
    def __init__(self, api: Api) -> None:
        self.api = api
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            body_length = _content_length(head)
            if len(self.buffer) < end + 4 + body_length:
                return
            self.buffer = self.buffer[end + 4 + body_length :]
            target = head.split(b" ", 2)[1].decode()
            status, headers, body, delay = self.api.answer(target)
            response = _response(status, headers, body)
            if delay:
                asyncio.get_running_loop().call_later(delay, self._write, response)
            else:
                self._write(response)

    def _write(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _content_length(head: bytes) -> int:
    lowered = head.lower()
    marker = lowered.find(b"\r\ncontent-length:")
    if marker < 0:
        return 0
    value = lowered[marker + 17 :].split(b"\r\n", 1)[0]
    return int(value.strip() or 0)


async def _serve(data: Data, port: int) -> None:
    api = Api(data)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(api), "127.0.0.1", port, backlog=256)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="The benchmark's local API (loopback only).")
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    data = Data(args.records)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(data, args.port))
    else:
        uvloop.run(_serve(data, args.port))


if __name__ == "__main__":
    main()
