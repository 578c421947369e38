"""Dagster definitions of the example: the demo API's streams as assets (``dagster dev``).

Loading the definitions starts the bundled demo API on 127.0.0.1:8765 when nothing answers
there, so ``dagster dev -w workspace.yaml`` works offline with no setup.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from dagster_declarative import DeclarativeSourceResource, build_declarative_definitions
from example_project.demo_api import DEMO_API_KEY, ensure_running

HERE = Path(__file__).resolve().parent
START = (datetime.now(timezone.utc) - timedelta(days=30)).strftime("%Y-%m-%dT00:00:00Z")

defs = build_declarative_definitions(
    HERE / "manifests" / "demo.yaml",
    source_name="demo",
    resource=DeclarativeSourceResource(
        config={"base_url": ensure_running(), "api_key": DEMO_API_KEY, "start_date": START},
        warehouse_url=f"duckdb:///{HERE / 'data' / 'warehouse.duckdb'}",
        state_url=f"sqlite:///{HERE / 'data' / 'state.db'}",
        concurrency=4,
    ),
)
