"""A production-shaped Dagster deployment for tests: PostgreSQL storage, the queued run coordinator
and a real `dagster-daemon` process that launches each run in a process of its own.

``fresh_database`` gives a test a PostgreSQL database of its own (dropped afterwards), so Dagster's
storage, the state table and the warehouse of concurrent tests never meet.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import yaml


def postgres_url_or_skip() -> str:
    """TEST_POSTGRES_URL, or skip the test with the reason."""
    import pytest

    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.skip("TEST_POSTGRES_URL is not set; multi-run backfills need a PostgreSQL server")
    return url


@contextmanager
def fresh_database(server_url: str) -> Iterator[sa.URL]:
    """A new, empty database on the server of ``server_url``; dropped on exit."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"dd_scale_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield sa.make_url(server_url).set(database=name)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def write_dagster_home(home: Path, database: sa.URL, max_concurrent_runs: int) -> None:
    """``dagster.yaml``: PostgreSQL storage and the queued run coordinator."""
    # dagster-postgres speaks psycopg2 (its NOTIFY statements fail through psycopg 3, which
    # SQLAlchemy 2.1 picks for a bare postgresql:// URL).
    plain = database.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    settings = {
        "storage": {"postgres": {"postgres_url": plain}},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"max_concurrent_runs": max_concurrent_runs, "dequeue_interval_seconds": 1},
        },
        "telemetry": {"enabled": False},
    }
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings))


def write_code_location(directory: Path, manifest: Path, database: sa.URL, per_run: int) -> Path:
    """A definitions file whose date-partitioned assets back fill ``per_run`` partitions per run,
    with state table and warehouse in ``database``; and the workspace that loads it."""
    url = database.render_as_string(hide_password=False)
    (directory / "defs.py").write_text(
        textwrap.dedent(f"""
            import dagster as dg
            from dagster_declarative import (
                DeclarativeSourceResource, DeclarativeTranslator, build_declarative_assets,
            )

            class MultiRun(DeclarativeTranslator):
                def get_backfill_policy(self, data):
                    return dg.BackfillPolicy.multi_run({per_run})

            defs = dg.Definitions(
                assets=build_declarative_assets({str(manifest)!r}, translator=MultiRun()),
                resources={{"declarative_source": DeclarativeSourceResource(
                    state_url={url!r}, warehouse_url={url!r}
                )}},
                executor=dg.in_process_executor,
            )
        """)
    )
    workspace = directory / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_file": {
                            "relative_path": "defs.py",
                            "working_directory": str(directory),
                            "location_name": "shop",
                        }
                    }
                ]
            }
        )
    )
    return workspace


def load_definitions(directory: Path):  # -> dg.Definitions; Dagster imported by the caller
    """The code location's definitions, imported in this process (to build backfills)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("scale_defs", directory / "defs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.defs


@contextmanager
def running_daemon(home: Path, workspace: Path) -> Iterator[subprocess.Popen]:
    """``dagster-daemon run`` in its own process group, stopped (the whole group) on exit."""
    daemon = Path(sys.executable).with_name("dagster-daemon")
    log = (home / "daemon.log").open("wb")
    process = subprocess.Popen(
        [str(daemon), "run", "-w", str(workspace)],
        cwd=workspace.parent,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the daemon, its code server and any runs
        process.wait()
        log.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise AssertionError(f"{what} not within {timeout:g} s; daemon log:\n{tail}")
        time.sleep(0.5)


def submit_backfill(instance, defs, asset_key, keys: Sequence[str], backfill_id: str) -> None:
    """Submit an asset backfill of ``keys`` as the UI would; the daemon picks it up."""
    from dagster._core.execution.backfill import PartitionBackfill

    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id,
        asset_graph=defs.resolve_asset_graph(),
        partition_names=list(keys),
        asset_selection=[asset_key],
        backfill_timestamp=time.time(),
        tags={},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=None,
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
