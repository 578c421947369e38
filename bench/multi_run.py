"""Benchmark sides for many runs at once: the same daily partitions as 4 concurrent runs or as 1.

Both sides back fill the first `PARTITIONS` days of the daily stream (20 ms API latency) into
PostgreSQL (warehouse and state table in one database of their own, created for the side and
dropped after it). Each run is a forked process of the worker (Dagster is imported before the
clock starts, as in every scenario), materializing its contiguous range of partitions in one
Dagster run with its own ephemeral instance, as a multi-run backfill's runs do. The ratio of
the two times is the speed-up that splitting a backfill into concurrent runs buys.

Both sides warm up first (`bench/warm_up.py`): without it the 1-run side loaded Dagster's run
machinery once and the 4-run side in each of its forked runs.
"""

from __future__ import annotations

import os
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

PARTITIONS = 60
CONCURRENT_RUNS = 4
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def postgres_missing() -> str | None:
    """The reason to skip the scenario, or None."""
    if not os.environ.get("TEST_POSTGRES_URL"):
        return "TEST_POSTGRES_URL is not set (the runs share a PostgreSQL warehouse and state)"
    return None


@contextmanager
def _fresh_database() -> Iterator[str]:
    admin = sa.create_engine(os.environ["TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
    name = f"dd_bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def backfill(manifest: Path, workdir: Path, runs: int) -> int:
    """Back fill the first `PARTITIONS` days as ``runs`` concurrent runs; records read."""
    from dagster_declarative import build_declarative_assets

    (asset,) = build_declarative_assets(manifest)
    keys = asset.partitions_def.get_partition_keys()[:PARTITIONS]
    size = -(-len(keys) // runs)
    ranges = [(keys[i], keys[min(i + size, len(keys)) - 1]) for i in range(0, len(keys), size)]
    with _fresh_database() as url:
        children = []
        for first, last in ranges:
            pid = os.fork()
            if pid == 0:
                _run_range(asset, url, first, last, workdir / f"{first}.count")
            children.append(pid)
        for pid in children:
            _, status = os.waitpid(pid, 0)
            if status != 0:
                raise RuntimeError(f"a run of the backfill failed (wait status {status})")
    return sum(int(path.read_text()) for path in workdir.glob("*.count"))


def _run_range(asset: object, url: str, first: str, last: str, result: Path) -> None:
    """In a forked child: one Dagster run over ``first..last``; never returns."""
    code = 1
    try:
        import dagster as dg

        from dagster_declarative import DeclarativeSourceResource

        outcome = dg.materialize(
            [asset],
            resources={
                "declarative_source": DeclarativeSourceResource(state_url=url, warehouse_url=url)
            },
            run_config=QUIET,
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        )
        events = outcome.get_asset_materialization_events()
        result.write_text(str(sum(e.materialization.metadata["records"].value for e in events)))
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)
