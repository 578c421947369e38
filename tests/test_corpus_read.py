"""Every published manifest in shared/corpus: spec, discover, and a read of every stream.

The read runs against `CorpusServer`, which learns from each manifest where records go and how
pagination ends; the config is generated from the manifest's spec. Nothing here is per connector.
"""

from __future__ import annotations

import re

import pytest
from config_gen import config_for
from support.corpus_server import CorpusServer
from test_corpus import CORPUS, MANIFESTS

from engine import Manifest, load_manifest, load_source

_READ_LOG = re.compile(r"Read \d+ records from (.+) stream")


def _expected_primary_key(value: object) -> list[list[str]]:
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        return [[value]]
    return [[str(p) for p in part] if isinstance(part, list) else [str(part)] for part in value]


def _incremental_of(definition: dict) -> dict:
    if definition.get("type") == "StateDelegatingStream":
        return _incremental_of(definition["incremental_stream"])
    return definition


@pytest.mark.skipif(not MANIFESTS, reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize("manifest_path", MANIFESTS, ids=lambda p: p.parent.name)
def test_corpus_manifest_spec_discover_and_read(manifest_path):
    spec_discover_and_read(manifest_path)


def spec_discover_and_read(manifest_path, *, catalog_from_definitions: bool = True) -> None:
    """Spec, discover (catalog matches the manifest's literal cursor fields and keys when
    ``catalog_from_definitions``) and a read of every stream against the generic local server.

    Discover runs against the server too: a schema loader that asks the API for the schema
    (DynamicSchemaLoader) is answered there; the streams' records are then served from the
    schemas discover gave."""
    manifest = load_manifest(manifest_path)
    spec = manifest.spec
    # 2022 connectors shipped their spec beside the manifest; the corpus keeps manifests only.
    assert isinstance(spec.get("connection_specification", {}), dict)
    config = config_for(spec)
    with CorpusServer() as server:
        discovering = server.serve_schemas(manifest.definition, config)
        # The manifest's api_budget protects the real API; here it would only stretch the test
        # (stripe: 25 requests a second; mixpanel: one a minute, schema requests included).
        discovering.pop("api_budget", None)
        source = load_source(Manifest(discovering, manifest.base_dir, manifest.file), config)
        catalog = {entry["name"]: entry for entry in source.discover()}

        for definition in manifest.stream_definitions if catalog_from_definitions else ():
            stream_name = definition.get("name") or definition["$parameters"]["name"]
            entry = catalog[stream_name]
            assert isinstance(entry["json_schema"], dict)
            incremental = _incremental_of(definition)
            cursor = (incremental.get("incremental_sync") or {}).get("cursor_field")
            if cursor:
                assert entry["supported_sync_modes"] == ["full_refresh", "incremental"]
                assert entry["default_cursor_field"] == [cursor]
            else:
                assert entry["supported_sync_modes"] == ["full_refresh"]
            expected_key = _expected_primary_key(incremental.get("primary_key"))
            assert entry.get("source_defined_primary_key", []) == expected_key
        schemas = {stream: entry["json_schema"] for stream, entry in catalog.items()}
        source.close()

        definition = server.serve(discovering, schemas, config)
        served = Manifest(definition, manifest.base_dir, manifest.file)
        reader = load_source(served, config)
        counts = dict.fromkeys(catalog, 0)
        finished = set()
        try:
            for message in reader.read():
                if message["type"] == "RECORD":
                    counts[message["record"]["stream"]] += 1
                elif message["type"] == "LOG":
                    done = _READ_LOG.fullmatch(message["log"]["message"])
                    if done:
                        finished.add(done[1])
        finally:
            reader.close()
    assert not server.runaway, f"pagination never ended for {server.runaway}"
    assert finished == set(catalog), f"streams not read: {set(catalog) - finished}"
    assert server.requests, "no request reached the server"
