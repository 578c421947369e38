"""``python -m engine state import|export``: move a connection's state between Airbyte and here.

``import`` writes the streams' states of an Airbyte connection's exported state (see
`airbyte_state.py`) into the state table, as the rows a command-line read (``read --state-db
URL --connection NAME``) and the Dagster assets of source NAME resume from: one row per stream,
partition ``""``. ``export`` writes those rows back out as STREAM state messages, which the
platform imports and the reference runner reads.

The table's guard holds for imports too: a plain date or number cursor older than the stored one
is not written (the row is kept and named in the report) unless ``--force``; streams another
holder is syncing are refused. With ``--manifest`` and ``--config`` the cursors are compared
exactly as the stream's cursor orders them, and the connection's account is checked (and, with
no ``--connection``, named as ``read --state-db`` names it); without them, only cursors written
as ISO 8601 dates are ordered.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from engine.errors import ConfigError, EngineError, failure_text
from engine.manifest.json_files import read_json_file
from engine.secrets import SecretMasker
from engine.state.airbyte_state import StreamState, stream_messages, stream_states
from engine.state.store import StateStore

UNPARTITIONED = ""
CursorKey = Callable[[str, Mapping[str, Any]], "str | None"]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m engine state",
        description="Import an Airbyte connection's state into the state table, or export it.",
    )
    commands = parser.add_subparsers(dest="action", required=True)
    for action in ("import", "export"):
        command = commands.add_parser(action)
        command.add_argument("--state-db", required=True, help="SQLAlchemy URL of the state table")
        command.add_argument(
            "--connection",
            "--source",
            dest="connection",
            help="the connection (Dagster: the source name) whose state rows these are",
        )
        command.add_argument("--manifest", help="the connector manifest (orders cursors exactly)")
        command.add_argument("--config", help="the connector config (JSON file), with --manifest")
        if action == "import":
            command.add_argument("file", help="the exported state (JSON)")
            command.add_argument(
                "--force", action="store_true", help="write cursors older than the stored ones"
            )
        else:
            command.add_argument("--output", help="write the JSON here instead of stdout")
    return parser


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    masker = SecretMasker()  # learns the config's secrets when --manifest and --config are given
    try:
        connection, cursor_key = _connection(args, masker)
        store = StateStore(args.state_db)
        try:
            if args.action == "import":
                return _import(store, connection, cursor_key, args)
            return _export(store, connection, args)
        finally:
            store.dispose()
    except Exception as error:  # never a traceback, never a secret
        sys.stderr.write(f"error: {masker.mask(failure_text(error))}\n")
        return 1 if isinstance(error, EngineError) else 2


def _connection(args: argparse.Namespace, masker: SecretMasker) -> tuple[str, CursorKey]:
    """The connection name, and how to order a stream's cursor values."""
    if not args.manifest:
        if args.config:
            raise ConfigError("--config needs --manifest")
        if not args.connection:
            raise ConfigError(
                "name the connection (--connection NAME), or give --manifest and --config"
            )
        return args.connection, lambda stream, state: iso_cursor_key(state)
    if not args.config:
        raise ConfigError("--manifest needs --config (the config identifies the account)")
    from engine.source import load_source
    from engine.state.command_line import cursor_sort_key
    from engine.state.connections import account_digest, default_connection_name, open_connection

    source = load_source(args.manifest, read_json_file(args.config, "config"), masker=masker)
    name = args.connection or default_connection_name(
        Path(args.manifest).stem, source.manifest, source.config
    )
    store = StateStore(args.state_db)
    try:
        open_connection(store, name, account_digest(source.manifest, source.config))
    finally:
        store.dispose()

    def key(stream: str, state: Mapping[str, Any]) -> str | None:
        if stream not in source.streams:
            return iso_cursor_key(state)
        return cursor_sort_key(source, stream, state)

    return name, key


def iso_cursor_key(state: Mapping[str, Any]) -> str | None:
    """The sort key of a plain cursor written as ISO 8601 (``{"updated_at": "2024-01-03"}``),
    in the form the state table's guard compares (UTC, fixed width); None for other states."""
    if len(state) != 1:
        return None
    (value,) = state.values()
    if not isinstance(value, str) or len(value) < 10 or not value[:4].isdigit():
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _import(
    store: StateStore, connection: str, cursor_key: CursorKey, args: argparse.Namespace
) -> int:
    states, notes = stream_states(read_json_file(args.file, "state"), args.file)
    for note in notes:
        print(f"note: {note}")
    refused = 0
    for item in states:
        refused += not _import_one(store, connection, item, cursor_key, force=args.force)
    print(f"{len(states) - refused} of {len(states)} stream states imported into {connection!r}")
    return 1 if refused else 0


def _import_one(
    store: StateStore, connection: str, item: StreamState, cursor_key: CursorKey, *, force: bool
) -> bool:
    holder = store.lease_owner(connection, item.stream, UNPARTITIONED)
    if holder is not None:
        print(f"{item.stream}: not imported, {holder} is syncing it; import again when it ends")
        return False
    written = store.save(
        connection,
        item.stream,
        UNPARTITIONED,
        item.state,
        cursor_key=cursor_key(item.stream, item.state),
        run_id="state-import",
        allow_backwards=force,
    )
    if not written:
        print(
            f"{item.stream}: not imported, the state table holds a later cursor "
            "(--force writes it anyway)"
        )
        return False
    print(f"{item.stream}: imported ({_shape(item.state)})")
    return True


def _shape(state: Mapping[str, Any]) -> str:
    if "states" in state:
        return f"per-partition, {len(state['states'])} partitions"
    if state.get("use_global_cursor"):
        return "one cursor for all partitions"
    return "cursor" if state else "empty"


def _export(store: StateStore, connection: str, args: argparse.Namespace) -> int:
    from engine.state.connections import MARKER_STREAM

    states: dict[str, dict[str, Any]] = {}
    for stream in store.stream_names(connection):
        if stream == MARKER_STREAM:
            continue
        state = store.load(connection, stream, UNPARTITIONED)
        if state is None:
            sys.stderr.write(
                f"note: {stream} has state only per Dagster partition (date windows or parent "
                "ids); it is not exported\n"
            )
            continue
        states[stream] = state
    if not states:
        raise ConfigError(f"the state table has no stream state for connection {connection!r}")
    text = orjson.dumps(stream_messages(states), option=orjson.OPT_INDENT_2) + b"\n"
    if args.output:
        Path(args.output).write_bytes(text)
    else:
        sys.stdout.buffer.write(text)
    return 0
