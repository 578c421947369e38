"""The text lines a run writes besides its materializations: only what a reader needs.

A partition's own record is its materialization (records, pages, requests, retries, seconds,
cursor, bounds). Text lines are kept for what it cannot show while the run works:

- every wait before a retry: the request (masked), the status, the wait and where it came from
  (``Retry-After``, exponential, constant), the attempt;
- a slice still running after :data:`SLOW_SLICE_SECONDS`, once;
- progress every :data:`PROGRESS_SECONDS` of a long run, and of a long read of a parent stream
  (finding the parent records a child partition needs).

Lines come from a watcher thread and the reading threads, so a slice that sits in a long wait
or a slow response is visible while it does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from engine import RetryWait

SLOW_SLICE_SECONDS = 2.0
PROGRESS_SECONDS = 5.0
_TICK_SECONDS = 0.25


class RunLog:
    """Writes the conditional lines of one run to ``log`` (the op's ``context.log``)."""

    def __init__(self, log: Any, mask: Callable[[str], str]) -> None:
        self._log, self._mask = log, mask
        self._total = 0
        self._lock = threading.Lock()
        self._current: tuple[str, float] | None = None
        self._reported_slow = False
        self._done = 0
        self._records = 0
        self._started = time.monotonic()
        self._last_progress = self._started
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="run-log", daemon=True)

    def __enter__(self) -> RunLog:
        self._watcher.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._watcher.join()

    # -- what the run tells it ---------------------------------------------------------------

    def retry_wait(self, wait: RetryWait) -> None:
        """Called by the HTTP client (from a reading thread) before it waits."""
        self._log.warning(self._mask(wait.describe()))

    def expect(self, units: int) -> None:
        """The run (or its next turn of leased partitions) writes ``units`` partitions."""
        with self._lock:
            self._total += units

    def unit_started(self, label: str) -> None:
        with self._lock:
            self._current, self._reported_slow = (label, time.monotonic()), False

    def unit_done(self, records: int) -> None:
        with self._lock:
            self._current = None
            self._done += 1
            self._records += records

    def parent_progress(self, what: str) -> Callable[[int], None]:
        """A callback for a read of parent records: a line every PROGRESS_SECONDS."""
        started = time.monotonic()
        last = [started]

        def report(count: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_SECONDS:
                last[0] = now
                self._log.info(
                    f"reading {what}: {count} parent record(s) so far, {now - started:.0f} s"
                )

        return report

    # -- the watcher -------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stop.wait(_TICK_SECONDS):
            now = time.monotonic()
            with self._lock:
                current, reported = self._current, self._reported_slow
                if current is not None and not reported and now - current[1] >= SLOW_SLICE_SECONDS:
                    self._reported_slow = True
                else:
                    current = None
                progress = now - self._last_progress >= PROGRESS_SECONDS
                if progress:
                    self._last_progress = now
                done, records = self._done, self._records
            if current is not None:
                self._log.info(self._mask(f"{current[0]}: running for {now - current[1]:.0f} s"))
            if progress and self._total > 1:
                self._log.info(
                    f"{done} of {self._total} partitions written, {records} records, "
                    f"{now - self._started:.0f} s"
                )
