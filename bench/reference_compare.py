"""Stream reads of the reference runner and of this engine, side by side, on published manifests.

``python -m bench.reference_compare [--corpus DIR] [--only NAME ...]`` serves each of today's-
dialect manifests in the corpus (``../shared/corpus``) from the test suite's ``CorpusServer``,
reads every stream (incremental where the stream supports it) once under airbyte-cdk 7 (in
``bench/.reference-venv``) and once under the engine, with the same config and the same frozen
clock, and counts the streams whose reads are equal: the same records, the same requests, and
(for incremental streams) the same final state. Differences are listed per stream.

The reference's cursor state after a full-refresh read and its ``__ab_no_cursor_state_message``
are not compared: the platform discards both.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from config_gen import config_for  # noqa: E402
from support import corpus_server  # noqa: E402
from support.corpus_server import CorpusServer  # noqa: E402

from bench.reference_runner import errors, final_states, records_by_stream, run  # noqa: E402
from engine import load_manifest, load_source  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
_PORT = re.compile(r"127\.0\.0\.1:\d+")


def compare_manifest(path: Path, frozen_at: str) -> dict[str, Any]:
    """Per stream: equal or the list of what differs; or the reason the manifest was skipped."""
    manifest = load_manifest(path)
    config = config_for(manifest.spec)
    source = load_source(manifest, config)
    try:
        entries = {entry["name"]: entry for entry in source.discover()}
    finally:
        source.close()
    catalog = {
        "streams": [
            {
                "stream": {**entry, "json_schema": entry["json_schema"]},
                "sync_mode": "incremental"
                if "incremental" in entry["supported_sync_modes"]
                else "full_refresh",
                "destination_sync_mode": "append",
            }
            for entry in entries.values()
        ]
    }
    incremental = {
        e["stream"]["name"] for e in catalog["streams"] if e["sync_mode"] == "incremental"
    }
    schemas = {name: entry["json_schema"] for name, entry in entries.items()}
    reads = {}
    with CorpusServer() as server:
        served = server.serve(manifest.definition, schemas)
        served.pop("api_budget", None)
        _inline_schemas(served, schemas)
        for runner in ("reference", "engine"):
            for route in server.routes.values():
                route.hits = 0
            server.requests.clear()
            messages = run(runner, "read", served, config, catalog=catalog, frozen_at=frozen_at)
            reads[runner] = {
                "errors": errors(messages),
                "records": records_by_stream(messages),
                "states": final_states(messages),
                "requests": _requests_by_stream(server.requests),
            }
    result: dict[str, Any] = {}
    for name in entries:
        result[name] = _differences(reads, name, name in incremental)
    result["_errors"] = {runner: reads[runner]["errors"] for runner in reads}
    return result


def _inline_schemas(node: Any, schemas: dict[str, Any]) -> None:
    """Every stream's schema inline (as the engine loaded it): schema files sit beside the
    published manifest, where neither runner looks once the served copy is elsewhere."""
    if isinstance(node, list):
        for item in node:
            _inline_schemas(item, schemas)
    elif isinstance(node, dict):
        if node.get("type") == "DeclarativeStream":
            name = node.get("name") or (node.get("$parameters") or {}).get("name")
            schema = schemas.get(name) or {"type": "object"}
            node["schema_loader"] = {"type": "InlineSchemaLoader", "schema": schema}
        for value in node.values():
            _inline_schemas(value, schemas)


def _requests_by_stream(requests: list[tuple[str, str]]) -> dict[str, Counter[str]]:
    """Requests by the route (stream) they went to, query parameters in a fixed order."""
    by_stream: dict[str, Counter[str]] = {}
    for method, target in requests:
        parts = urlsplit(_PORT.sub("HOST", target))
        query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
        route = parts.path.strip("/").split("/")[0]
        by_stream.setdefault(route, Counter())[f"{method} {parts.path}?{query}"] += 1
    return by_stream


def _freeze_server_clock(moment: datetime.datetime) -> None:
    """The server stamps generated records with "now": make it the runners' frozen instant."""

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> Frozen:  # type: ignore[override]
            return cls.fromtimestamp(moment.timestamp(), tz)

    clock = types.ModuleType("frozen_datetime")
    clock.__dict__.update(vars(datetime))
    clock.datetime = Frozen  # type: ignore[attr-defined]
    corpus_server.dt = clock  # type: ignore[attr-defined]


def _canonical(records: list[dict[str, Any]]) -> Counter[str]:
    return Counter(json.dumps(r, sort_keys=True, default=str) for r in records)


def _differences(reads: dict[str, Any], name: str, incremental: bool) -> list[str]:
    reference, engine = reads["reference"], reads["engine"]
    found = []
    ours, theirs = (
        _canonical(engine["records"].get(name, [])),
        _canonical(reference["records"].get(name, [])),
    )
    if ours != theirs:
        found.append(
            f"records: reference {sum(theirs.values())}, engine {sum(ours.values())}, "
            f"{sum((theirs - ours).values())} only in the reference"
        )
    routes = [route for route in reference["requests"] if route == name or route.startswith(name)]
    routes += [r for r in engine["requests"] if r not in routes and r.startswith(name)]
    for route in routes:
        mine = engine["requests"].get(route, Counter())
        ref = reference["requests"].get(route, Counter())
        if mine != ref:
            extra = list((mine - ref).elements())[:2]
            missing = list((ref - mine).elements())[:2]
            found.append(f"requests of {route}: engine also sent {extra}, not {missing}")
    if incremental:
        mine_state, ref_state = engine["states"].get(name), reference["states"].get(name)
        if _without_lookback(mine_state) != _without_lookback(ref_state):
            found.append(f"state: reference {ref_state}, engine {mine_state}")
    return found


def _without_lookback(state: Any) -> Any:
    if isinstance(state, dict):
        return {k: v for k, v in state.items() if k != "lookback_window"}
    return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reference_compare")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--json", type=Path, help="also write the differences here")
    args = parser.parse_args(argv)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    frozen_at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    _freeze_server_clock(now)
    report: dict[str, Any] = {}
    equal = total = 0
    for path in sorted(args.corpus.glob("*/manifest.yaml")):
        name = path.parent.name
        if name.endswith("-2022") or (args.only and name not in args.only):
            continue
        try:
            result = compare_manifest(path, frozen_at)
        except Exception as error:  # a manifest the harness cannot serve: reported, not fatal
            print(f"{name}: skipped ({type(error).__name__}: {error})")
            continue
        report[name] = result
        run_errors = result.pop("_errors")
        streams = {k: v for k, v in result.items()}
        same = sum(1 for v in streams.values() if not v)
        equal, total = equal + same, total + len(streams)
        failed = f"  errors {run_errors}" if any(run_errors.values()) else ""
        print(f"{name}: {same}/{len(streams)} equal{failed}")
        for stream, found in streams.items():
            for line in found:
                print(f"    {stream}: {line[:300]}")
    if total:
        print(f"\n{equal}/{total} stream reads equal ({100 * equal / total:.1f}%)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
