"""Dagster Components of dagster-declarative."""
