"""Keeping secrets out of everything the engine says.

The source collects every secret it knows (config values the spec marks ``airbyte_secret``,
every value the manifest sends as a credential, tokens authenticators receive) into one
:class:`SecretMasker`; logs, errors and protocol messages pass their text through it.

A secret rarely appears only as itself: an exception quotes it with ``repr`` (``'k\\n'``), a URL
carries it percent-encoded, an API echoes it JSON-escaped, Basic auth sends it inside base64. The
masker registers those derived forms with each value, so each of them is masked too.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from engine.errors import EngineError, failure_text

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
        """Register secrets, each with the forms it takes in exception texts, URLs and bodies."""
        new = {
            form
            for value in values
            if value is not None
            for form in derived_forms(str(value))
            if len(form) >= _MIN_SECRET_LENGTH
        }
        with self._lock:
            if new - self._secrets:
                self._secrets |= new
                ordered = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def add_basic(self, username: str, password: str) -> None:
        """Basic auth credentials: each value, and the base64 text the header carries."""
        self.add(username, password, basic_token(username, password))

    def mask(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None and text else text

    @contextmanager
    def failures_masked(self) -> Iterator[None]:
        """An engine error raised inside passes as it is (masked where it was made); any other
        becomes an :class:`EngineError` with masked text and no chained cause, so no secret
        travels with it."""
        try:
            yield
        except EngineError:
            raise
        except Exception as error:
            raise EngineError(self.mask(failure_text(error))) from None

    def reveals(self, text: str) -> bool:
        """Whether ``text`` holds a registered secret (in any of its derived forms)."""
        pattern = self._pattern
        return bool(text) and pattern is not None and pattern.search(text) is not None

    def mask_url(self, url: str) -> str:
        """A URL fit for a log: sensitive query values and known secrets replaced."""
        try:
            parts = urlsplit(url)
        except ValueError:  # not a URL Python can split: its whole query goes
            return self.mask(url.split("?", 1)[0] + ("?" + MASK if "?" in url else ""))
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


def derived_forms(value: str) -> set[str]:
    """``value`` as exception texts, URLs and echoed bodies show it.

    Its surrounding whitespace trimmed, its ``repr`` and JSON-escaped forms (a key with a
    trailing newline appears as ``key\\n`` in a ``requests`` error) and its percent-encodings
    (``quote`` and ``quote_plus``, as query strings and form bodies carry it).
    """
    forms = set()
    for text in {value, value.strip()}:
        forms |= {text, repr(text)[1:-1], json.dumps(text)[1:-1]}
        forms |= {quote(text, safe=""), quote(text), quote_plus(text)}
    return forms


def basic_token(username: str, password: str) -> str:
    """What a Basic ``Authorization`` header carries after ``Basic ``."""
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


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
