"""Pacing Python's cyclic garbage collector while a write holds batches of records.

CPython runs a young-generation collection each time 700 more container objects (dicts, lists)
are alive than at the last one. A reader that hands records on one by one never gets there,
but a write holds a whole batch (5,000 records of a dict and a list or two each), so collections
run every few hundred records, the batch survives them, is promoted, and every few batches
triggers a full collection that walks every object of the process: measured 0.9 s of a 3.9 s
write of 300,000 records, and more in a Dagster process, whose heap is several times larger.

While a write runs, the young generation's threshold is raised so that a batch fits in it; the
collector still runs (cyclic garbage stays bounded by the threshold), just not inside every batch.
The previous thresholds come back when the write ends.

A whole run is paced too (`heap_frozen`): the objects alive when its op starts are left out of
collections until it ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Container objects allowed to accumulate between young collections during a write: several
# batches of typical records. Cyclic garbage (rare: records are freed by reference counting)
# waits at most this long, a few megabytes.
WRITE_THRESHOLD = 50_000

_lock = threading.Lock()
_writes = 0
_saved: tuple[int, ...] = ()
_runs = 0
_froze = False


@contextmanager
def paced_for_batches() -> Iterator[None]:
    """Raise the young-generation threshold for the duration of the block.

    Writes may overlap in threads of one process; the first to start saves the thresholds and
    the last to finish restores them, so overlapping writes never leave the raised value behind.
    """
    global _writes, _saved
    with _lock:
        if _writes == 0:
            _saved = gc.get_threshold()
            if _saved[0] and _saved[0] < WRITE_THRESHOLD:  # 0 means: collection is disabled
                gc.set_threshold(WRITE_THRESHOLD, *_saved[1:])
        _writes += 1
    try:
        yield
    finally:
        with _lock:
            _writes -= 1
            if _writes == 0:
                gc.set_threshold(*_saved)


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Leave the objects alive at the start of the block out of every collection in it.

    A Dagster process holds a large heap before an op starts (Dagster and the definitions: about
    225,000 tracked objects). A range run allocates enough that CPython starts a full collection
    at some point (in half the runs of `python -m bench dagster`), and a full collection walks
    that whole heap: 0.15-0.28 s, a tenth of the run. Frozen (`gc.freeze`), those objects are
    skipped; `gc.unfreeze` gives them back to the oldest generation when the last overlapping
    block ends. A process that froze objects itself (a pre-forking server) is left as it is.
    """
    global _runs, _froze
    with _lock:
        if _runs == 0:
            _froze = gc.isenabled() and gc.get_freeze_count() == 0
            if _froze:
                gc.freeze()
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0 and _froze:
                gc.unfreeze()
                _froze = False
