"""The demo API's records: generated once, deterministically, around a fixed anchor time.

The data must look recent (so the last few daily partitions have records) yet stay identical for
the whole life of a server, so the anchor is midnight UTC of the day the server starts and the
records are spread over the :data:`HISTORY_DAYS` days before it. A fixed random seed makes every
server started on the same day serve exactly the same records.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any

REGIONS = ("eu", "us", "apac")
HISTORY_DAYS = 90
CUSTOMER_COUNT = 450
ORDER_COUNT = 1200
MAX_NOTES_PER_CUSTOMER = 4
SEED = 20221101

Record = dict[str, Any]
UTC = timezone.utc

_FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia")
_LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")
_STATUSES = ("pending", "paid", "shipped", "refunded")
_NOTE_TOPICS = ("called about invoice", "asked for a demo", "renewed contract", "reported a bug")


def anchor_for_today() -> datetime:
    """Midnight UTC of the current day: the end of the generated history."""
    return datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)


def format_timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 date or date-time; a value without an offset is taken as UTC.

    Raises ValueError with a message fit for an HTTP 400 body.
    """
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date or date-time (e.g. 2024-05-01T00:00:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DemoData:
    """All records the demo API serves, sorted by ``updated_at`` then ``id``."""

    anchor: datetime
    customers: list[Record] = field(default_factory=list)
    orders: list[Record] = field(default_factory=list)
    notes_by_customer: dict[int, list[Record]] = field(default_factory=dict)

    @classmethod
    def generate(cls, anchor: datetime | None = None) -> DemoData:
        anchor = anchor or anchor_for_today()
        rng = random.Random(SEED)
        window = HISTORY_DAYS * 86400

        def moment() -> datetime:
            return anchor - timedelta(seconds=rng.randrange(1, window))

        customers = []
        for customer_id in range(1, CUSTOMER_COUNT + 1):
            updated = moment()
            created = updated - timedelta(days=rng.randrange(0, 400))
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            customers.append(
                {
                    "id": customer_id,
                    "name": f"{first} {last}",
                    "email": f"{first}.{last}.{customer_id}@example.test".lower(),
                    "region": rng.choice(REGIONS),
                    "created_at": format_timestamp(created),
                    "updated_at": format_timestamp(updated),
                }
            )
        orders = [
            {
                "id": order_id,
                "customer_id": rng.randrange(1, CUSTOMER_COUNT + 1),
                "region": rng.choice(REGIONS),
                "status": rng.choice(_STATUSES),
                "amount": round(rng.uniform(5, 500), 2),
                "updated_at": format_timestamp(moment()),
            }
            for order_id in range(1, ORDER_COUNT + 1)
        ]
        notes: dict[int, list[Record]] = {}
        note_id = 0
        for customer in customers:
            created = datetime.fromisoformat(customer["created_at"])
            for _ in range(rng.randrange(0, MAX_NOTES_PER_CUSTOMER + 1)):
                note_id += 1
                notes.setdefault(customer["id"], []).append(
                    {
                        "id": note_id,
                        "customer_id": customer["id"],
                        "body": rng.choice(_NOTE_TOPICS),
                        "created_at": format_timestamp(
                            created + timedelta(hours=rng.randrange(1, 2000))
                        ),
                    }
                )
        return cls(anchor, _by_update(customers), _by_update(orders), notes)

    def customer_ids(self) -> set[int]:
        return {customer["id"] for customer in self.customers}


def _by_update(records: Iterable[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (r["updated_at"], r["id"]))


def updated_between(
    records: Iterable[Record], since: datetime | None, until: datetime | None
) -> list[Record]:
    """Records whose ``updated_at`` lies in ``[since, until]`` (both inclusive, both optional)."""
    low = format_timestamp(since) if since else None
    high = format_timestamp(until) if until else None
    return [
        r
        for r in records
        if (low is None or r["updated_at"] >= low) and (high is None or r["updated_at"] <= high)
    ]
