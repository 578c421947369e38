"""Cursor state of streams and partitions, persisted in a SQL table so syncs resume anywhere.

The store is :mod:`engine.state.store` (its tables and errors: :mod:`engine.state.sql`). This
package imports nothing itself: a stream's state migrations live here too, and loading them must
not import SQLAlchemy (``python -m engine check`` never opens a store).
"""
