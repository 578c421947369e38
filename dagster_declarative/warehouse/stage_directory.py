"""Private staging directories for DuckDB writes, and removing those their writers left behind.

A write stages its rows in a directory of its own under ``$TMPDIR`` (a copy of every staged
record). A writer killed with SIGKILL (or by the out-of-memory killer) never removes it, so every
write first removes the stages of writers that are gone. A writer proves it is alive by holding an
exclusive lock on a file in its directory: the operating system drops the lock when the process
dies, whatever killed it, so a directory whose lock can be taken belongs to nobody.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; stale stages are left for the system's temp cleaner
    fcntl = None  # type: ignore[assignment]

STAGE_PREFIX = "dd-duckdb-stage-"
_LOCK_NAME = "writer.lock"
# A directory without its lock file is one being created right now, or one whose writer died
# between creating it and locking it: old enough, it is removed too.
_UNLOCKED_GRACE_SECONDS = 600.0


@contextmanager
def stage_directory() -> Iterator[Path]:
    """A new staging directory, locked by this process while the write lasts, then removed."""
    remove_stale_stages()
    directory = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX))
    lock = _hold_lock(directory)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)  # removed while still locked
        if lock is not None:
            os.close(lock)


def remove_stale_stages(root: Path | None = None) -> list[Path]:
    """Remove the staging directories under ``root`` (default: $TMPDIR) of writers now gone."""
    if fcntl is None:
        return []
    removed = []
    for candidate in Path(root or tempfile.gettempdir()).glob(f"{STAGE_PREFIX}*"):
        if candidate.is_dir() and _abandoned(candidate):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


def _hold_lock(directory: Path) -> int | None:
    """Lock a file under a temporary name, then give it its real name: a cleaner that sees the
    lock file always finds it locked while this writer lives."""
    if fcntl is None:
        return None
    pending = directory / f"{_LOCK_NAME}.new"
    handle = os.open(pending, os.O_CREAT | os.O_WRONLY, 0o600)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.replace(pending, directory / _LOCK_NAME)
    return handle


def _abandoned(directory: Path) -> bool:
    lock_file = directory / _LOCK_NAME
    try:
        handle = os.open(lock_file, os.O_RDONLY)
    except FileNotFoundError:
        try:
            age = time.time() - directory.stat().st_mtime
        except FileNotFoundError:
            return False
        return age > _UNLOCKED_GRACE_SECONDS
    except OSError:
        return False  # another user's directory: not ours to judge
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its writer holds the lock: alive
    finally:
        os.close(handle)
    return True
