"""The plain-Python limit: hand-written ``requests.Session`` loops over the same pages.

What a careful engineer would write for this one API with no framework: keep-alive sessions,
orjson, ``Retry-After`` honoured on 429, one session per thread where the loop is threaded. Each
loop yields records one at a time, as the engine does, so the consumer's work is the same on
both sides.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import requests

from bench.api import DAYS, FIRST_DAY, PAGE_SIZE

TIMEOUT = (10.0, 60.0)
Record = dict[str, Any]


def get_json(session: requests.Session, url: str, params: dict[str, Any]) -> Any:
    while True:
        response = session.get(url, params=params, timeout=TIMEOUT)
        if response.status_code == 429:
            time.sleep(float(response.headers.get("Retry-After", 1)))
            continue
        response.raise_for_status()
        return orjson.loads(response.content)


def page_increment(
    session: requests.Session, url: str, params: dict[str, Any] | None = None
) -> Iterator[Record]:
    page = 1
    while True:
        query = {**(params or {}), **({"page": page} if page > 1 else {})}
        records = get_json(session, url, query)["data"]
        yield from records
        if len(records) < PAGE_SIZE:
            return
        page += 1


def offset_increment(session: requests.Session, url: str) -> Iterator[Record]:
    offset = 0
    while True:
        records = get_json(session, url, {"offset": offset} if offset else {})["data"]
        yield from records
        if len(records) < PAGE_SIZE:
            return
        offset += len(records)


def cursor_pages(session: requests.Session, url: str) -> Iterator[Record]:
    cursor = None
    while True:
        body = get_json(session, url, {"cursor": cursor} if cursor else {})
        yield from body["data"]
        cursor = body.get("next")
        if not cursor:
            return


def sequential(loop: Callable[[requests.Session, str], Iterator[Record]], url: str) -> int:
    with requests.Session() as session:
        return sum(1 for _ in loop(session, url))


def day_params(day: int) -> dict[str, str]:
    date = FIRST_DAY + datetime.timedelta(days=day)
    return {"start": f"{date}T00:00:00Z", "end": f"{date}T23:59:59Z"}


def daily_threaded(url: str, workers: int) -> int:
    """The 365 daily slices in a pool of ``workers`` threads, one session per thread."""
    local = threading.local()
    sessions: list[requests.Session] = []

    def read_day(day: int) -> list[Record]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            sessions.append(session)
        return list(page_increment(session, url, day_params(day)))

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return sum(1 for records in pool.map(read_day, range(DAYS)) for _ in records)
    finally:
        for session in sessions:
            session.close()


def parent_child(url: str) -> int:
    with requests.Session() as session:
        parents = list(page_increment(session, f"{url}/parents"))
        count = 0
        for parent in parents:
            for _ in page_increment(session, f"{url}/parents/{parent['id']}/children"):
                count += 1
        return count
