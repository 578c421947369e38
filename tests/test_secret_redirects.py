"""Credentials never follow a redirect to another origin (issue 15, "Secrets").

A hostile API on 127.0.0.1 answers with redirects to a second server (another port), to
``localhost`` (another host) or to non-HTTP schemes; the second server records what reached it,
and nothing that reached it may hold a secret in any form.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import quote, quote_plus, urlencode, urlsplit

import pytest
import requests
from manifests import modern
from support.api_server import ApiServer, RecordedRequest, Response

from engine import ReadError, load_source
from engine.http.client import HttpClient, RequestStats
from engine.http.error_handling import DefaultErrorHandler
from engine.http.redirects import check_hop
from engine.secrets import SecretMasker

SENTINEL = "SENTINEL-9d41-redirect"
UNMARKED = "UNMARKED-77c2-credential"  # sent as a credential, not marked airbyte_secret
CONFIG = {"token": SENTINEL, "tenant": UNMARKED, "user": "someone"}
ONE_RECORD = {"data": [{"id": 1}]}

AUTHENTICATORS = {
    "api_key_header": (
        """type: ApiKeyAuthenticator
api_token: "{{ config['token'] }}"
header: X-API-Key""",
        "",
    ),
    "api_key_query": (
        """type: ApiKeyAuthenticator
api_token: "{{ config['token'] }}"
inject_into: {type: RequestOption, inject_into: request_parameter, field_name: api_key}""",
        "",
    ),
    "bearer": ("""type: BearerAuthenticator\napi_token: "{{ config['token'] }}\"""", ""),
    "basic": (
        """type: BasicHttpAuthenticator
username: "{{ config['user'] }}"
password: "{{ config['token'] }}\"""",
        "",
    ),
    "secret_header": (
        "type: NoAuth",
        "request_headers: {X-Tenant-Token: \"{{ config['tenant'] }}\"}",
    ),
    "secret_parameter": (
        "type: NoAuth",
        "request_parameters: {access_key: \"{{ config['tenant'] }}\"}",
    ),
}


def secret_forms() -> list[str]:
    forms = []
    for value in (SENTINEL, UNMARKED):
        forms += [value, quote(value, safe=""), quote_plus(value)]
    forms.append(base64.b64encode(f"someone:{SENTINEL}".encode()).decode())
    return forms


def leaked(request: RecordedRequest) -> list[str]:
    """The secret forms found anywhere in a recorded request."""
    seen = " ".join(
        [request.path, json.dumps(request.query), json.dumps(request.headers), repr(request.body)]
    )
    return [form for form in secret_forms() if form in seen]


@pytest.fixture
def elsewhere() -> Iterator[ApiServer]:
    """A second API on another port: another origin."""
    with ApiServer() as server:
        server.add_route("GET", "/landing", lambda request: Response(200, ONE_RECORD))
        server.add_route("POST", "/landing", lambda request: Response(200, ONE_RECORD))
        yield server


def redirecting(target: str, status: int = 302):
    """A handler that redirects, keeping the request's query string (many servers do)."""

    def handle(request: RecordedRequest) -> Response:
        query = urlencode([(k, v) for k, values in request.query.items() for v in values])
        return Response(status, b"", headers={"Location": f"{target}?{query}"})

    return handle


def read_all(text: str) -> list[dict]:
    return list(load_source(text, CONFIG).read_records("items"))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("where", ["port", "host"])
@pytest.mark.parametrize("kind", sorted(AUTHENTICATORS))
def test_no_credential_follows_a_redirect_to_another_origin(
    api_server, elsewhere, kind, where, status
):
    authenticator, extra = AUTHENTICATORS[kind]
    target = elsewhere if where == "port" else api_server
    base = elsewhere.url if where == "port" else api_server.url.replace("127.0.0.1", "localhost")
    api_server.add_route("GET", "/landing", lambda request: Response(200, ONE_RECORD))
    api_server.add_route("GET", "/items", redirecting(f"{base}/landing", status))
    text = modern(api_server.url, authenticator=authenticator, extra_requester=extra)

    assert read_all(text) == [{"id": 1}]

    landed = [r for r in target.requests if r.path == "/landing"]
    assert len(landed) == 1
    assert leaked(landed[0]) == []
    first = api_server.requests[0]
    assert first.path == "/items" and leaked(first)  # the API itself did get the credential


@pytest.mark.parametrize("kind", ["api_key_header", "bearer", "secret_header", "api_key_query"])
def test_a_redirect_within_the_origin_keeps_the_credentials(api_server, kind):
    authenticator, extra = AUTHENTICATORS[kind]
    api_server.add_route("GET", "/landing", lambda request: Response(200, ONE_RECORD))
    api_server.add_route("GET", "/items", redirecting(f"{api_server.url}/landing"))
    text = modern(api_server.url, authenticator=authenticator, extra_requester=extra)
    assert read_all(text) == [{"id": 1}]
    landing = [r for r in api_server.requests if r.path == "/landing"]
    assert leaked(landing[0])


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd?k={secret}",
        "ftp://127.0.0.1:1/x?k={secret}",
        "gopher://127.0.0.1:1/{secret}",
        "data:text/plain,{secret}",
    ],
)
def test_a_redirect_to_a_non_http_scheme_is_refused_without_a_trace_of_the_secret(
    api_server, location
):
    authenticator, _ = AUTHENTICATORS["api_key_query"]
    api_server.add_route(
        "GET",
        "/items",
        lambda request: Response(302, b"", headers={"Location": location.format(secret=SENTINEL)}),
    )
    text = modern(api_server.url, authenticator=authenticator)
    with pytest.raises(ReadError) as caught:
        read_all(text)
    message = str(caught.value)
    assert "not followed" in message and "is not HTTP" in message
    assert SENTINEL not in message and SENTINEL not in repr(caught.value)
    assert len(api_server.requests) == 1  # refused at once, not retried


