"""One side of one scenario, in a process of its own: ``python -m bench.worker SCENARIO SIDE URL``.

Prints one JSON line: records read, wall and CPU seconds of the run (all threads; imports and
interpreter start-up excluded), and the peak resident memory of the whole process.
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


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    name, side, url = sys.argv[1:4]
    scenario = BY_NAME[name]
    for module in scenario.imports(side):
        importlib.import_module(module)
    run = getattr(scenario, side)
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as workdir:
        rss_before = _peak_rss_mb()
        wall, cpu = time.perf_counter(), time.process_time()
        records = run(url, Path(workdir))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = {
        "records": records,
        "seconds": wall,
        "cpu": cpu,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_before_mb": rss_before,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
