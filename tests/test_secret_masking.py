"""Every error path is masked, in every form a secret takes (issue 15, "Secrets").

Failures come from ``requests`` itself (a key with a trailing newline, a URL it cannot send),
from decoders quoting a body, from token endpoints and from APIs that echo what they received,
percent-encoded or not. Neither the Python API's exceptions nor the command line's output may
hold a secret in any of its derived forms.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from manifests import modern
from support.api_server import RecordedRequest, Response
from support.cli import engine_cli

from engine import ReadError, load_source
from engine.secrets import SecretMasker

SENTINEL = "SENTINEL-c0de/key+x=y"
NOT_MARKED_SPEC = "other: {type: string}"  # the spec marks nothing secret
FAST_FAILURE = """
type: DefaultErrorHandler
max_retries: 1
backoff_strategies: [{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0.001}]
"""


def forms(secret: str) -> list[str]:
    """Every form of ``secret`` that must never be shown (short ones aside)."""
    core = secret.strip()
    return [
        core,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        quote(core, safe=""),
        quote_plus(core),
        quote(secret, safe=""),
        quote_plus(secret),
    ]


def assert_hidden(text: str, secret: str = SENTINEL) -> None:
    shown = [form for form in forms(secret) if form in text]
    assert shown == [], f"secret forms {shown} in: {text[:800]}"


@pytest.mark.parametrize(
    "secret",
    ["SENTINEL-plain", "SENTINEL-with\nnewline\n", "  SENTINEL-padded  ", "SENTINEL/+&=?é\"'\\"],
)
def test_the_masker_knows_every_derived_form(secret):
    masker = SecretMasker([secret])
    for form in forms(secret):
        assert masker.mask(f"<{form}>") == "<****>", form
    masker.add_basic("user", secret)
    token = base64.b64encode(f"user:{secret}".encode()).decode()
    assert masker.mask(f"Basic {token}") == "Basic ****"


def header_key(token_expression: str = "{{ config['token'] }}") -> str:
    return f'type: ApiKeyAuthenticator\napi_token: "{token_expression}"\nheader: X-API-Key'


CANNOT_SEND = {
    # requests refuses the header before sending: InvalidHeader quotes the value
    "trailing newline": (header_key(), {"token": SENTINEL + "\n"}, "InvalidHeader"),
    "leading space": (header_key(), {"token": " " + SENTINEL}, "InvalidHeader"),
    "carriage return": (header_key(), {"token": SENTINEL + "\r\nX-Evil: 1"}, "InvalidHeader"),
    # http.client cannot encode it
    "non-latin-1": (header_key(), {"token": SENTINEL + "\u2603"}, "UnicodeEncodeError"),
}


@pytest.mark.parametrize("case", sorted(CANNOT_SEND))
def test_a_request_requests_refuses_fails_masked_and_unretried(api_server, tmp_path, case):
    authenticator, config, kind = CANNOT_SEND[case]
    api_server.add_route("GET", "/items", lambda request: Response(200, {"data": []}))
    text = modern(api_server.url, authenticator=authenticator, spec_properties=NOT_MARKED_SPEC)
    with pytest.raises(ReadError) as caught:
        list(load_source(text, config).read_records("items"))
    message = str(caught.value)
    assert kind in message and "cannot be sent" in message
    assert_hidden(message + repr(caught.value), config["token"])
    assert api_server.requests == []
    assert_hidden(cli_output(tmp_path, text, config), config["token"])


@pytest.mark.parametrize(
    "base",
    [
        "htp://127.0.0.1:1/items?api_key={secret}",  # InvalidSchema
        "http://[::1/items?api_key={secret}",  # InvalidURL
        "127.0.0.1/items?api_key={secret}",  # MissingSchema
        "http:///items?api_key={secret}",  # no host
    ],
)
def test_a_url_requests_cannot_send_fails_masked(tmp_path, base):
    config = {"base": base.format(secret=quote_plus(SENTINEL)), "token": SENTINEL}
    bearer = "type: BearerAuthenticator\napi_token: \"{{ config['token'] }}\""
    text = modern("{{ config['base'] }}", path="", authenticator=bearer)
    with pytest.raises(ReadError) as caught:
        list(load_source(text, config).read_records("items"))
    assert_hidden(str(caught.value) + repr(caught.value))
    assert_hidden(cli_output(tmp_path, text, config))


def echo_everything(request: RecordedRequest) -> Response:
    """An API that puts everything it received into its error, raw and decoded."""
    echoed = {"query": request.query, "headers": request.headers, "body": request.body.decode()}
    return Response(400, {"error": json.dumps(echoed), "raw_path": request.path})


ECHOED = {
    "secret query parameter (unmarked)": (
        "type: NoAuth",
        "request_parameters: {client_secret: \"{{ config['token'] }}\"}",
    ),
    "query api key": (
        """type: ApiKeyAuthenticator