OPENSSL_SELF_SIGNED = (
    *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes"),
    *("-days", "1", "-subj", "/CN=127.0.0.1"),
)


@pytest.fixture
def https_redirector(tmp_path, elsewhere) -> Iterator[str]:
    """An HTTPS server (self-signed) that redirects every GET to ``elsewhere`` over plain HTTP."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test server's certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [*OPENSSL_SELF_SIGNED, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"{elsewhere.url}/landing?{urlsplit(self.path).query}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Redirect)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_https_to_http_is_never_followed(https_redirector, elsewhere):
    masker = SecretMasker([SENTINEL])
    client = HttpClient(masker=masker, verify_tls=False)  # the test's certificate is self-signed
    request = requests.Request(
        "GET", f"{https_redirector}/items", params={"q": "x"}, headers={"X-API-Key": SENTINEL}
    )
    with pytest.raises(ReadError, match="leaves HTTPS for plain HTTP") as caught:
        client.send(
            request, error_handler=DefaultErrorHandler(config={}), decode=dict, stats=RequestStats()
        )
    client.close()
    assert SENTINEL not in str(caught.value)
    assert elsewhere.requests == []


def test_a_scheme_change_on_one_host_is_another_origin():
    masker = SecretMasker([SENTINEL])
    # http -> https on the same host is another origin: allowed, without credentials
    upgraded = requests.Request(
        "GET", "https://127.0.0.1/landing", headers={"X-API-Key": SENTINEL, "Accept": "json"}
    ).prepare()
    check_hop("http://127.0.0.1/items", upgraded, masker)
    assert dict(upgraded.headers) == {"Accept": "json"}


@pytest.mark.parametrize("status", [307, 308])
def test_a_body_with_credentials_is_never_resent_to_another_origin(api_server, elsewhere, status):
    api_server.add_route("POST", "/items", redirecting(f"{elsewhere.url}/landing", status))
    extra = """http_method: POST
request_body_json: {query: all, key: "{{ config['token'] }}"}"""
    text = modern(api_server.url, extra_requester=extra)
    with pytest.raises(ReadError) as caught:
        read_all(text)
    assert "its body holds credentials, and it leads to another origin" in str(caught.value)
    assert SENTINEL not in str(caught.value)
    assert elsewhere.requests == []


OAUTH = """
type: OAuthAuthenticator
token_refresh_endpoint: "{url}/oauth/token"
client_id: cid
client_secret: "{{{{ config['token'] }}}}"
refresh_token: "{{{{ config['tenant'] }}}}"
{extra}
"""


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("as_query", [False, True])
def test_oauth_token_requests_never_carry_secrets_to_another_origin(
    api_server, elsewhere, status, as_query
):
    elsewhere.add_route("POST", "/landing", lambda request: Response(200, {"access_token": "x"}))
    elsewhere.add_route("GET", "/landing", lambda request: Response(200, {"access_token": "x"}))
    api_server.add_route("POST", "/oauth/token", redirecting(f"{elsewhere.url}/landing", status))
    api_server.add_route("GET", "/items", lambda request: Response(200, ONE_RECORD))
    extra = "refresh_request_body: {audience: api}"
    if as_query:
        extra += "\nsend_refresh_request_as_query_params: true"
    text = modern(api_server.url, authenticator=OAUTH.format(url=api_server.url, extra=extra))
    try:
        read_all(text)
    except ReadError as error:  # a refused redirect, or a token endpoint that answers no token
        assert SENTINEL not in str(error) and UNMARKED not in str(error)
    for request in elsewhere.requests:
        assert leaked(request) == []


def test_session_login_requests_never_carry_secrets_to_another_origin(api_server, elsewhere):
    elsewhere.add_route("GET", "/login", lambda request: Response(200, {"token": "s"}))
    api_server.add_route("POST", "/login", redirecting(f"{elsewhere.url}/login", 302))
    api_server.add_route("GET", "/items", lambda request: Response(200, ONE_RECORD))
    authenticator = f"""
type: SessionTokenAuthenticator
login_requester:
  type: HttpRequester
  url_base: "{api_server.url}"
  path: /login
  http_method: POST
  request_headers: {{X-Login-Key: "{{{{ config['tenant'] }}}}"}}
  request_parameters: {{password: "{{{{ config['token'] }}}}"}}
session_token_path: [token]
request_authentication: {{type: SessionTokenRequestBearerAuthenticator}}
"""
    assert read_all(modern(api_server.url, authenticator=authenticator)) == [{"id": 1}]
    assert len(elsewhere.requests) == 1
    assert leaked(elsewhere.requests[0]) == []
