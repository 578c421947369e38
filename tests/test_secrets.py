"""A sentinel secret never appears in anything the engine says, even when the API echoes it."""

from __future__ import annotations

import json

import pytest
from manifests import modern
from support.api_server import Response
from support.cli import engine_cli

from engine import ConfigError, EngineError, ReadError, SecretMasker, load_source

SENTINEL = "SENTINEL-7f3a9c-secret"
OAUTH_TOKEN = "SENTINEL-oauth-access-token"
HEADER_AUTH = "type: BearerAuthenticator\napi_token: \"{{ config['token'] }}\""
QUERY_AUTH = """
type: ApiKeyAuthenticator
api_token: "{{ config['token'] }}"
inject_into: {type: RequestOption, inject_into: request_parameter, field_name: api_key}
"""
FAST_FAILURE = """
type: DefaultErrorHandler
max_retries: 1
backoff_strategies: [{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0.001}]
"""


def echoing(request):
    """An API that puts everything it received into its error message (it happens)."""
    echoed = {"headers": request.headers, "query": request.query}
    return Response(500, {"message": f"internal error for {json.dumps(echoed)}"})


@pytest.mark.parametrize("authenticator", [HEADER_AUTH, QUERY_AUTH], ids=["header", "query"])
def test_failing_read_masks_the_secret_in_errors_and_cli_output(
    api_server, tmp_path, authenticator
):
    api_server.add_route("GET", "/items", echoing)
    text = modern(api_server.url, authenticator=authenticator, error_handler=FAST_FAILURE)
    source = load_source(text, {"token": SENTINEL})
    with pytest.raises(ReadError) as caught:
        list(source.read_records("items"))
    assert "status 500" in str(caught.value)
    assert SENTINEL not in str(caught.value) and SENTINEL not in repr(caught.value)

    manifest, config = tmp_path / "m.yaml", tmp_path / "c.json"
    manifest.write_text(text)
    config.write_text(json.dumps({"token": SENTINEL}))
    captured = []
    for command in ("check", "read"):
        done = engine_cli(command, manifest, config)
        captured.append(done.stdout + done.stderr)
    everything = "\n".join(captured)
    assert "internal error" in everything  # the API's message is shown ...
    assert SENTINEL not in everything  # ... with the secret masked
    assert "****" in everything


def test_tokens_learned_at_run_time_are_masked(api_server):
    api_server.add_oauth_token_endpoint(
        "/oauth/token",
        client_id="cid",
        client_secret=SENTINEL,
        refresh_token="rtok",
        access_token=OAUTH_TOKEN,
    )
    api_server.add_route("GET", "/items", echoing)
    authenticator = f"""
        type: OAuthAuthenticator
        token_refresh_endpoint: "{api_server.url}/oauth/token"
        client_id: cid
        client_secret: "{{{{ config['token'] }}}}"
        refresh_token: rtok
    """
    text = modern(api_server.url, authenticator=authenticator, error_handler=FAST_FAILURE)
    source = load_source(text, {"token": SENTINEL})
    with pytest.raises(ReadError) as caught:
        list(source.read_records("items"))
    message = str(caught.value)
    assert "Bearer" in message or "authorization" in message.lower()
    assert OAUTH_TOKEN not in message and SENTINEL not in message


def test_secret_urls_in_errors_hide_sensitive_query_values(api_server):
    api_server.add_route("GET", "/items", lambda request: Response(403, {"error": "nope"}))
    text = modern(api_server.url, authenticator=QUERY_AUTH)
    with pytest.raises(ReadError) as caught:
        list(load_source(text, {"token": SENTINEL}).read_records("items"))
    assert "api_key=****" in str(caught.value)


def test_failures_masked_keeps_engine_errors_and_masks_any_other():
    masker = SecretMasker(["hunter2-secret"])
    with pytest.raises(EngineError) as caught, masker.failures_masked():
        raise KeyError("hunter2-secret")
    assert str(caught.value) == "unexpected KeyError: '****'"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    original = ConfigError("config is missing the key 'api_key'")
    with pytest.raises(ConfigError) as kept, masker.failures_masked():
        raise original
    assert kept.value is original
