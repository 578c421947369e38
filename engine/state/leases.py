"""Leases that prove their holder alive: short-lived rows in the state table, kept by a heartbeat.

Two runs must never sync one partition at once (the later commit would replace rows the earlier
one counted on). A run claims each partition it syncs with a lease in the state table. The lease
lasts `LEASE_TTL_SECONDS` and a heartbeat thread renews it while the run works, so:

- a run that is killed (SIGKILL, out of memory, a lost machine) stops renewing, and its leases are
  taken over once they lapse, whatever its run status claims;
- liveness lives in the shared state table, so it means the same to every process, Dagster
  instance and command line that uses that table;
- a run longer than the TTL keeps its partitions, because it keeps renewing them.

Clocks of the machines sharing one state table must agree to well within the TTL (NTP does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from types import TracebackType

from engine.state.sql import StateStoreError
from engine.state.store import StateStore

LEASE_TTL_SECONDS = 60.0
"""How long a lease outlives its holder's last heartbeat."""
HEARTBEATS_PER_TTL = 4
"""Renewals per TTL: three heartbeats may fail (a busy database) before the lease lapses."""
UNPARTITIONED_LABEL = "(unpartitioned)"


class LeasesHeld(StateStoreError):
    """Partitions (or streams) another live holder kept leased for longer than we would wait."""

    def __init__(
        self,
        subject: str,
        holders: dict[str, str | None],
        waited: float,
        unit: str = "partition",
        ttl_seconds: float = LEASE_TTL_SECONDS,
    ) -> None:
        self.subject, self.holders = subject, holders
        named = ", ".join(
            f"{partition or UNPARTITIONED_LABEL} (held by {owner or 'a holder that just let go'})"
            for partition, owner in holders.items()
        )
        super().__init__(
            f"{len(holders)} {unit}(s) of {subject} are being synced by others (waited "
            f"{waited:g} s): {named}. Everything else was written. A holder that crashed loses "
            f"its lease at most {ttl_seconds:g} s after its last heartbeat (whatever its "
            "run status says); sync these again then."
        )


class LeaseLost(StateStoreError):
    """A partition's lease lapsed and another run took it: this run must not commit it."""


class LeaseKeeper:
    """The leases one owner (a run, a command-line read) holds on partitions of one stream.

    Use as a context manager: entering starts the heartbeat thread, leaving stops it and
    releases every lease still held. ``ttl_seconds`` is for tests that watch leases lapse.
    """

    def __init__(
        self,
        store: StateStore,
        source: str,
        stream: str,
        owner: str,
        *,
        ttl_seconds: float = LEASE_TTL_SECONDS,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        self.store, self.source, self.stream, self.owner = store, source, stream, owner
        self.ttl_seconds = ttl_seconds
        self._held: dict[str, None] = {}
        self._lost: set[str] = set()
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LeaseKeeper:
        self._thread = threading.Thread(
            target=self._beat, name=f"lease-heartbeat-{self.stream}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._guard:
            held, self._held = list(self._held), {}
        self.store.release_leases(self.source, self.stream, held, self.owner)

    def acquire(self, partitions: Sequence[str]) -> list[str]:
        """Claim ``partitions``; return those another live holder has (the rest are now ours)."""
        refused = self.store.acquire_leases(
            self.source, self.stream, partitions, self.owner, self.ttl_seconds
        )
        taken = set(refused)
        with self._guard:
            for partition in partitions:
                if partition not in taken:
                    self._held[partition] = None
                    self._lost.discard(partition)
        return refused

    def release(self, partitions: Sequence[str]) -> None:
        """Give back ``partitions`` (synced and committed) before the rest is done, so a run
        waiting for them need not wait for this whole run."""
        with self._guard:
            for partition in partitions:
                self._held.pop(partition, None)
        self.store.release_leases(self.source, self.stream, partitions, self.owner)

    def claim_in_turn(
        self, partitions: Sequence[str], wait_seconds: float, poll_seconds: float = 1.0
    ) -> Iterator[list[str]]:
        """Yield groups of ``partitions`` as they become ours: first all that are free at once.

        The caller syncs each group before asking for the next, so a run that overlaps another
        writes everything nobody holds first. Partitions still held by others after
        ``wait_seconds`` raise `LeasesHeld`, naming each with its holder.
        """
        deadline = time.monotonic() + wait_seconds
        waiting = list(partitions)
        while waiting:
            refused = set(self.acquire(waiting))
            claimed = [partition for partition in waiting if partition not in refused]
            waiting = [partition for partition in waiting if partition in refused]
            if claimed:
                yield claimed
                continue
            if time.monotonic() >= deadline:
                holders = {
                    partition: self.store.lease_owner(self.source, self.stream, partition)
                    for partition in waiting
                }
                raise LeasesHeld(self.stream, holders, wait_seconds, ttl_seconds=self.ttl_seconds)
            time.sleep(min(poll_seconds, max(0.0, deadline - time.monotonic())))

    def check(self, partitions: Sequence[str]) -> None:
        """Raise `LeaseLost` if any of ``partitions`` is no longer ours (call before a commit)."""
        with self._guard:
            lost = [partition for partition in partitions if partition in self._lost]
        if lost:
            names = ", ".join(partition or UNPARTITIONED_LABEL for partition in lost)
            raise LeaseLost(
                f"the leases of {self.stream} partition(s) {names} lapsed (no heartbeat for "
                f"{self.ttl_seconds:g} s: the state table was unreachable or this process "
                "stalled) and another run took them; this run does not commit them"
            )

    def renew(self) -> None:
        """Extend every held lease by the TTL; note those another run took meanwhile."""
        with self._guard:
            held = list(self._held)
        if not held:
            return
        lost = self.store.renew_leases(self.source, self.stream, held, self.owner, self.ttl_seconds)
        with self._guard:
            for partition in lost:
                self._held.pop(partition, None)
                self._lost.add(partition)

    def _beat(self) -> None:
        interval = self.ttl_seconds / HEARTBEATS_PER_TTL
        while not self._stop.wait(interval):
            try:
                self.renew()
            except StateStoreError:
                continue  # the next heartbeat tries again; the lease lapses only after the TTL
