"""A programmable REST API on 127.0.0.1 for tests that need a real server and real sockets.

Tests take the ``api_server`` fixture (tests/conftest.py) or use ``with ApiServer() as server:``,
register resources and behaviours, then point a manifest at ``server.url``::

    from support.api_server import BearerAuth, DateFilter, Pagination, Response

    server.add_collection("/items", records, pagination=Pagination("page", page_size=2))
    server.add_collection("/projects/{id}/events", {1: events_of_1, 2: events_of_2},
                          date_filter=DateFilter("updated_at"), auth=BearerAuth("t0ken"))
    server.add_route("POST", "/echo", lambda request: Response(200, request.json))
    server.fail_next("/items", Response.rate_limited(1), Response(503), Response(fault="drop"))
    server.set_fault_rate(0.2, Response(502), Response(fault="truncate", body={"x": 1}), seed=7)
    issuer = server.add_oauth_token_endpoint("/oauth/token", client_id="id", client_secret="s",
                                             refresh_token="r")
    server.add_collection("/private", records, auth=BearerAuth(issuer))
    ...
    assert [r.param("page") for r in server.requests] == [None, "2"]

The public surface, all importable from this module:

- `ApiServer`: ``url``, ``requests`` (every `RecordedRequest`, oldest first), ``add_route``,
  ``add_collection``, ``add_oauth_token_endpoint``, ``add_session_login``, ``fail_next``,
  ``set_fault_rate``, ``clear_requests``, ``reset``; a context manager that starts and stops it.
- `Response` (status, body, headers, delay, fault: ``reset`` / ``truncate`` / ``hang`` /
  ``drop``; ``Response.rate_limited``, ``Response.html``) and `RecordedRequest` (method, path,
  query, headers, body, json, form, path_params, connection, timestamp).
- `Pagination` (styles none, page, offset, cursor, link, next_url) and `DateFilter` settings for
  collections; `ApiKeyAuth`, `BearerAuth`, `BasicAuth` and the `TokenIssuer` that the token
  endpoints return.

Paths are templates: ``{name}`` matches one path segment and lands in
``RecordedRequest.path_params``. Faults (``fail_next`` first, then ``set_fault_rate``) take
precedence over routes and authentication, as a gateway in front of an API would. The server speaks
HTTP/1.1 with keep-alive and always sends ``Content-Length`` (request bodies must carry one too,
as ``requests`` does); each connection gets its own thread, so a slow handler never blocks another
client. It logs nothing; an exception raised while handling a request is answered with a 500 and
re-raised as `HandlerError` when the server stops, so a broken test handler cannot go unnoticed.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import traceback
from collections.abc import Callable, Collection, Mapping
from types import TracebackType
from urllib.parse import unquote

from .api_auth import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    OAuthTokenEndpoint,
    SessionLoginEndpoint,
    TokenIssuer,
    unauthorized,
)
from .api_collections import (
    DateFilter,
    Pagination,
    PaginationStyle,
    RecordCollection,
    RecordSource,
)
from .api_faults import FaultPlan, compile_path_template
from .api_messages import RecordedRequest, Response, json_error
from .api_transport import HttpTransport

__all__ = [
    "ApiKeyAuth",
    "ApiServer",
    "BasicAuth",
    "BearerAuth",
    "DateFilter",
    "HandlerError",
    "Pagination",
    "RecordedRequest",
    "Response",
    "TokenIssuer",
]

Handler = Callable[[RecordedRequest], Response]


class HandlerError(Exception):
    """Handling a request raised; the client got a 500, the test gets the traceback."""


@dataclasses.dataclass(frozen=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: Auth | None


class ApiServer:
    """A REST API on a free 127.0.0.1 port, served from background threads (see the module doc).

    ``hang_seconds`` bounds the ``hang`` fault; stopping the server cuts it short.
    """

    def __init__(self, *, hang_seconds: float = 10.0) -> None:
        self._hang_seconds = hang_seconds
        self._lock = threading.Lock()
        self._routes: list[_Route] = []
        self._requests: list[RecordedRequest] = []
        self._faults = FaultPlan()
        self._handler_errors: list[str] = []
        self._transport: HttpTransport | None = None

    # lifecycle

    def start(self) -> ApiServer:
        if self._transport is not None:
            raise RuntimeError("the API server is already running")
        self._transport = HttpTransport(self._respond, self._handler_failed, self._hang_seconds)
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and wait for every server thread to end."""
        if self._transport is not None:
            self._transport.stop()
            self._transport = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None and self._handler_errors:
            raise HandlerError("handling a request raised:\n" + "\n".join(self._handler_errors))

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        if self._transport is None:
            raise RuntimeError("the API server is not running; call start() first")
        return f"http://127.0.0.1:{self._transport.server_port}"

    # what happened

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Forget routes, faults and recorded requests; the server keeps running on its port."""
        self._faults.clear()
        with self._lock:
            self._routes.clear()
            self._requests.clear()

    # behaviour

    def add_route(
        self, method: str, path: str, handler: Handler, *, auth: Auth | None = None
    ) -> None:
        """Answer ``method path`` with ``handler(request)``; re-adding a route replaces it."""
        route = _Route(method.upper(), path, compile_path_template(path), handler, auth)
        with self._lock:
            self._routes = [
                r for r in self._routes if (r.method, r.template) != (route.method, path)
            ]
            self._routes.append(route)

    def add_collection(
        self,
        path: str,
        records: RecordSource,
        *,
        pagination: Pagination | PaginationStyle = "none",
        records_key: str | None = "data",
        auth: Auth | None = None,
        date_filter: DateFilter | None = None,
        filter_fields: Collection[str] = (),
    ) -> None:
        """Serve ``records`` on GET ``path`` as ``{records_key: [...]}`` (a bare list if None).

        ``filter_fields`` names record fields that a query parameter of the same name filters on
        (equality of the text forms). Records are read at request time, so appending to the list
        passed in makes new records appear.
        """
        paging = Pagination(pagination) if isinstance(pagination, str) else pagination
        collection = RecordCollection(
            records, self.url, paging, records_key, date_filter, tuple(filter_fields)
        )
        self.add_route("GET", path, collection, auth=auth)

    def add_oauth_token_endpoint(
        self,
        path: str,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str | None = None,
        access_token: str = "access-token",
        expires_in: float | None = 3600,
    ) -> TokenIssuer:
        """A POST token endpoint issuing ``<access_token>-<n>`` valid for ``expires_in`` seconds.

        Protect collections with ``BearerAuth(issuer)`` using the returned issuer. Without a
        ``refresh_token`` only the client_credentials grant succeeds.
        """
        issuer = TokenIssuer(access_token, expires_in)
        endpoint = OAuthTokenEndpoint(client_id, client_secret, refresh_token, issuer)
        self.add_route("POST", path, endpoint)
        return issuer

    def add_session_login(
        self,
        path: str,
        credentials: Mapping[str, str],
        *,
        token_key: str = "token",
        token_prefix: str = "session",
        expires_in: float | None = None,
    ) -> TokenIssuer:
        """A POST login endpoint: a JSON body containing ``credentials`` gets a session token.

        Use the returned issuer as the key of an auth, e.g. ``ApiKeyAuth(issuer, header=...)``.
        """
        issuer = TokenIssuer(token_prefix, expires_in)
        self.add_route("POST", path, SessionLoginEndpoint(credentials, token_key, issuer))
        return issuer

    def fail_next(self, path: str, *responses: Response) -> None:
        """Answer the next requests matching ``path`` (a template) with ``responses``, in order."""
        self._faults.queue(path, responses)

    def set_fault_rate(
        self,
        rate: float,
        *responses: Response,
        seed: int = 0,
        path: str | None = None,
        max_in_a_row: int | None = None,
    ) -> None:
        """Answer a fraction ``rate`` of requests (to ``path`` only, if given) with one of
        ``responses``, drawn by a generator seeded with ``seed``; a rate of 0 turns this off.

        ``max_in_a_row`` bounds the faults served in a row to one request target (method, path
        and query), so a client that retries that many times is guaranteed to get through.
        """
        self._faults.set_rate(rate, responses, seed=seed, path=path, max_in_a_row=max_in_a_row)

    # request handling (called from the connection threads)

    def _respond(self, request: RecordedRequest) -> Response:
        with self._lock:
            route, params = self._route_for(request.method, request.path)
            request = dataclasses.replace(request, path_params=params)
            self._requests.append(request)
        fault = self._faults.next_fault(request)
        if fault is not None:
            return fault
        if route is None:
            return json_error(404, "not_found", f"no route for {request.method} {request.path}")
        if route.auth is not None and not route.auth.admits(request):
            return unauthorized(route.auth)
        try:
            response = route.handler(request)
        except Exception:
            self._handler_failed(traceback.format_exc())
            return json_error(500, "internal_error", "the test's route handler raised")
        if not isinstance(response, Response):
            self._handler_failed(f"{route.method} {route.template} returned {response!r}")
            return json_error(500, "internal_error", "the route handler returned no Response")
        return response

    def _route_for(self, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match and route.method == method:
                return route, {name: unquote(value) for name, value in match.groupdict().items()}
        return None, {}

    def _handler_failed(self, error: str) -> None:
        with self._lock:
            self._handler_errors.append(error)
