"""What one attempt at a request gave, as error handlers and backoff strategies see it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

ERROR_MESSAGE_KEYS = ("message", "messages", "error", "errors", "failures", "failure", "detail")


class Outcome:
    """One attempt's result as the handlers see it: a response, or the exception instead."""

    __slots__ = ("_body", "error", "response")

    def __init__(self, response: requests.Response | None, error: Exception | None = None) -> None:
        self.response = response
        self.error = error
        self._body: Any = ...

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    @property
    def body(self) -> Any:
        """The JSON body, or ``{}`` when there is none (what predicates see)."""
        if self._body is ...:
            self._body = {}
            if self.response is not None and self.response.content:
                try:
                    self._body = self.response.json()
                except ValueError:
                    self._body = {}
        return self._body

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers if self.response is not None else {}

    def error_message(self) -> str:
        """The API's own error text, found under the usual keys of a JSON error body."""
        found = find_message(self.body)
        if found:
            return found
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error}"
        if self.response is not None:
            return (self.response.reason or "").strip()
        return ""


def find_message(body: Any) -> str:
    """The text under the usual error keys of a JSON body (``""`` when it has none)."""
    if isinstance(body, dict):
        for key in ERROR_MESSAGE_KEYS:
            if body.get(key):
                return find_message(body[key]) or str(body[key])
        return ""
    if isinstance(body, list):
        return ", ".join(filter(None, (find_message(item) or str(item) for item in body)))
    if isinstance(body, str):
        return body
    return ""
