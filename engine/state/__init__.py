"""Cursor state of streams and partitions, persisted in a SQL table so syncs resume anywhere."""

from engine.state.sql import StateStoreError
from engine.state.store import STATE_SCHEMA_VERSION, StateStore, StoredState

__all__ = ["STATE_SCHEMA_VERSION", "StateStore", "StateStoreError", "StoredState"]
