"""A DuckDB write killed with SIGKILL: its loader process ends with it, the next write removes its
staging directory (a copy of the staged records), and the warehouse holds none of its rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from dagster_declarative.warehouse.duckdb_destination import DuckDBDestination
from dagster_declarative.warehouse.spec import TableSpec, WriteMode
from dagster_declarative.warehouse.stage_directory import STAGE_PREFIX, remove_stale_stages

TABLE = TableSpec("shop", "events", {"type": "object", "properties": {"id": {"type": "integer"}}})

WRITER = textwrap.dedent("""
    import sys, time
    from dagster_declarative.warehouse.duckdb_destination import DuckDBDestination
    from dagster_declarative.warehouse.spec import TableSpec, WriteMode

    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    table = TableSpec("shop", "events", schema)

    def batches():
        for start in range(0, 3000, 100):
            yield [{"id": i} for i in range(start, start + 100)]
        print("staged", flush=True)
        time.sleep(600)

    DuckDBDestination(sys.argv[1], background_after=500).write(
        table, batches(), mode=WriteMode.REPLACE_PARTITION, partition_key="p", run_id="killed"
    )
""")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_a_killed_write_leaves_no_loader_and_its_stage_is_removed_by_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    warehouse = tmp_path / "wh.duckdb"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(warehouse)],
        stdout=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == b"staged"
        (loader,) = _children(writer.pid)
        (stage,) = temp.glob(f"{STAGE_PREFIX}*")
        assert remove_stale_stages(temp) == []  # its writer is alive: left alone
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    deadline = time.monotonic() + 10
    while _alive(loader) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(loader), "the loader process outlived its writer"
    assert stage.exists()

    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    DuckDBDestination(warehouse).write(
        TABLE, [[{"id": 1}]], mode=WriteMode.REPLACE_PARTITION, partition_key="q", run_id="next"
    )
    assert not stage.exists()
    assert list(temp.iterdir()) == []
    connection = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = connection.execute("SELECT id, _dd_run_id FROM shop.events").fetchall()
    finally:
        connection.close()
    assert rows == [(1, "next")]
