"""Reading with the reference runner itself, inside the tests.

airbyte-cdk 7 is in the test environment (the ``[airbyte]`` extra, for connectors with Python
components), so a test can hand it a state the engine wrote and see what it reads from there.
It runs as a command line in its own process, as a connection would run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_LAUNCH = "from airbyte_cdk.cli.source_declarative_manifest import run; run()"


def reference_read(
    manifest: dict[str, Any], config: dict[str, Any], catalog: dict[str, Any], state: Any
) -> list[dict[str, Any]]:
    """The protocol messages of ``read`` under airbyte-cdk, from ``state`` (STATE messages)."""
    with tempfile.TemporaryDirectory(prefix="reference-read-") as folder:
        files = {"manifest": manifest, "config": config, "catalog": catalog, "state": state}
        arguments = []
        for name, content in files.items():
            path = Path(folder) / f"{name}.json"
            path.write_text(json.dumps(content))
            flag = "--manifest-path" if name == "manifest" else f"--{name}"
            arguments += [flag, str(path)]
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCH, "read", *arguments],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=folder,
        )
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
