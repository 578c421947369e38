"""Every published manifest in shared/corpus loads, and discover lists its streams with schemas."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from config_gen import config_for

from engine import UnsupportedComponentError, load_manifest, load_source

CORPUS = Path(
    os.environ.get("CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
MANIFESTS = sorted(CORPUS.glob("*/manifest.yaml")) if CORPUS.is_dir() else []

# Components the engine does not run yet; it refuses them at load, by path.
NEEDS_LATER_WORK: dict[str, str] = {}


@pytest.mark.skipif(not MANIFESTS, reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.parent.name)
def test_corpus_manifest_loads_and_discovers(manifest: Path):
    name = manifest.parent.name
    if name in NEEDS_LATER_WORK:
        with pytest.raises(UnsupportedComponentError) as caught:
            load_manifest(manifest)
        assert "streams[" in caught.value.path
        pytest.xfail(f"needs {NEEDS_LATER_WORK[name]}: {caught.value}")
    loaded = load_manifest(manifest)
    source = load_source(loaded, config_for(loaded.spec))
    try:
        streams = source.streams
    except UnsupportedComponentError as error:
        pytest.xfail(f"needs a component issue 7 brings: {error}")
    assert streams, "no streams"
    catalog = [stream.catalog_entry() for stream in streams.values()]
    for entry in catalog:
        assert entry["name"] and isinstance(entry["json_schema"], dict)
    assert sum(1 for e in catalog if e["json_schema"].get("properties")) >= len(catalog) // 2
