"""Authenticators: what each request carries to prove who is asking.

Static credentials are rendered once, when the source is built; OAuth and session tokens are
fetched on first use and refreshed when they expire, under a lock so that concurrent slices share
one token. Every token an authenticator learns is registered with the source's secret masker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from engine.datetimes import DatetimeFormatError, parse_datetime, parse_iso_datetime
from engine.errors import ConfigError, ReadError
from engine.http.client import HttpClient
from engine.http.options import EMPTY, RequestOption, RequestOptions
from engine.secrets import SecretMasker, basic_token


class Authenticator:
    def options(self) -> RequestOptions:
        """The headers/parameters to add to the next request."""
        return EMPTY


class NoAuth(Authenticator):
    pass


@dataclass
class StaticAuth(Authenticator):
    """API key, bearer and basic authentication: the credential never changes during a read."""

    request_options: RequestOptions

    def options(self) -> RequestOptions:
        return self.request_options


def api_key(token: str, header: str | None, inject_into: RequestOption | None) -> StaticAuth:
    if inject_into is not None:
        return StaticAuth(inject_into.options_for(token))
    return StaticAuth(RequestOptions(headers={header or "Authorization": token}))


def bearer(token: str) -> StaticAuth:
    return StaticAuth(RequestOptions(headers={"Authorization": f"Bearer {token}"}))


def basic(username: str, password: str) -> StaticAuth:
    return StaticAuth(
        RequestOptions(headers={"Authorization": f"Basic {basic_token(username, password)}"})
    )


@dataclass
class OAuth(Authenticator):
    """Refresh-token (or client-credentials) OAuth 2 flow with expiry tracking."""

    client: HttpClient
    masker: SecretMasker
    token_refresh_endpoint: str
    body: dict[str, Any]
    headers: dict[str, str]
    access_token_name: str = "access_token"
    expires_in_name: str = "expires_in"
    expiry_date_format: str | None = None
    as_query_params: bool = False
    static_token: str | None = None
    _token: str | None = field(default=None, init=False)
    _expires_at: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def options(self) -> RequestOptions:
        return RequestOptions(headers={"Authorization": f"Bearer {self.token()}"})

    def token(self) -> str:
        if self.static_token:
            return self.static_token
        with self._lock:
            if self._token is None or time.time() >= self._expires_at:
                self._refresh()
            return self._token  # type: ignore[return-value]

    def _refresh(self) -> None:
        started = time.time()
        body = {"params" if self.as_query_params else "data": self.body}
        try:
            response = self.client.fetch(
                "POST", self.token_refresh_endpoint, headers=self.headers, **body
            )
            payload = response.json() if response.ok else None
        except (requests.RequestException, ValueError) as error:
            # The text may quote the endpoint's URL or the request's values: masked.
            detail = self.masker.mask(f"{type(error).__name__}: {error}")[:500]
            raise ReadError(
                f"the OAuth token refresh failed: {detail}",
                url=self.masker.mask_url(self.token_refresh_endpoint),
            ) from None
        if not isinstance(payload, dict) or self.access_token_name not in payload:
            raise ReadError(
                "the OAuth token refresh did not return an access token",
                url=self.masker.mask_url(self.token_refresh_endpoint),
                status=response.status_code,
                failure_type="config_error",
            )
        self._token = str(payload[self.access_token_name])
        self.masker.add(self._token)
        self._expires_at = self._expiry(payload.get(self.expires_in_name), started)

    def _expiry(self, value: Any, started: float) -> float:
        if value is None:
            return started + 3600
        if self.expiry_date_format:
            return expiry_timestamp(value, self.expiry_date_format)
        try:
            return started + float(value)
        except (TypeError, ValueError):
            return started + 3600


def expiry_timestamp(value: Any, declared_format: str) -> float:
    """When a token expires, from the moment the token endpoint names (epoch seconds).

    As leniently as the reference runner reads it: the declared ``token_expiry_date_format``
    first, then ISO 8601 with any offset (or none: UTC), then epoch seconds.
    """
    text = str(value).strip()
    try:
        return parse_datetime(text, declared_format).timestamp()
    except DatetimeFormatError:
        pass
    try:
        return parse_iso_datetime(text).timestamp()
    except DatetimeFormatError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ReadError(
            f"the OAuth token expiry {text[:40]!r} matches neither token_expiry_date_format "
            f"{declared_format!r}, ISO 8601 nor epoch seconds"
        ) from None


@dataclass
class SessionToken(Authenticator):
    """Log in once (a request of its own), then send the session token with every request."""

    login: Callable[[], Any]
    token_path: Sequence[str]
    apply: Callable[[str], RequestOptions]
    masker: SecretMasker
    expires_after: float | None = None
    _token: str | None = field(default=None, init=False)
    _fetched_at: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def options(self) -> RequestOptions:
        with self._lock:
            expired = self.expires_after is not None and (
                time.time() - self._fetched_at >= self.expires_after
            )
            if self._token is None or expired:
                self._fetch()
        return self.apply(self._token or "")

    def _fetch(self) -> None:
        body = self.login()
        value: Any = body
        for key in self.token_path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if not value:
            raise ReadError(
                "the login response has no session token at " + "/".join(self.token_path),
                failure_type="config_error",
            )
        self._token = str(value)
        self._fetched_at = time.time()
        self.masker.add(self._token)


def selected_by_config(config: Mapping[str, Any], path: Sequence[str], names: Iterable[str]) -> str:
    """SelectiveAuthenticator: the config value at ``path`` names the authenticator to use."""
    value: Any = config
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    names = sorted(names)
    if value is None or str(value) not in names:
        raise ConfigError(
            f"config value at {'/'.join(path)} must be one of {names}; "
            f"found {'nothing' if value is None else repr(value)}"
        )
    return str(value)
