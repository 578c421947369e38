"""One exchange with an API, bounded: sent, redirected and read within limits.

:class:`BoundedTransport` holds one ``requests.Session`` (pooled, kept-alive connections whose
redirects never carry credentials to another origin), the connect/read timeout, a deadline for a
whole response (connect, headers and body), the response size limit and the secret masker that
words its errors. It sends a request once; retrying is the client's (:mod:`engine.http.client`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from engine.errors import ReadError
from engine.http.deadline import DeadlineAdapter, DeadlineWatch
from engine.http.redirects import GuardedSession, RedirectRefused, origin
from engine.http.timeouts import DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT
from engine.secrets import SecretMasker

MAX_REDIRECTS = 5
_READ_CHUNK_BYTES = 256 * 1024
TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
"""Errors of the exchange itself (the API may answer next time), not of the request."""


@dataclass
class BoundedTransport:
    """Sends a request once, within the timeout, the deadline and the size limit; its errors
    never show a secret."""

    masker: SecretMasker = field(default_factory=SecretMasker)
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    pool_size: int = 16
    verify_tls: bool = True
    session: requests.Session = field(init=False)
    home_origins: set[tuple[str, str, int | None]] = field(default_factory=set, init=False)
    """Origins the manifest and config send requests to (see :meth:`add_home`)."""

    def __post_init__(self) -> None:
        self._proxies: dict[tuple[str, str], dict[str, str]] = {}
        self._deadlines = DeadlineWatch()
        self.session = GuardedSession(self.masker)
        self.session.verify = self.verify_tls
        self.session.max_redirects = MAX_REDIRECTS
        adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=max(self.pool_size, 4))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def add_home(self, url: str) -> None:
        """Note an origin the manifest and config themselves send requests to."""
        with contextlib.suppress(ValueError):
            self.home_origins.add(origin(url))

    def is_home(self, url: str) -> bool:
        try:
            return origin(url) in self.home_origins
        except ValueError:
            return False

    def close(self) -> None:
        self._deadlines.close()
        self.session.close()

    def fetch(self, method: str, url: str, **options: Any) -> requests.Response:
        """One request outside any stream (an OAuth token), under the same timeout, deadline
        and size limit as every other; transport errors are ``requests`` exceptions."""
        prepared = self.session.prepare_request(requests.Request(method, url, **options))
        return self._send_bounded(prepared)

    def _send_bounded(self, prepared: requests.PreparedRequest) -> requests.Response:
        """Send and read the whole body within the deadline (``requests.Timeout`` after it)."""
        return self.bounded(
            self.session.send,
            prepared,
            timeout=self.timeout,
            allow_redirects=True,
            proxies=self._proxies_for(prepared.url or ""),
        )

    def bounded(
        self,
        send: Callable[..., requests.Response],
        prepared: requests.PreparedRequest,
        **options: Any,
    ) -> requests.Response:
        """``send(prepared, stream=True, **options)``, its redirects and its whole body within
        the deadline and the size limit: also the ``send`` of a session this engine does not
        drive (airbyte-cdk's, :mod:`engine.custom.streams`), if it has a
        :class:`~engine.http.deadline.DeadlineAdapter` mounted."""
        with self._deadlines.request(self.deadline) as deadline:
            try:
                response = send(prepared, stream=True, **options)
                self._read_body(response, prepared)
            except TRANSPORT_ERRORS:
                if not deadline.expired:
                    raise
            if deadline.expired:
                raise requests.Timeout(
                    f"the response took longer than the deadline of {self.deadline:g} s "
                    "(connect, headers and body together)"
                )
        return response

    def unsendable(self, error: Exception, method: str | None, url: str | None) -> ReadError:
        """The error for a request that cannot be sent as built; its text masked.

        ``requests`` quotes the offending value in its messages (a header with a trailing
        newline, a URL with an unknown scheme), and that value may be a secret.
        """
        if isinstance(error, RedirectRefused):
            reason = str(error)
        else:
            reason = f"the request cannot be sent: {type(error).__name__}: {error}"
        return ReadError(
            self.masker.mask(reason)[:500],
            url=self.masker.request_label(method, url),
            failure_type="config_error",
        )

    def _proxies_for(self, url: str) -> dict[str, str]:
        """Proxy settings from the environment, resolved once per host.

        ``Session.send`` would otherwise look them up again for every request, which costs
        more than parsing a page.
        """
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        proxies = self._proxies.get(key)
        if proxies is None:
            proxies = self.session.merge_environment_settings(url, {}, None, None, None)["proxies"]
            self._proxies[key] = proxies
        return proxies

    def _read_body(self, response: requests.Response, prepared: requests.PreparedRequest) -> None:
        """Read the body into ``response.content``, refusing one larger than the limit.

        The request is sent with ``stream=True`` so that an oversized body is refused after
        reading at most ``max_response_bytes`` (or none of it, when ``Content-Length`` already
        says so) instead of after buffering all of it. Errors while reading are transport errors.
        """
        limit = self.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            response.close()
            raise self._too_large(f"{int(declared):,} bytes (Content-Length)", response, prepared)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(_READ_CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise self._too_large(f"more than {limit:,} bytes", response, prepared)
                chunks.append(chunk)
        finally:
            response.close()
        response._content = b"".join(chunks)

    def _too_large(
        self, size: str, response: requests.Response, prepared: requests.PreparedRequest
    ) -> ReadError:
        return ReadError(
            f"the response is {size}, more than the limit of {self.max_response_bytes:,} bytes "
            "(--max-response-mib, max_response_mib)",
            url=self.masker.mask_url(prepared.url or ""),
            status=response.status_code,
        )
