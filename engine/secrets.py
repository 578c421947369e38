"""Keeping secrets out of everything the engine says.

The source collects every secret it knows (config values the spec marks ``airbyte_secret``,
tokens authenticators render or receive, and values of sensitive query parameters) into one
:class:`SecretMasker`; logs, errors and protocol messages pass their text through it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "****"
SENSITIVE_NAME = re.compile(
    r"(pass|secret|token|key|auth|credential|signature|session|cookie|bearer)", re.IGNORECASE
)
_MIN_SECRET_LENGTH = 3


class SecretMasker:
    """Replaces every registered secret value in a text by ``****``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.add(*secrets)

    def add(self, *values: Any) -> None:
        new = {str(v) for v in values if v is not None and len(str(v)) >= _MIN_SECRET_LENGTH}
        with self._lock:
            if new - self._secrets:
                self._secrets |= new
                ordered = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def mask(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None and text else text

    def mask_url(self, url: str) -> str:
        """A URL fit for a log: sensitive query values and known secrets replaced."""
        parts = urlsplit(url)
        if parts.query:
            query = [
                (k, MASK if SENSITIVE_NAME.search(k) else v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
            ]
            parts = parts._replace(query=urlencode(query, safe="*"))
        if parts.password:
            parts = parts._replace(netloc=parts.netloc.replace(parts.password, MASK))
        return self.mask(urlunsplit(parts))

    def request_label(self, method: str | None, url: str | None) -> str:
        """``METHOD url`` with the URL masked: how errors name the request that failed."""
        return f"{method or ''} {self.mask_url(url or '')}"


def secret_config_values(spec: Mapping[str, Any] | None, config: Mapping[str, Any]) -> list[str]:
    """Config values at the places the spec marks ``airbyte_secret: true`` (nested too)."""
    found: list[str] = []

    def walk(schema: Any, value: Any) -> None:
        if not isinstance(schema, Mapping):
            return
        if schema.get("airbyte_secret") and isinstance(value, (str, int)):
            found.append(str(value))
        # A broken spec (properties that are not a mapping...) must not hide secrets or crash.
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            properties = {}
        if isinstance(value, Mapping):
            for key, sub in value.items():
                walk(properties.get(key, {}), sub)
                if SENSITIVE_NAME.search(str(key)) and isinstance(sub, str):
                    found.append(sub)
        for keyword in ("oneOf", "anyOf", "allOf"):
            options = schema.get(keyword)
            for option in options if isinstance(options, list) else ():
                walk(option, value)

    walk(spec or {}, config)
    return found
