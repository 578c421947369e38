"""Exception types of the engine, each written for the person who has to act on it.

Every error a user can cause carries enough context to fix it without reading our code: manifest
errors name the component path, the file and line, what was expected and a close match for typos;
read errors name the stream, slice, request and status. None of them ever contains a secret value.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class EngineError(Exception):
    """Base class of everything the engine raises on purpose."""

    failure_type = "system_error"


class ManifestError(EngineError):
    """A manifest that cannot be loaded, resolved, validated or built.

    The message is assembled from its parts so that every error reads the same way:
    ``<file>:<line>: streams[2].retriever.paginator: <problem>. Expected <x>. Did you mean 'y'?``
    """

    failure_type = "config_error"

    def __init__(
        self,
        problem: str,
        *,
        path: str = "",
        file: str | None = None,
        line: int | None = None,
        expected: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = path
        self.file = file
        self.line = line
        self.expected = expected
        self.suggestion = suggestion
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        elif self.line:
            where = f"line {self.line}: "
        text = f"{where}{self.path or '<manifest>'}: {self.problem}"
        if self.expected:
            text += f". Expected {self.expected}"
        if self.suggestion:
            text += f". Did you mean {self.suggestion!r}?"
        return text if text.endswith((".", "?")) else text + "."


class UnsupportedComponentError(ManifestError):
    """A component the manifest asks for that this engine does not implement (yet)."""


class ConfigError(EngineError):
    """The connector config does not satisfy the manifest's spec."""

    failure_type = "config_error"


class ReadError(EngineError):
    """A request failed for good: retries exhausted, or the error handler said FAIL.

    The URL is stored without its query string values that may carry secrets; the message names
    stream, slice, method, URL, status and attempts so that a run log alone explains the failure.
    """

    def __init__(
        self,
        message: str,
        *,
        stream: str | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        url: str | None = None,
        status: int | None = None,
        attempts: int | None = None,
        failure_type: str = "system_error",
    ) -> None:
        self.reason = message
        self.stream = stream
        self.stream_slice = dict(stream_slice or {})
        self.url = url
        self.status = status
        self.attempts = attempts
        self.failure_type = failure_type
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [self.reason.rstrip(".")]
        if self.stream:
            parts.append(f"stream {self.stream!r}")
        if self.stream_slice:
            parts.append(f"slice {describe_slice(self.stream_slice)}")
        if self.url:
            parts.append(f"request {self.url}")
        if self.status is not None:
            parts.append(f"status {self.status}")
        if self.attempts:
            parts.append(f"after {self.attempts} attempt{'s' if self.attempts != 1 else ''}")
        return "; ".join(parts)

    def with_context(
        self,
        *,
        stream: str,
        stream_slice: Mapping[str, Any],
        mask: Callable[[str], str] | None = None,
    ) -> ReadError:
        """Return a copy that also names the stream and slice (added where they are known).

        ``mask`` (the source's secret masker) cleans what the copy says: a reason may quote a
        response body (a decoder's error) and a slice may hold values read from the API.
        """
        clean = mask or (lambda text: text)
        stream_slice = self.stream_slice or stream_slice
        return ReadError(
            clean(self.reason),
            stream=self.stream or stream,
            stream_slice={
                k: clean(v) if isinstance(v, str) else v for k, v in stream_slice.items()
            },
            url=clean(self.url) if self.url else self.url,
            status=self.status,
            attempts=self.attempts,
            failure_type=self.failure_type,
        )


def describe_slice(value: Mapping[str, Any]) -> str:
    """A slice as errors and warnings show it: ``{start_time='2024-01-01', ...}``."""
    shown = {k: v for k, v in value.items() if k not in ("parent_slice",)}
    return "{" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + "}"


def closest(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate a typo most likely meant (``PageIncremnt`` -> ``PageIncrement``), if any."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def failure_text(error: BaseException) -> str:
    """What a failure says to people: an engine error's own text; anything else is a surprise,
    so its type comes first. (Callers mask the text: it may quote a secret.)"""
    if isinstance(error, EngineError):
        return str(error)
    return f"unexpected {type(error).__name__}: {error}"
