"""Every command line's failure passes the source's masker, also a failure the engine did not
expect (issue 15, "Secrets"): ``explain`` and ``state import|export`` as well as the protocol
commands.

A surprise is made where the command really fails: a step of the command raises a Python error
quoting the secret, as a driver or a library would; the command must still name the failure,
exit non-zero without a traceback, and show no form of the secret.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from manifests import modern
from test_secret_masking import SENTINEL, assert_hidden

import engine.explain.report
import engine.state.command_line  # binds the real account_digest before a test patches it
import engine.state.connections
from engine.__main__ import main


def _failing_step(*args: object, **kwargs: object) -> None:
    raise RuntimeError(f"the step saw api_key={SENTINEL} and gave up")


def _files(api_server, tmp_path: Path) -> tuple[Path, Path]:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(modern(api_server.url))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"token": SENTINEL}))
    return manifest, config


@pytest.mark.parametrize(
    ("command", "module", "step"),
    [
        (["explain"], engine.explain.report, "StreamPartitions"),
        (["explain", "--json"], engine.explain.report, "describe_definition"),
        (["state", "export", "--connection", "c"], engine.state.connections, "account_digest"),
        (["state", "import"], engine.state.connections, "default_connection_name"),
    ],
)
def test_an_unexpected_failure_is_named_and_masked(
    api_server, tmp_path, monkeypatch, capsys, command, module, step
):
    manifest, config = _files(api_server, tmp_path)
    monkeypatch.setattr(module, step, _failing_step)
    extra = ["--state-db", f"sqlite:///{tmp_path / 'state.db'}"] if command[0] == "state" else []
    if command[:2] == ["state", "import"]:
        exported = tmp_path / "exported.json"
        exported.write_text("[]")
        extra.append(str(exported))

    code = main([*command, "--manifest", str(manifest), "--config", str(config), *extra])

    out, err = capsys.readouterr()
    assert code == 2
    assert "unexpected RuntimeError: the step saw api_key=****" in err
    assert "Traceback" not in err
    assert_hidden(out + err)
    assert api_server.requests == []  # neither command sends a request here
