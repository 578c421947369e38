"""Credentials the test API server demands, and the endpoints that hand out tokens.

An `Auth` decides whether a request may pass. Expected credentials are either fixed strings or a
`TokenIssuer`, which is what the OAuth token endpoint and the session-login endpoint fill: a
collection protected by ``BearerAuth(issuer)`` accepts exactly the tokens that endpoint handed out
and that have not expired, so a test exercises the client's whole login/refresh cycle.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from .api_messages import RecordedRequest, Response, json_error


class TokenIssuer:
    """Mints access tokens ``<prefix>-1``, ``<prefix>-2``, ... and tracks their validity.

    ``lifetime`` is in seconds (None: tokens never expire). `expire_all` invalidates every token
    at once, so a test can force a refresh without sleeping.
    """

    def __init__(self, prefix: str, lifetime: float | None) -> None:
        self.prefix = prefix
        self.lifetime = lifetime
        self._counter = itertools.count(1)
        self._deadlines: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def issued(self) -> list[str]:
        """Every token handed out so far, oldest first."""
        with self._lock:
            return list(self._deadlines)

    def issue(self) -> str:
        with self._lock:
            token = f"{self.prefix}-{next(self._counter)}"
            lifetime = float("inf") if self.lifetime is None else self.lifetime
            self._deadlines[token] = time.monotonic() + lifetime
            return token

    def is_valid(self, token: str) -> bool:
        with self._lock:
            return time.monotonic() < self._deadlines.get(token, float("-inf"))

    def expire_all(self) -> None:
        with self._lock:
            self._deadlines = dict.fromkeys(self._deadlines, float("-inf"))


Credential = str | TokenIssuer
"""A fixed secret, or "any live token from this issuer"."""


def _matches(presented: str | None, expected: Credential) -> bool:
    if presented is None:
        return False
    if isinstance(expected, TokenIssuer):
        return expected.is_valid(presented)
    return presented == expected


class Auth(Protocol):
    """Decides whether a request carries acceptable credentials.

    ``challenge`` is the ``WWW-Authenticate`` value sent with a 401, when the scheme has one.
    """

    challenge: ClassVar[str | None]

    def admits(self, request: RecordedRequest) -> bool: ...


@dataclass(frozen=True)
class ApiKeyAuth:
    """An API key in a header (compared verbatim) or in a query parameter; give exactly one."""

    key: Credential
    header: str | None = None
    query_param: str | None = None
    challenge: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        if (self.header is None) == (self.query_param is None):
            raise ValueError("ApiKeyAuth needs exactly one of header= or query_param=")

    def admits(self, request: RecordedRequest) -> bool:
        if self.query_param is not None:
            return _matches(request.param(self.query_param), self.key)
        return _matches(request.headers.get(str(self.header).lower()), self.key)


@dataclass(frozen=True)
class BearerAuth:
    """``Authorization: Bearer <token>``."""

    token: Credential
    challenge: ClassVar[str | None] = 'Bearer realm="test-api"'

    def admits(self, request: RecordedRequest) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and _matches(token, self.token)


@dataclass(frozen=True)
class BasicAuth:
    """``Authorization: Basic base64(username:password)``."""

    username: str
    password: str = ""
    challenge: ClassVar[str | None] = 'Basic realm="test-api"'

    def admits(self, request: RecordedRequest) -> bool:
        return _basic_credentials(request) == (self.username, self.password)


def _basic_credentials(request: RecordedRequest) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    except ValueError:
        return None
    return username, password


def unauthorized(auth: Auth) -> Response:
    """The 401 answer; it never echoes what the client sent."""
    response = json_error(401, "unauthorized", "missing or invalid credentials")
    if auth.challenge is None:
        return response
    return Response(response.status, response.body, {"WWW-Authenticate": auth.challenge})


def _submitted_fields(request: RecordedRequest) -> dict[str, str]:
    """Token-request parameters from the query string, a JSON body or a form body."""
    fields = {name: values[0] for name, values in request.query.items()}
    body = request.json
    if isinstance(body, dict):
        fields.update({name: str(value) for name, value in body.items()})
    else:
        fields.update({name: values[0] for name, values in request.form.items()})
    return fields


@dataclass(frozen=True)
class OAuthTokenEndpoint:
    """An OAuth 2 token endpoint for the ``refresh_token`` and ``client_credentials`` grants.

    Client credentials may come in the request parameters or as HTTP Basic auth. Errors follow
    RFC 6749: 401 ``invalid_client``, 400 ``invalid_grant`` / ``unsupported_grant_type``.
    """

    client_id: str
    client_secret: str
    refresh_token: str | None
    issuer: TokenIssuer

    def __call__(self, request: RecordedRequest) -> Response:
        fields = _submitted_fields(request)
        client = _basic_credentials(request) or (
            fields.get("client_id"),
            fields.get("client_secret"),
        )
        if client != (self.client_id, self.client_secret):
            return json_error(401, "invalid_client", "unknown client or wrong secret")
        grant_type = fields.get("grant_type")
        if grant_type == "refresh_token":
            if self.refresh_token is None or fields.get("refresh_token") != self.refresh_token:
                return json_error(400, "invalid_grant", "refresh token is invalid or revoked")
        elif grant_type != "client_credentials":
            return json_error(400, "unsupported_grant_type", f"grant_type {grant_type!r}")
        body: dict[str, object] = {"access_token": self.issuer.issue(), "token_type": "Bearer"}
        if self.issuer.lifetime is not None:
            body["expires_in"] = self.issuer.lifetime
        return Response(200, body)


@dataclass(frozen=True)
class SessionLoginEndpoint:
    """A login endpoint: POST JSON containing ``credentials``, get ``{token_key: <token>}``."""

    credentials: Mapping[str, str]
    token_key: str
    issuer: TokenIssuer

    def __call__(self, request: RecordedRequest) -> Response:
        submitted = request.json
        if not isinstance(submitted, dict) or any(
            submitted.get(name) != value for name, value in self.credentials.items()
        ):
            return json_error(401, "invalid_credentials", "wrong username or password")
        return Response(200, {self.token_key: self.issuer.issue()})
