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
import re
import shutil
from pathlib import Path

import pytest
from support.api_server import Response
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
# gitlab's and mixpanel's custom routers call ``stream_slices()`` on their parent, which
# airbyte-cdk 7 builds as a DefaultStream: mixpanel's other four streams read (the same records
# as airbyte-cdk 7 reads from the same server), its ``funnels`` fails as it fails there.
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
    # ^: the read's only error (several would be listed after "N streams did not sync").
    "mixpanel": "^custom component source_mixpanel.components.FunnelsSubstreamPartitionRouter "
    "failed: AttributeError: 'DefaultStream' object has no attribute 'stream_slices'",
}


# connector -> the fixed host its own Python code calls with a session of its own (not the
# engine's): unrouted, the read fails there, naming the component and the host; the last test
# routes that call to a local endpoint and reads every stream.
CALLS_OUT = {
    "facebook-pages": (
        "source_facebook_pages.components.AuthenticatorFacebookPageAccessToken",
        "graph.facebook.com",
    ),
}


@pytest.fixture(autouse=True)
def _component_budgets_lifted(monkeypatch):
    """A call budget a component sets in its own code (mixpanel's requesters: one call a
    minute) protects the real API; here it would only stretch the test, like the manifest's
    ``api_budget``, which spec_discover_and_read drops."""
    from airbyte_cdk.sources.streams import call_rate

    monkeypatch.setattr(call_rate.APIBudget, "acquire_call", lambda *args, **kwargs: None)


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
@pytest.mark.parametrize("connector", [pytest.param(c, id=c.name) for c in CONNECTORS])
def test_custom_corpus_connector_spec_discover_and_read(connector, tmp_path):
    manifest = _laid_out(connector, tmp_path)
    if connector.name in REFUSED:
        with pytest.raises(EngineError, match=REFUSED[connector.name].replace("(", r"\(")):
            spec_discover_and_read(manifest, catalog_from_definitions=False)
        return
    if connector.name in CALLS_OUT:
        component, host = CALLS_OUT[connector.name]
        with pytest.raises(EngineError, match=rf"{re.escape(component)} failed: .*{host}"):
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


@pytest.mark.skipif(not CONNECTORS, reason=f"corpus-custom not found at {CORPUS_CUSTOM}")
def test_facebook_pages_reads_every_stream_when_its_token_host_answers(
    api_server, monkeypatch, tmp_path
):
    """The one call its authenticator makes outside the engine (``requests.get`` to
    graph.facebook.com for a page token) is routed to a local token endpoint; the rest of the
    connector then reads every stream against the generic server, signed with that token."""
    import requests

    api_server.add_route(
        "GET", "/{page_id}", lambda request: Response(200, {"access_token": "page-token-1"})
    )
    direct = requests.get
    facebook = "https://graph.facebook.com/"

    def routed(url, *args, **kwargs):
        if str(url).startswith(facebook):
            url = f"{api_server.url}/{str(url)[len(facebook) :]}"
        return direct(url, *args, **kwargs)

    monkeypatch.setattr(requests, "get", routed)
    spec_discover_and_read(
        _laid_out(CORPUS_CUSTOM / "facebook-pages", tmp_path), catalog_from_definitions=False
    )
    asked = api_server.requests
    assert asked, "the authenticator never asked for a page token"
    assert {r.param("fields") for r in asked} == {"access_token"}
