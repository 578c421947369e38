"""Every connector in shared/corpus-custom (manifests with Python components written against
airbyte-cdk): spec, discover and a read of every stream against the generic local server, with
the components loaded from beside the manifest, as a connector package lays them out.

Each connector is copied into a temporary folder as a user would lay it out: ``manifest.yaml``,
its spec and schema files, and its ``source_<pkg>/`` package beside it. Connectors whose
components no longer run on airbyte-cdk 7 (or on this Python) are refused at load with an error
naming the component; ``REFUSED`` says which and why, and the test checks that error.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_corpus_read import spec_discover_and_read
from test_custom_without_cdk import run_without_cdk

from engine.errors import EngineError

pytest.importorskip("airbyte_cdk", reason="needs the airbyte extra")

CORPUS_CUSTOM = Path(
    os.environ.get(
        "CORPUS_CUSTOM_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus-custom"
    )
)
CONNECTORS = (
    sorted(p.parent for p in CORPUS_CUSTOM.glob("*/manifest.yaml"))
    if CORPUS_CUSTOM.is_dir()
    else []
)

# connector -> what its error says, at load or at the first read: the reference runtime cannot
# run these either (components written for an older airbyte-cdk or Python; a manifest field
# airbyte-cdk 7 rejects; retently's authenticator reads an API key its OAuth config lacks).
REFUSED = {
    "gnews": "Can't instantiate abstract class WaitUntilMidnightBackoffStrategy",
    "greenhouse": "no longer has (No module named 'airbyte_cdk.sources.declarative.declarative_",
    "pipedrive": "mutable default",
    "prestashop": "schemas/addresses.json",
    "slack": "SimpleRetriever._read_pages.. takes 3 positional arguments but 4 were given",
    "gitlab": "'DefaultStream' object has no attribute 'stream_slices'",
    "paypal-transaction": "page_token_option.field_path: expected a list, found the string",
    "retently": "KeyError: 'api_key'",
    "outreach": "cannot import name 'DatetimeBasedCursor' from 'airbyte_cdk.sources.declar",
}


# connector -> why it does not read every stream yet (each must fail: strict).
NOT_YET = {
    "amplitude": "its extractors expect Amplitude's own response shape, not the generic server's",
}
# connector -> why it cannot even be tried here (it would wait on a real host).
NOT_RUN = {
    "mixpanel": "its DynamicSchemaLoader asks Mixpanel for the schema at discover, before the "
    "local server runs; its custom extractors expect Mixpanel's response shape",
}
# connector -> the host its own Python code calls (no local server can answer it).
CALLS_OUT = {
    "facebook-pages": "graph.facebook.com (page token, from its authenticator)",
}


def _marks(connector: Path) -> list:
    if connector.name in CALLS_OUT:
        return [pytest.mark.skip(reason=f"calls {CALLS_OUT[connector.name]}")]
    if connector.name in NOT_RUN:
        return [pytest.mark.xfail(run=False, reason=NOT_RUN[connector.name])]
    if connector.name in NOT_YET:
        return [pytest.mark.xfail(strict=True, reason=NOT_YET[connector.name])]
    return []


def _laid_out(connector: Path, target: Path) -> Path:
    """The connector as a user lays it out: the package beside the manifest (the manifest is
    copied, since a linked one would be read from where it points; the rest is linked)."""
    for item in connector.iterdir():
        if item.name == "manifest.yaml":
            shutil.copy(item, target / item.name)
        elif item.name != "python":
            (target / item.name).symlink_to(item)
    for package in (connector / "python").iterdir():
        # A package as published: its modules, with the connector's schemas inside it.
        (target / package.name).mkdir()
        for item in package.iterdir():
            (target / package.name / item.name).symlink_to(item)
        schemas = connector / "schemas"
        if schemas.is_dir() and not (package / "schemas").exists():
            (target / package.name / "schemas").symlink_to(schemas)
    return target / "manifest.yaml"


@pytest.mark.skipif(not CONNECTORS, reason=f"corpus-custom not found at {CORPUS_CUSTOM}")
@pytest.mark.parametrize(
    "connector", [pytest.param(c, id=c.name, marks=_marks(c)) for c in CONNECTORS]
)
def test_custom_corpus_connector_spec_discover_and_read(connector, tmp_path):
    manifest = _laid_out(connector, tmp_path)
    if connector.name in REFUSED:
        with pytest.raises(EngineError, match=REFUSED[connector.name].replace("(", r"\(")):
            spec_discover_and_read(manifest, catalog_from_definitions=False)
        return
    # Their cursor fields and keys are often templates ({{ parameters[...] }}): the catalog is
    # checked by the read itself (every stream listed is read).
    spec_discover_and_read(manifest, catalog_from_definitions=False)


@pytest.mark.skipif(not CONNECTORS, reason=f"corpus-custom not found at {CORPUS_CUSTOM}")
@pytest.mark.parametrize("name", ["surveymonkey", "typeform"])
def test_without_airbyte_cdk_a_custom_corpus_connector_names_the_extra(name, tmp_path):
    outcome = run_without_cdk(_laid_out(CORPUS_CUSTOM / name, tmp_path))
    assert f"'source_{name}.components." in outcome["error"]
    assert "pip install 'dagster-declarative[airbyte]'" in outcome["error"]
    assert outcome["cdk_loaded"] == []
