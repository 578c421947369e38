"""Adapter for a custom requester (usually a subclass of the reference's ``HttpRequester``).

The component decides everything a request holds, through the same methods the reference's
``send_request`` calls (URL from ``_get_url``; headers, parameters and bodies from
``_request_headers`` / ``_request_params`` / ``_request_body_*``, which merge the paginator's
and slicer's options and the authenticator's); the request itself goes through this engine's
HTTP client, so timeouts, size limits, retries (by the component's error handler) and secret
masking stay ours. A call budget the component holds (``api_budget``) is waited on before
every attempt, as the reference's session waits on it: the factory here hands it none (the
manifest's ``api_budget`` is applied by this engine's transport), so it is one the component's
own code sets, as Mixpanel's requesters do (one call a minute).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from engine.custom import values
from engine.custom.http import ReferenceAuthenticator, ReferenceErrorHandler
from engine.custom.scope import ConnectorScope, scoped
from engine.http import decoders
from engine.http.client import HttpClient, Page, RequestStats
from engine.http.error_handling import DefaultErrorHandler
from engine.http.options import RequestOptions
from engine.http.requester import BODY_METHODS
from engine.secrets import SecretMasker


class ReferenceRequester:
    def __init__(
        self,
        component: Any,
        client: HttpClient,
        masker: SecretMasker,
        config: Mapping[str, Any],
        scope: ConnectorScope,
        decoder: decoders.Decoder | None = None,
    ) -> None:
        self.component = component
        self.scope = scope
        self.client = client
        self.decoder = decoder or decoders.decode_json
        self.authenticator = ReferenceAuthenticator(component.get_authenticator(), masker, scope)
        handler = getattr(component, "error_handler", None)
        self.error_handler = (
            ReferenceErrorHandler(handler, config, scope)
            if handler is not None
            else DefaultErrorHandler(config)
        )

    @scoped
    def send(
        self,
        *,
        stream_slice: Mapping[str, Any],
        next_page_token: Mapping[str, Any] | None,
        extra: RequestOptions,
        url_override: str | None,
        stats: RequestStats,
    ) -> Page:
        component = self.component
        state: dict[str, Any] = {}
        cdk_slice = values.stream_slice(stream_slice)
        self.authenticator.options()  # registers the credentials with the masker
        url = component._get_url(
            path=url_override,
            stream_state=state,
            stream_slice=cdk_slice,
            next_page_token=next_page_token,
        )
        headers = component._request_headers(state, cdk_slice, next_page_token, extra.headers)
        params = component._request_params(state, cdk_slice, next_page_token, extra.params)
        method = str(getattr(component.get_method(), "value", component.get_method())).upper()
        request = requests.Request(
            method,
            url,
            params=dict(params or {}),
            headers={str(k): str(v) for k, v in (headers or {}).items()},
            auth=self.authenticator.requests_auth,
        )
        if method in BODY_METHODS:
            body_json = component._request_body_json(
                state, cdk_slice, next_page_token, extra.body_json
            )
            body_data = component._request_body_data(
                state, cdk_slice, next_page_token, extra.body_data
            )
            if body_json:
                request.json = body_json
            elif body_data:
                request.data = body_data
        budget = getattr(component, "api_budget", None)
        return self.client.send(
            request,
            error_handler=self.error_handler,
            decode=self.decoder,
            stats=stats,
            acquire=budget.acquire_call if budget is not None else None,
        )
