"""Adapters for the HTTP families: authenticators, error handlers and backoff strategies.

An authenticator built by the reference is a ``requests`` auth object: it is attached to every
request as such (``Request(auth=...)``), as the reference attaches it to its session, and its
request parameters and bodies join the request's options. Every credential it hands out is
registered with the source's masker before a request leaves. Error handlers and backoff
strategies receive the ``requests.Response`` (or the exception) and the attempt count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from requests import PreparedRequest
from requests.auth import AuthBase

from engine.custom import values
from engine.custom.scope import ConnectorScope, scoped
from engine.http.auth import Authenticator
from engine.http.backoff import BackoffStrategy
from engine.http.error_handling import ACTIONS, RETRY, Decision, DefaultErrorHandler, ErrorHandler
from engine.http.options import RequestOptions
from engine.http.outcome import Outcome
from engine.secrets import SecretMasker


def _register_credential(masker: SecretMasker, value: Any) -> None:
    """A header value an authenticator wrote: the whole value and, after a scheme word
    (``Bearer``, ``token``...), the credential itself."""
    text = str(value)
    scheme, _, credential = text.partition(" ")
    masker.add(text, *([credential] if credential and scheme.isalpha() else []))


class _Masking(AuthBase):
    """The component as the ``requests`` auth of each request: every header it writes or
    changes is registered with the masker before the request leaves (an authenticator that
    rotates or refreshes its tokens hands out a new one at any request)."""

    def __init__(self, component: Any, masker: SecretMasker, scope: ConnectorScope) -> None:
        self.component = component
        self.masker = masker
        self.scope = scope

    @scoped
    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        before = dict(request.headers)
        try:
            request = self.component(request)
        except Exception as error:  # the connector's own code may raise anything
            raise values.failure(self.component, error) from None
        for name, value in request.headers.items():
            if before.get(name) != value:
                _register_credential(self.masker, value)
        return request


class ReferenceAuthenticator(Authenticator):
    """A custom authenticator (a ``requests.auth.AuthBase``, usually a DeclarativeAuthenticator)."""

    def __init__(self, component: Any, masker: SecretMasker, scope: ConnectorScope) -> None:
        self.component = component
        self.masker = masker
        self.scope = scope

    @property
    def requests_auth(self) -> Any:
        """What the requester attaches to each request (``Request(auth=...)``)."""
        return (
            _Masking(self.component, self.masker, self.scope) if callable(self.component) else None
        )

    @scoped
    def options(self) -> RequestOptions:
        component = self.component
        headers = dict(_call(component, "get_auth_header") or {})
        for value in headers.values():
            _register_credential(self.masker, value)
        params = dict(_call(component, "get_request_params") or {})
        self.masker.add(*(str(v) for v in params.values() if v))
        body_data = _call(component, "get_request_body_data") or None
        body_json = _call(component, "get_request_body_json") or None
        # Headers go through requests_auth when there is one, so they are not sent twice.
        return RequestOptions(
            params=params,
            headers={} if self.requests_auth is not None else headers,
            body_data=body_data,
            body_json=body_json,
        )


def _call(component: Any, method: str) -> Any:
    function = getattr(component, method, None)
    if not callable(function):
        return None
    try:
        return function()
    except Exception as error:  # the connector's own code may raise anything
        raise values.failure(component, error) from None


class ReferenceBackoff(BackoffStrategy):
    """A custom ``BackoffStrategy``: ``backoff_time(response_or_exception, attempt_count)``."""

    def __init__(self, component: Any, scope: ConnectorScope) -> None:
        self.component = component
        self.scope = scope

    @scoped
    def backoff(self, outcome: Outcome, attempt: int) -> float | None:
        wait = self.component.backoff_time(
            response_or_exception=outcome.response
            if outcome.response is not None
            else outcome.error,
            attempt_count=attempt,
        )
        return None if wait is None else float(wait)


class ReferenceErrorHandler(ErrorHandler):
    """A custom ``ErrorHandler``: ``interpret_response`` decides, its backoff strategies wait
    (the default wait when none of them answers)."""

    def __init__(self, component: Any, config: Mapping[str, Any], scope: ConnectorScope) -> None:
        self.component = component
        self.scope = scope
        self._default = DefaultErrorHandler(config)
        retries = getattr(component, "max_retries", None)
        self.max_retries = 5 if retries is None else int(retries)

    @scoped
    def interpret(self, outcome: Outcome) -> Decision:
        subject = outcome.response if outcome.response is not None else outcome.error
        resolution = self.component.interpret_response(subject)
        action = getattr(resolution.response_action, "value", str(resolution.response_action))
        failure = getattr(resolution.failure_type, "value", None) or "system_error"
        return Decision(
            action if action in ACTIONS else RETRY,
            resolution.error_message or None,
            failure_type=str(failure),
        )

    @scoped
    def backoff(self, outcome: Outcome, attempt: int) -> float:
        subject = outcome.response if outcome.response is not None else outcome.error
        for strategy in getattr(self.component, "backoff_strategies", None) or ():
            wait = strategy.backoff_time(response_or_exception=subject, attempt_count=attempt)
            if wait is not None:
                return float(wait)
        return self._default.backoff(outcome, attempt)
