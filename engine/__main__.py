"""The engine's command line: the Airbyte protocol, ``state`` import/export and ``explain``.

Protocol commands print one JSON message per line on stdout. Every failure becomes a TRACE error
message and a non-zero exit code; no Python traceback reaches the terminal. A failed ``check`` is
not a failure of the command: as the protocol says, it is a CONNECTION_STATUS of FAILED with exit
code 0 (``check --exit-code`` exits with 1 instead).
"""

from __future__ import annotations

import argparse
import collections
import logging
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from engine import protocol
from engine.errors import EngineError, ManifestError, failure_text
from engine.http.timeouts import DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT
from engine.manifest.json_files import read_json_file as _read_json
from engine.manifest.json_files import read_state_file
from engine.manifest.load import load_manifest
from engine.secrets import SecretMasker
from engine.source import MAX_CONCURRENCY, DeclarativeSource

_STRICT_HELP = "refuse keys the manifest format does not define (default: warn and ignore them)"
_PROTOCOL_COMMANDS = {
    "spec": "print the manifest's SPEC (the config it needs)",
    "check": "CONNECTION_STATUS: can one record be read with this config",
    "discover": "CATALOG: every stream with its JSON schema",
    "read": "RECORD and STATE messages of the catalog's streams",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine", description=__doc__.split("\n")[0].replace("``", "")
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in _PROTOCOL_COMMANDS.items():
        command = commands.add_parser(name, help=summary)
        command.add_argument("--manifest", required=True, help="the connector manifest (YAML)")
        if name != "spec":
            command.add_argument("--config", required=True, help="the connector config (JSON file)")
        if name == "check":
            command.add_argument(
                "--exit-code",
                action="store_true",
                help="exit with 1 when the connection status is FAILED (the Airbyte protocol "
                "reports it with exit code 0)",
            )
        if name == "read":
            command.add_argument(
                "--catalog", help="configured catalog (JSON); default: all streams"
            )
            command.add_argument("--state", help="state from a previous read (JSON)")
            command.add_argument(
                "--state-db",
                help="SQLAlchemy URL of a state table to resume from "
                "and save to (e.g. sqlite:///state.db)",
            )
            command.add_argument(
                "--connection",
                help="name of this account's state in the state table (default: the manifest's "
                "name and a digest of the non-secret config that identifies the account)",
            )
            command.add_argument(
                "--source-name", dest="connection", help="former name of --connection"
            )
            for unit in ("pages", "records"):
                command.add_argument(
                    f"--max-{unit}-per-slice",
                    type=_positive_count,
                    help=f"fail a slice whose paginator still asks for more after this many {unit}",
                )
        command.add_argument("--strict", action="store_true", help=_STRICT_HELP)
        command.add_argument(
            "--concurrency", type=_concurrency, help=f"slices read at once (1 to {MAX_CONCURRENCY})"
        )
        command.add_argument(
            "--read-timeout",
            type=_positive_seconds,
            help=f"seconds to wait for each piece of a response (default {DEFAULT_TIMEOUT[1]:g})",
        )
        command.add_argument(
            "--request-deadline",
            type=_positive_seconds,
            help="seconds a request may take in all, connect to last byte "
            f"(default {DEFAULT_DEADLINE:g})",
        )
        command.add_argument(
            "--max-response-mib",
            type=_positive_count,
            help="MiB a response body may have, inflated (default "
            f"{DEFAULT_MAX_RESPONSE_BYTES >> 20}); its records can take ~30 times as much memory",
        )
        command.add_argument(
            "--custom-components",
            action="append",
            default=[],
            help="a Python module whose classes the manifest may name",
        )
    commands.add_parser(
        "state",
        help="import an Airbyte connection's state into the state table, or export it "
        "(python -m engine state --help)",
        add_help=False,
    )
    explain = commands.add_parser(
        "explain", help="what each stream requests, how it pages, slices and is partitioned"
    )
    explain.add_argument("--manifest", required=True, help="the connector manifest (YAML)")
    explain.add_argument("--config", help="the connector config (JSON file); default: placeholders")
    explain.add_argument("--json", action="store_true", help="one JSON document instead of text")
    explain.add_argument("--strict", action="store_true", help=_STRICT_HELP)
    explain.add_argument(
        "--resolve",
        action="store_true",
        help="also resolve dynamic streams listed by API requests (needs --config)",
    )
    return parser


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return seconds


def _positive_count(text: str, most: int | None = None) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1 or (most is not None and count > most):
        bounds = "of at least 1" if most is None else f"from 1 to {most}"
        raise argparse.ArgumentTypeError(f"expected a whole number {bounds}, got {text!r}")
    return count


def _concurrency(text: str) -> int:
    return _positive_count(text, MAX_CONCURRENCY)


def manifest_path(text: str) -> Path:
    """``--manifest`` names a file, never inline YAML: any other suffix is a missing file."""
    path = Path(text)
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise ManifestError(
            f"no manifest file {text!r}: a manifest is a .yaml, .yml or .json file",
            expected="the path of a manifest file",
        )
    return path


def run(
    argv: Sequence[str], masker: SecretMasker | None = None, *, records_as_lines: bool = False
) -> Iterable[dict[str, Any] | bytes]:
    """The command's protocol messages as dicts; with ``records_as_lines``, a read's RECORD
    messages come as ready JSON lines (``bytes``), many at a time."""
    args = _parser().parse_args(argv)
    args.manifest = manifest_path(args.manifest)
    # spec and check need not every stream: one using an unsupported component is left out (a
    # check of that stream says why); discover and read refuse the manifest as before.
    manifest = load_manifest(
        args.manifest, strict=args.strict, skip_unsupported=args.command in ("spec", "check")
    )
    for warning in manifest.warnings:
        yield protocol.log(warning, "WARN")
    if args.command == "spec":
        yield protocol.spec(manifest.spec)
        return
    from engine.streams.pagination import PageLimits  # (spec never needs it: see engine/source.py)

    config = _read_json(args.config, "config")
    source = DeclarativeSource(
        manifest,
        config,
        masker=masker,
        concurrency=args.concurrency,
        custom_component_modules=args.custom_components,
        read_timeout=args.read_timeout,
        deadline=args.request_deadline,
        max_response_bytes=args.max_response_mib and args.max_response_mib << 20,
        page_limits=PageLimits(
            getattr(args, "max_pages_per_slice", None), getattr(args, "max_records_per_slice", None)
        ),
    )
    with source:
        if args.command == "check":
            ok, message = source.check()
            yield protocol.connection_status(ok, message)
            if not ok and args.exit_code:
                raise SystemExit(1)
        elif args.command == "discover":
            yield protocol.catalog(source.discover())
        else:
            yield from _read(source, args, records_as_lines)


def _read(
    source: DeclarativeSource, args: argparse.Namespace, records_as_lines: bool
) -> Iterable[dict[str, Any] | bytes]:
    catalog = _read_json(args.catalog, "catalog") if args.catalog else None
    state = read_state_file(args.state) if args.state else {}
    if not args.state_db:
        yield from source.read(catalog, state, records_as_lines=records_as_lines)
        return
    from engine.state.command_line import CommandLineState

    with CommandLineState(
        args.state_db, source, Path(args.manifest).stem, args.connection
    ) as table:
        for note in table.notes:
            yield protocol.log(note)
        streams = _catalog_streams(source, catalog)
        claimed, refused = table.claim(streams)
        for stream, saved in table.load(claimed).items():
            state.setdefault(stream, saved)
        if claimed:
            chosen = _only(source, catalog, claimed)
            for message in source.read(chosen, state, records_as_lines=records_as_lines):
                yield message
                if isinstance(message, dict) and message["type"] == "STATE":
                    stream_state = message["state"]["stream"]
                    name = stream_state["stream_descriptor"]["name"]
                    if not table.save(name, stream_state["stream_state"]):
                        yield protocol.log(
                            f"state of {name} not saved: the state table holds a later cursor",
                            "WARN",
                        )
        if refused is not None:
            raise refused


def _catalog_streams(source: DeclarativeSource, catalog: dict | None) -> list[str]:
    if not catalog:
        return list(source.streams)
    names = [(entry.get("stream") or {}).get("name") for entry in catalog.get("streams") or []]
    return [name for name in names if name in source.streams]


def _only(source: DeclarativeSource, catalog: dict | None, streams: list[str]) -> dict | None:
    """The catalog narrowed to ``streams``; names the manifest lacks stay, to be reported."""
    if not catalog:
        return (
            None
            if len(streams) == len(source.streams)
            else {"streams": [{"stream": {"name": name}} for name in streams]}
        )

    def kept(entry: dict) -> bool:
        name = (entry.get("stream") or {}).get("name")
        return name in streams or name not in source.streams

    return {**catalog, "streams": [e for e in catalog.get("streams") or [] if kept(e)]}


class _EngineWarnings(logging.Handler):
    """Collects the engine's warnings (from any slice's thread) for the writer to send as LOG
    messages between the others, so no two lines ever interleave on stdout."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._pending: collections.deque[str] = collections.deque()

    def emit(self, record: logging.LogRecord) -> None:
        self._pending.append(record.getMessage())

    def take(self) -> list[str]:
        taken = []
        while self._pending:
            taken.append(self._pending.popleft())
        return taken


def _explain(args: argparse.Namespace) -> int:
    """Text or JSON for a person or a script, not protocol messages; failures go to stderr,
    masked like every other command's (the config's secrets are known before anything fails)."""
    from engine.explain.report import explain, render_text

    masker = SecretMasker()
    try:
        config = _read_json(args.config, "config") if args.config else None
        explanation = explain(
            manifest_path(args.manifest),
            config,
            resolve_dynamic_streams=args.resolve,
            strict=args.strict,
            masker=masker,
        )
        if args.json:
            text = orjson.dumps(explanation, option=orjson.OPT_INDENT_2) + b"\n"
        else:
            text = render_text(explanation).encode("utf-8")
    except Exception as error:  # never a traceback: the person reading needs the cause
        sys.stderr.write(f"{masker.mask(failure_text(error))}\n")
        return 1 if isinstance(error, EngineError) else 2
    sys.stdout.buffer.write(text)
    sys.stdout.flush()
    broken = [
        s["name"] or s["path"]
        for s in explanation["streams"]
        if (s["partitioning"] or {}).get("kind") == "unknown"
    ]
    if broken:
        sys.stderr.write(f"streams that cannot be built: {', '.join(broken)}\n")
    return 1 if broken else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["state"]:
        from engine.state.state_command import main as state_main

        return state_main(argv[1:])
    if argv[:1] == ["explain"]:
        try:
            return _explain(_parser().parse_args(argv))
        except SystemExit as exit_:
            return int(exit_.code or 0)
    out = sys.stdout.buffer
    masker = SecretMasker()
    warnings = _EngineWarnings()
    logging.getLogger("engine").addHandler(warnings)
    try:
        for message in run(argv, masker, records_as_lines=True):
            for warning in warnings.take():
                out.write(protocol.dumps(protocol.log(masker.mask(warning), "WARN")))
            if isinstance(message, bytes):  # a read's records, serialised already
                out.write(message)
                continue
            out.write(protocol.dumps(message))
            if message["type"] == "STATE":
                # The state table is written once this returns: the STATE line goes out first.
                out.flush()
        for warning in warnings.take():
            out.write(protocol.dumps(protocol.log(masker.mask(warning), "WARN")))
        out.flush()
        return 0
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # every failure becomes a TRACE message, never a traceback
        for warning in warnings.take():
            out.write(protocol.dumps(protocol.log(masker.mask(warning), "WARN")))
        out.write(protocol.dumps(protocol.error_trace(error, masker)))
        out.flush()
        return 1 if isinstance(error, EngineError) else 2


if __name__ == "__main__":
    sys.exit(main())
