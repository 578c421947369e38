"""Running the engine's command line as a user would: a fresh interpreter, output captured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def engine_cli(
    command: str, manifest: Path, config: Path, *extra: str
) -> subprocess.CompletedProcess:
    """``python -m engine COMMAND --manifest M --config C [EXTRA...]``, within a minute."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            command,
            "--manifest",
            str(manifest),
            "--config",
            str(config),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
