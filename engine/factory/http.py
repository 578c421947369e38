"""Builders for requesters and authenticators (what answers come back to: factory.responses)."""

from __future__ import annotations

from typing import Any

from engine.durations import parse_duration
from engine.factory.context import BuildContext, builds, named_behaviour
from engine.factory.credentials import (
    config_values_read,
    register_request_options,
    register_template,
)
from engine.http import auth, decoders
from engine.http.options import RequestOption, check_inject_into
from engine.http.requester import PATH_JOINS, HttpRequester


@builds("HttpRequester")
def requester(
    ctx: BuildContext, d: dict, path: str, decoder: Any = None, *, login: bool = False
) -> HttpRequester:
    method = str(d.get("http_method") or "GET").upper()
    if method not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
        raise ctx.error(
            f"unknown http_method {method!r}", d, "http_method", path, expected="GET or POST"
        )
    if d.get("url") is None and d.get("url_base") is None:
        raise ctx.error(
            "the requester has neither url nor url_base",
            d,
            None,
            path,
            expected="url_base (with path) or url",
        )
    _no_query_properties(ctx, d, path)
    _http_scheme(ctx, d, path)
    body_data, body_json = _request_body(ctx, d, path)
    register_request_options(ctx, d, login=login)
    return HttpRequester(
        config=ctx.config,
        client=ctx.client,
        authenticator=ctx.build(
            d.get("authenticator") or {"type": "NoAuth"}, f"{path}.authenticator"
        ),
        error_handler=ctx.build(
            d.get("error_handler") or {"type": "DefaultErrorHandler"}, f"{path}.error_handler"
        ),
        decoder=decoder or decoders.decode_json,
        method=method,
        url=ctx.string(d, "url", path),
        url_base=ctx.string(d, "url_base", path),
        path=ctx.string(d, "path", path),
        params=ctx.mapping(d, "request_parameters", path),
        headers=ctx.mapping(d, "request_headers", path),
        body_data=body_data,
        body_json=body_json,
        path_join=named_behaviour(ctx, d, "path_join", path, PATH_JOINS, "below_base"),
        use_cache=bool(d.get("use_cache")),
        templates_read_state=bool(d.get("templates_read_state")),
    )


def _no_query_properties(ctx: BuildContext, d: dict, path: str) -> None:
    """Query properties drive a SimpleRetriever's request loop: elsewhere nothing reads them."""
    parameters = d.get("request_parameters")
    held = [
        key
        for key, value in (parameters.items() if isinstance(parameters, dict) else ())
        if isinstance(value, dict) and value.get("type") == "QueryProperties"
    ]
    for key in held:
        raise ctx.error(
            "QueryProperties only work in the requester of a SimpleRetriever",
            d,
            "request_parameters",
            f"{path}.request_parameters.{key}",
        )


def _http_scheme(ctx: BuildContext, d: dict, path: str) -> None:
    """A url_base (or url) the manifest writes must be HTTP(S). One filled in from the config
    or a slice is checked when it is sent (requests refuses other schemes; the error is masked,
    since a config value may hold a secret)."""
    for key in ("url_base", "url"):
        template = ctx.string(d, key, path)
        if template is None or not template.is_constant or not template.raw:
            continue
        value = template.raw.strip()
        scheme = value.split(":", 1)[0].lower() if "://" in value else ""
        if scheme not in ("http", "https"):
            shown = f"scheme {scheme!r}" if scheme else "no scheme"
            raise ctx.error(
                f"{key} is not an http or https URL ({shown})",
                d,
                key,
                path,
                expected="a URL such as https://api.example.com/v1",
            )


def _request_body(ctx: BuildContext, d: dict, path: str) -> tuple[Any, Any]:
    body = d.get("request_body")
    if body is not None:
        if d.get("request_body_data") or d.get("request_body_json"):
            raise ctx.error(
                "request_body cannot be combined with request_body_data/json",
                d,
                "request_body",
                path,
            )
        holder = {"value": body.get("value"), "$parameters": d.get("$parameters")}
        if body["type"] in ("RequestBodyJsonObject", "RequestBodyGraphQL"):
            return None, ctx.mapping(holder, "value", f"{path}.request_body", nested=True)
        return ctx.mapping(holder, "value", f"{path}.request_body"), None
    if d.get("request_body_data") and d.get("request_body_json"):
        raise ctx.error(
            "request_body_data and request_body_json are both set",
            d,
            "request_body_json",
            path,
            expected="at most one request body",
        )
    return ctx.mapping(d, "request_body_data", path), ctx.mapping(
        d, "request_body_json", path, nested=True
    )


# -- authenticators ------------------------------------------------------------------------------


def _secret(ctx: BuildContext, d: dict, key: str, path: str) -> str:
    value = ctx.constant(d, key, path, default="")
    text = "" if value is None else str(value)
    raw = d.get(key)
    ctx.masker.add(text, *(config_values_read(raw, ctx.config) if isinstance(raw, str) else ()))
    return text


@builds("NoAuth")
def no_auth(ctx: BuildContext, d: dict, path: str) -> auth.Authenticator:
    return auth.NoAuth()


