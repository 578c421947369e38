"""The lease rows of the state store: claiming, renewing, reading and releasing the right to
sync a partition (see :mod:`engine.state.leases` for the heartbeat that keeps them).

A lease that expired (its run crashed or overran) is taken over by the next claim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.state.sql import check_lengths, chunks, claim_many, key_match, native_upsert


class LeaseRows:
    """The lease methods of :class:`~engine.state.store.StateStore` (which provides the table,
    the upsert of its database and its transactions)."""

    _lease: sa.Table
    _upsert: Callable[..., bool]
    _transaction: Callable[..., AbstractContextManager[Connection]]

    def acquire_lease(
        self, source: str, stream: str, partition: str, owner: str, ttl_seconds: float = 3600
    ) -> bool:
        """Take (or renew) the right to sync one partition for ``ttl_seconds``.

        Returns False while another owner holds an unexpired lease. A lease that expired (its
        run crashed or overran) is taken over, so set the TTL above the longest expected run.
        """
        return not self.acquire_leases(source, stream, [partition], owner, ttl_seconds)

    def acquire_leases(
        self,
        source: str,
        stream: str,
        partitions: Sequence[str],
        owner: str,
        ttl_seconds: float = 3600,
    ) -> list[str]:
        """`acquire_lease` for several partitions in one transaction; the ones refused.

        A backfill claims hundreds of partitions: one commit instead of one per partition.
        """
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        for partition in partitions:
            check_lengths(source=source, stream=stream, partition=partition, owner=owner)
        table = self._lease
        now = datetime.now(timezone.utc)
        values = {"owner": owner, "expires_at": now + timedelta(seconds=ttl_seconds)}
        takeover = sa.or_(table.c.owner == owner, table.c.expires_at <= now)
        action = f"acquiring leases of {source}/{stream}"
        with self._transaction(action) as connection:
            if self._upsert is native_upsert:
                taken = claim_many(connection, table, source, stream, partitions, values, takeover)
                return [partition for partition in partitions if partition not in taken]
            return [
                partition
                for partition in partitions
                if not self._upsert(
                    connection,
                    table,
                    {"source": source, "stream": stream, "partition": partition},
                    values,
                    takeover,
                )
            ]

    def renew_leases(
        self, source: str, stream: str, partitions: Sequence[str], owner: str, ttl_seconds: float
    ) -> list[str]:
        """Extend ``owner``'s leases of ``partitions`` by ``ttl_seconds`` from now; return the
        partitions it no longer holds (taken over after they lapsed). One UPDATE per 500."""
        table = self._lease
        expires_at = datetime.now(timezone.utc) + timedelta(seconds=ttl_seconds)
        kept: set[str] = set()
        with self._transaction(f"renewing leases of {source}/{stream}") as connection:
            for chunk in chunks(partitions):
                mine = (
                    table.c.source == source,
                    table.c.stream == stream,
                    table.c.partition.in_(chunk),
                    table.c.owner == owner,
                )
                connection.execute(sa.update(table).where(*mine).values(expires_at=expires_at))
                kept.update(connection.execute(sa.select(table.c.partition).where(*mine)).scalars())
        return [partition for partition in partitions if partition not in kept]

    def lease_owner(self, source: str, stream: str, partition: str) -> str | None:
        """Who holds the unexpired lease of a partition, if anyone."""
        table = self._lease
        now = datetime.now(timezone.utc)
        query = sa.select(table.c.owner).where(
            *key_match(table, source, stream, partition), table.c.expires_at > now
        )
        with self._transaction(f"reading the lease of {source}/{stream}/{partition!r}") as conn:
            return conn.execute(query).scalar_one_or_none()

    def release_lease(self, source: str, stream: str, partition: str, owner: str) -> None:
        """Give a lease back; does nothing if ``owner`` no longer holds it."""
        self.release_leases(source, stream, [partition], owner)

    def release_leases(
        self, source: str, stream: str, partitions: Sequence[str], owner: str
    ) -> None:
        """`release_lease` for several partitions in one transaction."""
        table = self._lease
        with self._transaction(f"releasing leases of {source}/{stream}") as connection:
            for chunk in chunks(partitions):
                connection.execute(
                    sa.delete(table).where(
                        table.c.source == source,
                        table.c.stream == stream,
                        table.c.partition.in_(chunk),
                        table.c.owner == owner,
                    )
                )
