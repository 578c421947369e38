"""Without airbyte-cdk: pure manifests never touch it, and a manifest that needs it says so.

Each check runs in a fresh interpreter where ``import airbyte_cdk`` fails (``sys.modules`` holds
None for it), as on a machine without the ``airbyte`` extra.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from manifests import modern

_BLOCKED = """
import sys, json
sys.modules["airbyte_cdk"] = None
from engine import load_source
from engine.errors import EngineError
try:
    source = load_source(sys.argv[1], {"token": "t" * 8})
    names = sorted(source.streams)
    outcome = {"streams": names}
except EngineError as error:
    outcome = {"error": str(error)}
outcome["cdk_loaded"] = sorted(m for m, v in sys.modules.items()
                               if m.startswith("airbyte_cdk") and v is not None)
print(json.dumps(outcome))
"""


def run_without_cdk(manifest: Path) -> dict:
    """Load ``manifest`` in an interpreter where airbyte-cdk cannot be imported."""
    done = subprocess.run(
        [sys.executable, "-c", _BLOCKED, str(manifest)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_pure_manifest_loads_without_importing_airbyte_cdk(tmp_path):
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(modern("http://127.0.0.1:9"))
    assert run_without_cdk(manifest) == {"streams": ["items"], "cdk_loaded": []}


def test_a_component_written_against_airbyte_cdk_names_the_extra(tmp_path):
    (tmp_path / "components.py").write_text(
        "from airbyte_cdk.sources.declarative.extractors import RecordExtractor\n"
        "class Items(RecordExtractor):\n    pass\n"
    )
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        modern("http://127.0.0.1:9").replace(
            "extractor: {type: DpathExtractor, field_path: [data]}",
            "extractor: {type: CustomRecordExtractor, class_name: components.Items}",
        )
    )
    outcome = run_without_cdk(manifest)
    error = outcome["error"]
    assert "streams[0].retriever.record_selector.extractor" in error
    assert "'components.Items'" in error
    assert "pip install 'dagster-declarative[airbyte]'" in error
    assert outcome["cdk_loaded"] == []
