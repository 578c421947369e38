"""HttpRequester: the URL, method, parameters, headers and body of a stream's requests.

Templates were compiled when the manifest was built; here they are only evaluated. The requester
merges its own options with those of the authenticator and of the caller (paginator, cursor,
router), then hands the request to the shared :class:`~engine.http.client.HttpClient`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

from engine.errors import EngineError, ReadError
from engine.http.auth import Authenticator
from engine.http.client import HttpClient, Page, RequestStats
from engine.http.decoders import Decoder
from engine.http.error_handling import ErrorHandler
from engine.http.options import EMPTY, RequestOptions
from engine.http.redirects import leaves_origin
from engine.templates.interpolation import InterpolatedString

# GET too: today's runtime sends a body with GET when a manifest asks for one (search APIs do).
BODY_METHODS = frozenset({"GET", "POST", "PUT", "PATCH"})


class _Evaluable:
    """Anything with ``eval(config, **context)``: interpolated strings and mappings."""

    def eval(self, config: Mapping[str, Any], /, **context: Any) -> Any: ...


def join_below_base(base: str, path: str) -> str:
    """Today's join: the path loses its leading slash and goes below the base (which gains a
    trailing one); an empty path leaves the base untouched."""
    path = path.lstrip("/")
    return urljoin(_with_trailing_slash(base), path) if path else base


def join_trimmed_path(base: str, path: str) -> str:
    """The 2022 runtime's join: the path loses leading and trailing slashes, and goes below
    the base (which gains a trailing one) even when empty."""
    return urljoin(_with_trailing_slash(base), path.strip("/"))


def _with_trailing_slash(base: str) -> str:
    return base if base.endswith("/") else base + "/"


PATH_JOINS = {"below_base": join_below_base, "trimmed_path": join_trimmed_path}
"""The joins by the name a normalised manifest gives in ``path_join``."""


@dataclass
class HttpRequester:
    config: Mapping[str, Any]
    client: HttpClient
    authenticator: Authenticator
    error_handler: ErrorHandler
    decoder: Decoder
    method: str = "GET"
    url: InterpolatedString | None = None
    url_base: InterpolatedString | None = None
    path: InterpolatedString | None = None
    params: _Evaluable | None = None
    headers: _Evaluable | None = None
    body_data: _Evaluable | None = None
    body_json: _Evaluable | None = None
    path_join: Callable[[str, str], str] = join_below_base
    """How url_base and path join (:data:`PATH_JOINS`)."""
    use_cache: bool = False
    """A parent stream's requester: its responses may be reused within a check or read."""
    templates_read_state: bool = False
    """The path, parameters, headers and bodies see ``stream_state`` (the 2022 runtime's rule;
    today's runtime hands no state to templates)."""

    def __post_init__(self) -> None:
        # Both computed once: they would otherwise be recomputed, identically, for every page.
        self._contributes_nothing = all(
            source is None for source in (self.params, self.headers, self.body_data, self.body_json)
        )
        self._constant_url = self._base_url({}) if self._url_is_constant() else None
        home = self.url_base if self.url is None else self.url
        if home is not None and not _may_hold_api_data(home):
            with contextlib.suppress(EngineError):
                self.client.add_home(home.eval_str(self.config))

    def _url_is_constant(self) -> bool:
        """No template in url / url_base / path (an empty string may render a default)."""
        parts = (self.url,) if self.url is not None else (self.url_base, self.path)
        # A path an API listed is checked per request (it must not leave url_base's origin).
        return all(
            part is None or (part.is_constant and part.raw and not part.is_data) for part in parts
        )

    def send(
        self,
        *,
        stream_slice: Mapping[str, Any],
        next_page_token: Mapping[str, Any] | None,
        extra: RequestOptions,
        url_override: str | None,
        stats: RequestStats,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Page:
        """One request; ``stream_state`` is the stream's state as it stands now, which the
        path and options see when :attr:`templates_read_state` is set."""
        context = {"stream_slice": stream_slice, "next_page_token": next_page_token}
        # Async jobs hand their requests extra variables (creation_response, download_target...)
        # on the slice, as today's runtime does.
        context.update(getattr(stream_slice, "extra_fields", None) or {})
        if self.templates_read_state:
            context["stream_state"] = dict(stream_state or {})
        url = self._url(context, url_override)
        # A url the API chose (a download link, say) leading to none of the manifest's origins
        # gets no credentials.
        foreign = (
            self.url is not None and _may_hold_api_data(self.url) and not self.client.is_home(url)
        )
        try:
            request = self._request(url, self.options(context).merge(extra), foreign)
        except EngineError:
            raise
        except ValueError as error:  # a malformed URL (which may hold a secret) and the like
            raise self.client.unsendable(error, self.method, url) from None
        return self.client.send(
            request,
            error_handler=self.error_handler,
            decode=self.decoder,
            stats=stats,
            cacheable=self.use_cache,
            foreign=foreign,
        )

    def _request(self, url: str, options: RequestOptions, foreign: bool) -> requests.Request:
        if not foreign:
            options = options.merge(self.authenticator.options())
        params = _without_params_already_in(url, options.params) if "?" in url else options.params
        request = requests.Request(
            self.method,
            url,
            params=params,
            headers=_str_headers(options.headers),
            auth=getattr(self.authenticator, "requests_auth", None),
        )
        if self.method in BODY_METHODS:
            if options.body_json is not None and options.body_data not in (None, {}):
                raise ValueError("a request cannot have both a JSON body and a form body")
            if options.body_json is not None:
                request.json = options.body_json
            elif options.body_data not in (None, {}):
                request.data = options.body_data
        return request

    def options(self, context: Mapping[str, Any]) -> RequestOptions:
        """The options this requester itself contributes (parameters, headers, bodies)."""
        if self._contributes_nothing:
            return EMPTY
        return RequestOptions(
            params=_mapping(self.params, self.config, context),
            headers=_mapping(self.headers, self.config, context),
            body_data=_body(self.body_data, self.config, context),
            body_json=_body(self.body_json, self.config, context),
        )

    def _url(self, context: Mapping[str, Any], url_override: str | None) -> str:
        base = self._constant_url
        if base is None:
            base = self._base_url(context)
        if url_override:
            url = urljoin(base if base.endswith("/") else base + "/", url_override)
            self._stay_on_origin(base, url, "the next-page URL the API returned")
            return url
        return base

    def _base_url(self, context: Mapping[str, Any]) -> str:
        if self.url is not None:
            base = str(self.url.eval_str(self.config, **context))
        else:
            base = self.url_base.eval_str(self.config, **context) if self.url_base else ""
            path = self.path.eval_str(self.config, **context) if self.path else ""
            joined = self.path_join(base, path)
            if self._path_may_hold_api_data():
                self._stay_on_origin(base, joined, "the path")
            base = joined
        return base

    def _path_may_hold_api_data(self) -> bool:
        """Whether the path reads API data: then it must not lead away from url_base's origin."""
        return self.path is not None and _may_hold_api_data(self.path)

    def _stay_on_origin(self, base: str, url: str, what: str) -> None:
        """API data may choose the path of a request, never another host for its credentials."""
        if urlsplit(base).netloc and leaves_origin(base, url):
            mask = self.client.masker.mask_url
            raise ReadError(
                f"{what} leads to {mask(url)}, away from the origin of {mask(base)}; "
                "values from an API never send a request to another host",
                url=self.client.masker.request_label(self.method, base),
            )


def _may_hold_api_data(part: InterpolatedString) -> bool:
    """Whether a URL part reads more than the manifest and config (records, slices, page
    tokens, job responses, values a dynamic stream listed)."""
    return part.is_data or not (part.is_constant or part.variables <= {"config"})


def _mapping(
    source: _Evaluable | None, config: Mapping[str, Any], context: Mapping[str, Any]
) -> dict:
    if source is None:
        return {}
    value = source.eval(config, **context)
    if isinstance(value, str):
        return dict(parse_qsl(value)) if value else {}
    return value or {}


def _body(source: _Evaluable | None, config: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
    if source is None:
        return None
    value = source.eval(config, **context)
    return value if value not in ("", None) else None


def _str_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in headers.items()}


def _without_params_already_in(url: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
    """A next-page URL often repeats the query; don't send a parameter twice."""
    query = urlsplit(url).query
    if not query or not params:
        return params
    present = dict(parse_qsl(query, keep_blank_values=True))
    return {k: v for k, v in params.items() if k not in present or str(present[k]) != str(v)}