@builds("ApiKeyAuthenticator")
def api_key(ctx: BuildContext, d: dict, path: str) -> auth.Authenticator:
    token = _secret(ctx, d, "api_token", path)
    option = ctx.optional(d.get("inject_into"), f"{path}.inject_into")
    header = ctx.constant(d, "header", path)
    if option is None and not header:
        raise ctx.error("ApiKeyAuthenticator needs header or inject_into", d, None, path)
    return auth.api_key(token, str(header) if header else None, option)


@builds("BearerAuthenticator")
def bearer(ctx: BuildContext, d: dict, path: str) -> auth.Authenticator:
    return auth.bearer(_secret(ctx, d, "api_token", path))


@builds("BasicHttpAuthenticator")
def basic(ctx: BuildContext, d: dict, path: str) -> auth.Authenticator:
    username = _secret(ctx, d, "username", path)
    password = _secret(ctx, d, "password", path)
    ctx.masker.add_basic(username, password)
    return auth.basic(username, password)


@builds("OAuthAuthenticator")
def oauth(ctx: BuildContext, d: dict, path: str) -> auth.Authenticator:
    grant_type = str(ctx.constant(d, "grant_type", path, "refresh_token"))
    body: dict[str, Any] = {
        str(d.get("grant_type_name") or "grant_type"): grant_type,
        str(d.get("client_id_name") or "client_id"): _secret(ctx, d, "client_id", path),
        str(d.get("client_secret_name") or "client_secret"): _secret(ctx, d, "client_secret", path),
    }
    if grant_type == "refresh_token":
        body[str(d.get("refresh_token_name") or "refresh_token")] = _secret(
            ctx, d, "refresh_token", path
        )
    if d.get("scopes"):
        body["scopes"] = d["scopes"]
    for field in ("refresh_request_body", "refresh_request_headers"):
        options = d.get(field)
        for value in options.values() if isinstance(options, dict) else ():
            if isinstance(value, str) and "config" in value:
                register_template(ctx, value, d.get("$parameters"))
    extra = ctx.mapping(d, "refresh_request_body", path)
    for key, value in (extra.eval(ctx.config) if extra else {}).items():
        body.setdefault(key, value)
    headers_template = ctx.mapping(d, "refresh_request_headers", path)
    headers = {
        k: str(v)
        for k, v in (headers_template.eval(ctx.config) if headers_template else {}).items()
    }
    if "Authorization" in headers:
        body = {k: v for k, v in body.items() if k not in ("client_id", "client_secret")}
    endpoint = ctx.constant(d, "token_refresh_endpoint", path)
    static = _secret(ctx, d, "access_token_value", path) or None
    if not endpoint and not static:
        raise ctx.error("OAuthAuthenticator needs token_refresh_endpoint", d, None, path)
    return auth.OAuth(
        client=ctx.client,
        masker=ctx.masker,
        token_refresh_endpoint=str(endpoint or ""),
        body=body,
        headers=headers,
        access_token_name=str(ctx.constant(d, "access_token_name", path, "access_token")),
        expires_in_name=str(ctx.constant(d, "expires_in_name", path, "expires_in")),
        expiry_date_format=d.get("token_expiry_date_format"),
        as_query_params=bool(d.get("send_refresh_request_as_query_params")),
        static_token=static,
    )


@builds("SessionTokenAuthenticator")
def session_token(ctx: BuildContext, d: dict, path: str) -> auth.Authenticator:
    login = requester(ctx, d["login_requester"], f"{path}.login_requester", login=True)
    from engine.http.client import RequestStats
    from engine.http.options import EMPTY

    def do_login() -> Any:
        page = login.send(
            stream_slice={},
            next_page_token=None,
            extra=EMPTY,
            url_override=None,
            stats=RequestStats(),
        )
        return page.body

    how = d["request_authentication"]
    if how["type"] == "SessionTokenRequestBearerAuthenticator":

        def apply(token: str) -> Any:
            return auth.bearer(token).options()
    else:
        option = ctx.build(how["inject_into"], f"{path}.request_authentication.inject_into")

        def apply(token: str) -> Any:
            return option.options_for(token)

    expiration = d.get("expiration_duration")
    return auth.SessionToken(
        login=do_login,
        token_path=[str(p) for p in d["session_token_path"]],
        apply=apply,
        masker=ctx.masker,
        expires_after=parse_duration(expiration).total_seconds_estimate() if expiration else None,
    )


@builds("SelectiveAuthenticator")
def selective(ctx: BuildContext, d: dict, path: str) -> auth.Authenticator:
    """Only the chosen authenticator is built: the others' templates read config keys this
    config need not have (the reference evaluates an authenticator's templates only when it
    authenticates a request)."""
    choices = d["authenticators"]
    chosen = auth.selected_by_config(
        ctx.config, [str(p) for p in d["authenticator_selection_path"]], choices
    )
    return ctx.build(choices[chosen], f"{path}.authenticators.{chosen}")


@builds("RequestOption")
def request_option(ctx: BuildContext, d: dict, path: str) -> RequestOption:
    inject_into = check_inject_into(d.get("inject_into"), path)
    name = ctx.constant(d, "field_name", path, "")
    field_path = tuple(str(p) for p in d.get("field_path") or ())
    return RequestOption(inject_into, "" if name is None else str(name), field_path)