api_token: "{{ config['token'] }}"
inject_into: {type: RequestOption, inject_into: request_parameter, field_name: k}""",
        "",
    ),
    "basic auth": (
        """type: BasicHttpAuthenticator
username: someone
password: "{{ config['token'] }}\"""",
        "",
    ),
    "form body field": (
        "type: NoAuth",
        "http_method: POST\nrequest_body_data: {password: \"{{ config['token'] }}\"}",
    ),
    "json body field": (
        "type: NoAuth",
        "http_method: POST\nrequest_body_json: {auth: {api_key: \"{{ config['token'] }}\"}}",
    ),
    "header built around the key": (
        "type: NoAuth",
        "request_headers: {Authorization: \"Token token={{ config['token'] }}\"}",
    ),
}


@pytest.mark.parametrize("padding", ["", "  "], ids=["exact", "padded"])
@pytest.mark.parametrize("case", sorted(ECHOED))
def test_an_echoed_credential_is_masked_in_every_form(api_server, tmp_path, case, padding):
    authenticator, extra = ECHOED[case]
    api_server.add_route("GET", "/items", echo_everything)
    api_server.add_route("POST", "/items", echo_everything)
    config = {"token": padding + SENTINEL + padding}
    text = modern(
        api_server.url,
        authenticator=authenticator,
        extra_requester=extra,
        error_handler=FAST_FAILURE,
        spec_properties=NOT_MARKED_SPEC,
    )
    with pytest.raises(ReadError) as caught:
        list(load_source(text, config).read_records("items"))
    message = str(caught.value)
    assert "status 400" in message and "****" in message
    assert_hidden(message + repr(caught.value), config["token"])
    if case == "basic auth":
        assert base64.b64encode(f"someone:{config['token']}".encode()).decode() not in message
    assert_hidden(cli_output(tmp_path, text, config), config["token"])


@pytest.mark.parametrize(
    ("decoder", "body"),
    [
        ("JsonlDecoder", '{"id": 1}\n{"key": "' + SENTINEL + '" broken\n'),
        ("JsonDecoder", SENTINEL + " is not json"),
        ("XmlDecoder", "<data><key>" + SENTINEL + "</data>"),
        ("CsvDecoder", 'id,key\n1,"' + SENTINEL + '\n2,"unterminated'),
    ],
)
def test_a_body_a_decoder_refuses_is_quoted_masked(api_server, tmp_path, decoder, body):
    api_server.add_route(
        "GET", "/items", lambda request: Response(200, body, headers={"Content-Type": "text/x"})
    )
    text = modern(
        api_server.url, field_path="[]", authenticator=header_key(), error_handler=FAST_FAILURE
    ).replace(
        "      record_selector:", f"      decoder: {{type: {decoder}}}\n      record_selector:"
    )
    config = {"token": SENTINEL}
    try:
        records = list(load_source(text, config).read_records("items"))
    except ReadError as error:
        assert_hidden(str(error) + repr(error))
    else:  # a lenient decoder may read it: then the secret is data, not an error
        assert records
    assert_hidden(cli_output(tmp_path, text, config, command="check"))


def test_an_oauth_endpoint_that_cannot_be_reached_fails_masked(tmp_path):
    authenticator = """
type: OAuthAuthenticator
token_refresh_endpoint: "http://127.0.0.1:1/oauth/token"
client_id: cid
client_secret: "{{ config['token'] }}"
refresh_token: "{{ config['token'] }}"
send_refresh_request_as_query_params: true
"""
    text = modern(
        "http://127.0.0.1:1", authenticator=authenticator, spec_properties=NOT_MARKED_SPEC
    )
    config = {"token": SENTINEL}
    with pytest.raises(ReadError) as caught:
        list(load_source(text, config).read_records("items"))
    assert "OAuth token refresh failed: ConnectionError" in str(caught.value)
    assert_hidden(str(caught.value) + repr(caught.value))
    assert_hidden(cli_output(tmp_path, text, config))


def cli_output(tmp_path: Path, text: str, config: dict, command: str = "read") -> str:
    manifest, config_file = tmp_path / "m.yaml", tmp_path / "c.json"
    manifest.write_text(text)
    config_file.write_text(json.dumps(config))
    done = engine_cli(command, manifest, config_file)
    assert "Traceback" not in done.stderr
    return done.stdout + done.stderr
