"""Running a manifest under the reference runner (airbyte-cdk 7) and under this engine.

The reference lives in a virtual environment of its own (``bench/.reference-venv``, made on
first use with ``pip install 'airbyte-cdk>=7,<8' freezegun``), never in the project's
dependencies. Freezing the clock (``frozen_at``) also needs ``freezegun`` in the project's venv
(``.venv/bin/pip install freezegun``; it is not a project dependency). Both
runners are started the same way, as a command line with files for the manifest, config,
catalog and state, and their protocol messages are collected from stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

VENV = Path(__file__).resolve().parent / ".reference-venv"
REFERENCE_REQUIREMENTS = ("airbyte-cdk>=7,<8", "freezegun")


def reference_python() -> Path:
    """The reference venv's interpreter, creating the venv on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *REFERENCE_REQUIREMENTS], check=True
        )
    return python


def reference_version() -> str:
    """The installed airbyte-cdk version, e.g. ``7.39.1``."""
    done = subprocess.run(
        [
            str(reference_python()),
            "-c",
            "from importlib.metadata import version; print(version('airbyte-cdk'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def run(
    runner: str,
    command: str,
    manifest: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    catalog: Mapping[str, Any] | None = None,
    state: Any = None,
    frozen_at: str | None = None,
    timeout: float = 120,
) -> list[dict[str, Any]]:
    """The protocol messages of ``command`` (check / discover / read) under ``runner``
    ("reference" or "engine"). With ``frozen_at`` (ISO 8601) both runners see that instant as
    "now" (freezegun, installed in each environment), so date windows ending now agree."""
    with tempfile.TemporaryDirectory(prefix="reference-run-") as folder:
        files = {"manifest": manifest, "config": config, "catalog": catalog, "state": state}
        paths = {}
        for name, content in files.items():
            if content is not None:
                paths[name] = Path(folder) / f"{name}.json"
                paths[name].write_text(json.dumps(content))
        # The clock is frozen once the runner's modules are imported: pydantic cannot subclass
        # freezegun's date class.
        clock = f"import freezegun; freezegun.freeze_time({frozen_at!r}).start(); " * bool(
            frozen_at
        )
        if runner == "reference":
            launcher = "from airbyte_cdk.cli.source_declarative_manifest import run; " + clock
            argv = [str(reference_python()), "-c", launcher + "run()", command]
            argv += ["--manifest-path", str(paths["manifest"])]
        else:
            launcher = "import sys; from engine.__main__ import main; " + clock
            argv = [sys.executable, "-c", launcher + "sys.exit(main())", command]
            argv += ["--manifest", str(paths["manifest"])]
        argv += ["--config", str(paths["config"])]
        for name in ("catalog", "state"):
            if name in paths and command == "read":
                argv += [f"--{name}", str(paths[name])]
        environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=environment, cwd=folder
        )
    messages = []
    for line in done.stdout.splitlines():
        try:
            messages.append(json.loads(line))
        except ValueError:
            continue
    if not messages and done.returncode:
        messages.append(_crash(done.stderr))
    return messages


def _crash(stderr: str) -> dict[str, Any]:
    """A TRACE error standing for a runner that died before printing any message."""
    last = stderr.strip().splitlines()[-1:] or ["no output"]
    return {"type": "TRACE", "trace": {"type": "ERROR", "error": {"message": last[0]}}}


def final_states(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The last STATE of each stream, by stream name."""
    states: dict[str, Any] = {}
    for message in messages:
        if message.get("type") == "STATE":
            stream = message["state"].get("stream") or {}
            name = (stream.get("stream_descriptor") or {}).get("name")
            if name:
                states[name] = stream.get("stream_state") or {}
    return states


def records_by_stream(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    records: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        if message.get("type") == "RECORD":
            body = message["record"]
            records.setdefault(body["stream"], []).append(body["data"])
    return records


def errors(messages: list[dict[str, Any]]) -> list[str]:
    return [
        message["trace"]["error"].get("message", "")
        for message in messages
        if message.get("type") == "TRACE" and message["trace"].get("type") == "ERROR"
    ]
