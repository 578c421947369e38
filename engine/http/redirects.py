"""Where credentials may go when a request is redirected, or sent on by the API's own links.

``requests`` follows redirects by itself and drops only ``Authorization`` when the host changes:
an ``X-API-Key`` header, a secret query parameter or a token in a 307's re-sent form body would
follow a redirect to any host. :class:`GuardedSession` checks every hop instead:

- a hop to a scheme other than ``http``/``https``, or from ``https`` down to ``http``, is refused;
- a hop to another origin (scheme, host or port) loses every header that carries a secret or is
  named like a credential (``Authorization``, ``X-API-Key``, ``Cookie`` ...) and every query
  parameter whose value holds a secret; a body that holds one is never re-sent there.

A redirect's own body is useless, yet ``requests`` reads all of it before following: at most
:data:`REDIRECT_BODY_BYTES` of it are read here, and a longer one costs its connection instead
of the process's memory.

What counts as a secret is what the source's :class:`~engine.secrets.SecretMasker` knows: config
values the spec marks secret, every value the manifest sends as a credential, and tokens learned
at run time. OAuth and session-token requests use the same session, so the rules hold for them.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit, urlunsplit

import requests
import urllib3

from engine.secrets import SENSITIVE_NAME, SecretMasker

HTTP_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
REDIRECT_BODY_BYTES = 64 * 1024


class RedirectRefused(requests.RequestException):
    """A redirect that would lead a request somewhere it must not go; never followed."""


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in; ValueError if malformed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def leaves_origin(source_url: str, target_url: str) -> bool:
    """Whether going from ``source_url`` to ``target_url`` changes scheme, host or port."""
    try:
        return origin(source_url) != origin(target_url)
    except ValueError:
        return True


class GuardedSession(requests.Session):
    """A ``requests.Session`` whose redirects follow the rules of this module."""

    def __init__(self, masker: SecretMasker) -> None:
        super().__init__()
        self.masker = masker
        guard_redirects(self, masker)


def guard_redirects(session: requests.Session, masker: SecretMasker) -> None:
    """Hold ``session``'s redirects to the rules of this module: also a session this engine
    did not make (airbyte-cdk's, in a stream the reference runs), whatever its class."""
    rebuild_auth = session.rebuild_auth
    redirect_target = session.get_redirect_target

    def checked_rebuild_auth(
        prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        # Called by requests for every hop, with the next request already aimed at its target.
        check_hop(response.url, prepared_request, masker)
        rebuild_auth(prepared_request, response)

    def bounded_redirect_target(response: requests.Response) -> str | None:
        # Called by requests before it reads a redirect's body to free the connection.
        target = redirect_target(response)
        if target and not response._content_consumed:
            _discard_body(response)
        return target

    session.rebuild_auth = checked_rebuild_auth  # type: ignore[method-assign]
    session.get_redirect_target = bounded_redirect_target  # type: ignore[method-assign]


def _discard_body(response: requests.Response) -> None:
    """Read a short body off the connection (kept alive), or drop the connection."""
    try:
        read = response.raw.read(REDIRECT_BODY_BYTES + 1, decode_content=False)
        whole = len(read) <= REDIRECT_BODY_BYTES
    except (urllib3.exceptions.HTTPError, OSError):  # a broken body: the connection goes too
        whole = False
    if not whole:
        response.raw.close()
    response._content = b""
    response._content_consumed = True


def check_hop(source_url: str, request: requests.PreparedRequest, masker: SecretMasker) -> None:
    """Make ``request`` (a redirect from ``source_url``) safe to send, or raise RedirectRefused."""
    target = request.url or ""
    scheme = urlsplit(target).scheme.lower()
    if scheme not in HTTP_SCHEMES:
        raise _refused(masker, target, f"its scheme {scheme or '(none)'!r} is not HTTP")
    if urlsplit(source_url).scheme.lower() == "https" and scheme == "http":
        raise _refused(masker, target, "it leaves HTTPS for plain HTTP")
    if not leaves_origin(source_url, target):
        return
    problem = withhold_credentials(request, masker)
    if problem:
        raise _refused(masker, target, f"{problem}, and it leads to another origin")


def withhold_credentials(request: requests.PreparedRequest, masker: SecretMasker) -> str | None:
    """Make ``request`` fit for another origin: its credentials stripped (in place).

    Returns why it still cannot go there (a secret in its URL or body), or None.
    """
    strip_credentials(request, masker)
    if masker.reveals(request.url or ""):
        return "its URL holds a secret"
    body = request.body
    text = body.decode("latin-1") if isinstance(body, bytes) else body
    if isinstance(text, str) and masker.reveals(unquote_plus(text)):
        return "its body holds credentials"
    return None


def strip_credentials(request: requests.PreparedRequest, masker: SecretMasker) -> None:
    """Drop the headers and query parameters that carry credentials, in place."""
    for name, value in list(request.headers.items()):
        if (
            name.lower() in _CREDENTIAL_HEADERS
            or SENSITIVE_NAME.search(name)
            or masker.reveals(str(value))
        ):
            del request.headers[name]
    parts = urlsplit(request.url or "")
    if parts.query:
        # Only the offending pieces go; the others keep their exact encoding (signed URLs).
        kept = [
            piece
            for piece in parts.query.split("&")
            if not masker.reveals(unquote_plus(piece.partition("=")[2]))
        ]
        request.url = urlunsplit(parts._replace(query="&".join(kept)))


def _refused(masker: SecretMasker, target: str, reason: str) -> RedirectRefused:
    return RedirectRefused(f"a redirect to {masker.mask_url(target)} was not followed: {reason}")
