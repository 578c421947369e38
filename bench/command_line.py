"""The engine's command line as a user runs it, in a process of its own, against plain scripts.

- ``cli_read``: ``python -m engine read`` of 100,000 records against a plain loop that prints
  each record as a JSON line (``python -m bench.command_line URL``: the same pages through a
  ``requests.Session``, ``orjson``, one write per record). Both write to a file; start-up counts.
- ``startup_spec`` / ``startup_check``: ``python -X importtime -m engine spec|check`` on a small
  manifest against a bare interpreter that imports ``requests`` and ``orjson`` (what any such
  command needs at least). The import time that ``-X importtime`` reports is kept beside the
  wall time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench import manifests, plain

CLI_RECORDS = 100_000
_BARE = "import requests, orjson"


def _manifest(workdir: Path, url: str, path: str) -> Path:
    stream = manifests.stream(url, "items", path, manifests.page_increment())
    manifest = manifests.source(stream)
    manifest["spec"] = {
        "type": "Spec",
        "connection_specification": {
            "type": "object",
            "properties": {"api_key": {"type": "string", "airbyte_secret": True}},
        },
    }
    file = workdir / "manifest.yaml"
    file.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return file


def _config(workdir: Path) -> Path:
    file = workdir / "config.json"
    file.write_bytes(orjson.dumps({"api_key": "not-a-secret"}))
    return file


# Compiled modules are cached as after an install, even where the environment says not to write
# them (PYTHONDONTWRITEBYTECODE): otherwise every start compiles the package's source anew.
_ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_once(workdir: Path) -> None:
    """Before the clock: import what the commands import, so that their caches are written."""
    modules = (
        "engine.__main__, engine.source, engine.factory, engine.streams.messages, requests, orjson"
    )
    subprocess.run([sys.executable, "-c", f"import {modules}"], env=_ENVIRONMENT, check=True)


def _run(command: list[str], output: Path) -> subprocess.CompletedProcess[bytes]:
    with output.open("wb") as out:
        done = subprocess.run(
            command, stdout=out, stderr=subprocess.PIPE, timeout=300, env=_ENVIRONMENT
        )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.decode()[-2000:]}")
    return done


def engine_read(url: str, workdir: Path) -> int:
    manifest = _manifest(workdir, url, f"/n{CLI_RECORDS}/page")
    command = [sys.executable, "-m", "engine", "read", "--manifest", str(manifest)]
    output = workdir / "messages.jsonl"
    _run([*command, "--config", str(_config(workdir))], output)
    return output.read_bytes().count(b'{"type":"RECORD"')


def plain_read(url: str, workdir: Path) -> int:
    output = workdir / "records.jsonl"
    _run([sys.executable, "-m", "bench.command_line", f"{url}/n{CLI_RECORDS}/page"], output)
    return output.read_bytes().count(b"\n")


def engine_startup(command: str) -> Any:
    """``python -X importtime -m engine COMMAND`` on a small manifest: one message, and the
    import time it reported."""

    def run(url: str, workdir: Path) -> tuple[int, dict[str, float]]:
        arguments = ["--manifest", str(_manifest(workdir, url, "/n10/page"))]
        if command != "spec":
            arguments += ["--config", str(_config(workdir))]
        output = workdir / "messages.jsonl"
        done = _run(
            [sys.executable, "-X", "importtime", "-m", "engine", command, *arguments], output
        )
        messages = output.read_bytes().splitlines()
        wanted = b'"type":"SPEC"' if command == "spec" else b'"status":"SUCCEEDED"'
        return sum(wanted in line for line in messages), {"import_s": _import_seconds(done)}

    return run


def bare_startup(url: str, workdir: Path) -> tuple[int, dict[str, float]]:
    done = _run([sys.executable, "-X", "importtime", "-c", _BARE], workdir / "nothing")
    return 1, {"import_s": _import_seconds(done)}


def _import_seconds(done: subprocess.CompletedProcess[bytes]) -> float:
    """The sum of the cumulative times of top-level imports in ``-X importtime``'s report."""
    total = 0
    for line in done.stderr.decode().splitlines():
        if not line.startswith("import time:"):
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit() and not name.startswith("  "):
            total += int(cumulative)
    return total / 1e6


def main() -> None:
    """The plain limit of ``cli_read``: print each record of the pages at ``argv[1]``."""
    import requests

    out = sys.stdout.buffer
    with requests.Session() as session:
        for record in plain.page_increment(session, sys.argv[1]):
            out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
    out.flush()


if __name__ == "__main__":
    main()
