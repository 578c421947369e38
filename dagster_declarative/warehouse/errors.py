"""Errors the warehouse raises, each written for the person who has to fix the cause."""

from __future__ import annotations


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
