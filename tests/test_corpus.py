"""Every published manifest in shared/corpus loads, and discover lists its streams with schemas."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from config_gen import config_for

from engine import load_manifest, load_source

CORPUS = Path(
    os.environ.get("CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
MANIFESTS = sorted(CORPUS.glob("*/manifest.yaml")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not MANIFESTS, reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.parent.name)
def test_corpus_manifest_loads_and_discovers(manifest: Path):
    loaded = load_manifest(manifest)
    streams = load_source(loaded, config_for(loaded.spec)).streams
    assert streams, "no streams"
    catalog = [stream.catalog_entry() for stream in streams.values()]
    for entry in catalog:
        assert entry["name"] and isinstance(entry["json_schema"], dict)
    assert sum(1 for e in catalog if e["json_schema"].get("properties")) >= len(catalog) // 2
