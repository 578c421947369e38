"""The state table behind ``python -m engine read --state-db``: the same rules as in Dagster.

A command-line read resumes each stream from its connection's row (see `connections.py`), holds a
heartbeat lease on every stream it reads (so a Dagster run or a second read of the same connection
cannot interleave with it), and saves state only forwards: a read that started from an older
cursor never moves the stored one back. Streams another live holder is reading are left out of
the read and named in the error that ends it.
"""

from __future__ import annotations

import datetime
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import Any

from engine.slicing.count_cursor import IncrementingCountCursor
from engine.slicing.datetime_cursor import DatetimeBasedCursor
from engine.source import DeclarativeSource
from engine.state.connections import account_digest, default_connection_name, open_connection
from engine.state.leases import LeaseKeeper, LeasesHeld
from engine.state.store import StateStore

CLI_PARTITION = ""
"""A command-line read keeps one state row per stream (the unpartitioned row)."""
_OWNER_PREFIX = "cli:"


class CommandLineState:
    """State rows and leases of one command-line read (use as a context manager)."""

    def __init__(
        self,
        url: str,
        source: DeclarativeSource,
        manifest_name: str,
        connection: str | None = None,
    ) -> None:
        self.source = source
        self.store = StateStore(url)
        digest = account_digest(source.manifest, source.config)
        self.connection = connection or default_connection_name(
            manifest_name, source.manifest, source.config
        )
        self.owner = f"{_OWNER_PREFIX}{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._exits = ExitStack()
        self._keepers: dict[str, LeaseKeeper] = {}
        try:
            legacy = manifest_name if connection is None else connection
            self.notes = open_connection(self.store, self.connection, digest, legacy)
        except BaseException:
            self.store.dispose()
            raise

    def __enter__(self) -> CommandLineState:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self._exits.close()
        finally:
            self.store.dispose()

    def claim(self, streams: Sequence[str]) -> tuple[list[str], LeasesHeld | None]:
        """Lease each stream; the streams now held, and an error naming those others hold."""
        held: dict[str, str | None] = {}
        claimed = []
        for stream in streams:
            keeper = LeaseKeeper(self.store, self.connection, stream, self.owner)
            if keeper.acquire([CLI_PARTITION]) and not self._take_from_dead_reader(keeper):
                held[stream] = self.store.lease_owner(self.connection, stream, CLI_PARTITION)
                continue
            self._keepers[stream] = self._exits.enter_context(keeper)
            claimed.append(stream)
        refused = LeasesHeld(f"connection {self.connection}", held, 0, unit="stream")
        return claimed, refused if held else None

    def _take_from_dead_reader(self, keeper: LeaseKeeper) -> bool:
        """Take over the lease of a command-line read on this machine whose process is gone.

        Its lease would lapse by itself within the TTL; a reader killed and started again on
        the same machine need not wait for that. Owners elsewhere are judged by the TTL only.
        """
        owner = self.store.lease_owner(self.connection, keeper.stream, CLI_PARTITION)
        if owner is None or not _is_dead_local_reader(owner):
            return False
        self.store.release_lease(self.connection, keeper.stream, CLI_PARTITION, owner)
        return not keeper.acquire([CLI_PARTITION])

    def load(self, streams: Sequence[str]) -> dict[str, dict]:
        """The stored state of each stream that has one."""
        found = {}
        for stream in streams:
            state = self.store.load(self.connection, stream, CLI_PARTITION)
            if state is not None:
                found[stream] = state
        return found

    def save(self, stream: str, state: Mapping[str, Any]) -> bool:
        """Save a stream's state unless it would move the stored cursor back; True if saved."""
        self._keepers[stream].check([CLI_PARTITION])
        return self.store.save(
            self.connection,
            stream,
            CLI_PARTITION,
            dict(state),
            cursor_key=cursor_sort_key(self.source, stream, state),
            run_id=self.owner,
        )


def cursor_sort_key(source: DeclarativeSource, stream: str, state: Mapping[str, Any]) -> str | None:
    """A string that sorts like the stream's cursor in ``state`` (None: no ordering known).

    Date cursors give fixed-width UTC ISO-8601, counters zero-padded numbers; per-partition and
    other states have no single order and are saved unguarded.
    """
    cursor = source.stream(stream).cursor
    value = state.get(getattr(cursor, "cursor_field", ""))
    if value in (None, ""):
        return None
    try:
        if isinstance(cursor, DatetimeBasedCursor) and not cursor.rules.text_cursor:
            moment = cursor.parse(value).astimezone(datetime.timezone.utc)
            return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if isinstance(cursor, IncrementingCountCursor) and int(value) >= 0:
            return f"{int(value):020d}"
    except (ValueError, TypeError, OverflowError):
        return None
    return None


def _is_dead_local_reader(owner: str) -> bool:
    """Whether ``owner`` names a command-line read on this machine whose process has ended."""
    parts = owner.split(":")
    if len(parts) != 4 or f"{parts[0]}:" != _OWNER_PREFIX or parts[1] != socket.gethostname():
        return False
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError, OSError):
        return False
    return False
