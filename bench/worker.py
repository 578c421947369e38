"""One side of one scenario, in a process of its own: ``python -m bench.worker SCENARIO SIDE URL``.

Prints one JSON line: records read, wall and CPU seconds of the run (all threads and finished
child processes; imports and interpreter start-up excluded), and the peak resident memory of the
whole process plus that of its largest child (the DuckDB writer's loader process): an upper
bound of their peak together.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench.scenarios import BY_NAME


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the DuckDB loader process)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024  # KiB on Linux


def main() -> None:
    name, side, url = sys.argv[1:4]
    scenario = BY_NAME[name]
    for module in scenario.imports(side):
        importlib.import_module(module)
    run = getattr(scenario, side)
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as workdir:
        if scenario.prepare is not None:
            scenario.prepare(Path(workdir))
        rss_before = _peak_rss_mb()
        wall, cpu = time.perf_counter(), _cpu_seconds()
        outcome = run(url, Path(workdir))
        wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    # A side returns its record count, or the count and more numbers of its own to report.
    records, extra = outcome if isinstance(outcome, tuple) else (outcome, {})
    result = {
        **extra,
        "records": records,
        "seconds": wall,
        "cpu": cpu,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_before_mb": rss_before,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
