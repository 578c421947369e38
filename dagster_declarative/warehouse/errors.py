"""Errors the warehouse raises, each written for the person who has to fix the cause."""

from __future__ import annotations

from typing import Any


class WarehouseError(Exception):
    """Base class of every warehouse error."""


class DestinationURLError(WarehouseError):
    """The destination URL names no database this package can write to."""


class WriteModeError(WarehouseError):
    """The write mode does not fit the table (e.g. an upsert on a stream without primary key)."""


class PrimaryKeyValueError(WarehouseError):
    """A record has no usable value for a primary-key field, so it cannot be deduplicated."""


class DestinationLockedError(WarehouseError):
    """Another process kept the database file locked for longer than the wait allows."""


class PartialWriteError(WarehouseError):
    """A part of a multi-partition write failed; the parts before it were committed.

    `result` describes what was written (its `rows_by_partition` names the committed
    partitions); `cause` is the failure of the next part, whose rows were discarded.
    """

    def __init__(self, result: Any, cause: Exception) -> None:
        super().__init__(f"partitions before the failing one were written; then: {cause}")
        self.result = result
        self.cause = cause
