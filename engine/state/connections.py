"""Which account a command-line read's state belongs to: connections and their identity digest.

One manifest often serves several accounts (two shops, two workspaces); each must resume from
its own cursor. State written by ``python -m engine read --state-db`` is therefore keyed by a
*connection name*: ``--connection NAME``, or by default the manifest's name plus a digest of the
non-secret config the requests use to reach the account (base URL parts, account ids; not the
dates that bound the read, which change from run to run, and never a secret).

The state table keeps a marker row per connection with that digest, so a connection name given
again with another account's config is refused instead of resuming from the wrong cursor. Rows
written by earlier releases, keyed by the manifest's name alone, are taken over by the first
connection that reads them (their marker then names that connection's digest, so a second account
starts afresh instead of inheriting them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from engine.manifest.load import Manifest
from engine.secrets import SENSITIVE_NAME, secret_config_values
from engine.state.sql import StateStoreError
from engine.state.store import StateStore

MARKER_STREAM = "_dd_connection"
"""Stream name of a connection's marker row in the state table (partition "")."""
DIGEST_LENGTH = 10

_CONFIG_REFERENCE = re.compile(
    r"""config\s*(?:\[\s*['"]([^'"]+)['"]\s*\]|\.get\(\s*['"]([^'"]+)['"]|\.([A-Za-z_]\w*))"""
)
_REQUEST_KEYS = ("requester", "authenticator", "url_base", "path", "url")
_BOUND_KEYS = ("incremental_sync",)


class ConnectionMismatch(StateStoreError):
    """The connection's state was written with another account's config."""


def identifying_config(manifest: Manifest, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config values requests use to reach an account, without secrets or read bounds."""
    used = _references(manifest.definition, _REQUEST_KEYS) - _references(
        manifest.definition, _BOUND_KEYS
    )
    secrets = set(secret_config_values(manifest.spec, config))
    identifying = {}
    for key in sorted(used):
        if key not in config or SENSITIVE_NAME.search(key):
            continue
        value = config[key]
        if secrets.intersection(_strings(value)):
            continue
        identifying[key] = value
    return identifying


def account_digest(manifest: Manifest, config: Mapping[str, Any]) -> str:
    """A short stable digest of `identifying_config` (the same account gives the same digest)."""
    text = orjson.dumps(identifying_config(manifest, config), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()[:DIGEST_LENGTH]


def default_connection_name(manifest_name: str, manifest: Manifest, config: Mapping) -> str:
    """``<manifest name>-<account digest>``: two accounts of one manifest never share state."""
    return f"{manifest_name}-{account_digest(manifest, config)}"


def open_connection(
    store: StateStore, name: str, digest: str, legacy_name: str | None = None
) -> list[str]:
    """Check (or record) that connection ``name`` belongs to the account of ``digest``.

    With ``legacy_name`` (the manifest's name, under which earlier releases kept the state),
    unclaimed rows stored there are copied to ``name`` the first time. Returns notes for the
    user about what was done; raises `ConnectionMismatch` for another account's connection.
    """
    notes: list[str] = []
    marker = store.load(name, MARKER_STREAM)
    if marker is not None:
        if marker.get("account") != digest:
            raise ConnectionMismatch(
                f"the state of connection {name!r} was written for another account (config "
                f"digest {marker.get('account')}, this config gives {digest}); pass another "
                "--connection for this account, or remove that connection's rows if the account "
                "really changed"
            )
        return notes
    if legacy_name and legacy_name != name:
        notes.extend(_adopt_legacy_rows(store, legacy_name, name, digest))
    store.save(name, MARKER_STREAM, "", {"account": digest})
    return notes


def _adopt_legacy_rows(store: StateStore, legacy: str, name: str, digest: str) -> Iterator[str]:
    """Copy state an earlier release keyed by the manifest name, unless a connection claimed it."""
    if store.load(legacy, MARKER_STREAM) is not None:
        return  # already claimed by some connection (maybe this one's account, maybe not)
    streams = [stream for stream in store.stream_names(legacy) if stream != MARKER_STREAM]
    store.save(legacy, MARKER_STREAM, "", {"account": digest, "adopted_by": name})
    for stream in streams:
        for partition, state in store.load_all(legacy, stream).items():
            store.save(name, stream, partition, state)
    if streams:
        yield (
            f"state of {', '.join(streams)} stored under the manifest name {legacy!r} by an "
            f"earlier release now belongs to connection {name!r}"
        )


def _references(node: Any, keys: tuple[str, ...], inside: bool = False) -> set[str]:
    """Config keys referenced in templates under any of ``keys`` (anywhere in the manifest)."""
    found: set[str] = set()
    if isinstance(node, Mapping):
        for key, value in node.items():
            found |= _references(value, keys, inside or key in keys)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item, keys, inside)
    elif inside and isinstance(node, str):
        for match in _CONFIG_REFERENCE.finditer(node):
            found.add(next(group for group in match.groups() if group))
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    else:
        yield str(value)
