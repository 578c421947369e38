"""A local API that can serve any manifest's streams, built from the manifest alone.

`CorpusServer.serve(manifest, schemas)` reads a normalised manifest and returns a copy whose
requesters point at this server; the server then answers each stream with generated records
placed at the stream's record path, and ends pagination the way the stream's paginator expects:

- page and offset increments: a full first page, then a short one (a page is "later" when the
  request carries the paginator's token option with a value other than the first page's);
- cursor pagination: the response fields and ``Link`` header the ``cursor_value`` and
  ``stop_condition`` templates read are filled on the first page and left out on the last, and
  every token the server hands out carries a marker, so the request for the next page is
  recognised wherever the paginator injects the token (query, header, body, or the URL itself);
- substreams: the parent's records carry the key ``parent_key`` names (custom routers that list
  ``parent_stream_configs`` too);
- a custom extractor gets its records where its own code reads them
  (``response.json()["a"]["b"]``, from its class's source), or in the API's own layout where
  its code builds records out of one (``support/corpus_layouts.py``: test data, per class);
- a record path that is a template (``{{ parameters['data_field'] }}``) is rendered with the
  extractor's parameters and the config first;
- schema loaders that ask the API (DynamicSchemaLoader) ask this server
  (:meth:`CorpusServer.serve_schemas`, before discover): it answers two property definitions
  (a string and an integer) where the loader's extractor and ``schema_type_identifier`` read
  them, and the stream's records then follow the schema discover built from them;
- a date a transformation reformats (``format_datetime(record.X, out, in)``) is sent in its
  ``in`` format, and a date a custom transformation's code parses (``strptime``,
  ``pendulum.from_format``) in that format, and a field its code iterates with ``.items()`` as
  an object;
- objects and lists the stream's transformations write (``AddFields`` and custom ones with
  ``fields``) are left out of the records: the schema gives their shape after the
  transformation, not the API's;
- dynamic streams: each template is served like a stream (the streams it resolves to share its
  route);
- async jobs (AsyncRetriever): each job requester gets its own address under the stream's route;
  a created job answers with an id wherever the other requesters' templates read one; the
  stream's first job reports the manifest's first ``running`` status on its first poll (each
  running poll costs the reader a polling wait of a second) and every job its first
  ``completed`` status after that, with a download URL on this server where its status_mapping
  and extractors look; the
  download serves the stream's records in the format of the ``download_decoder`` (JSON, JSON
  lines, CSV, gzip of those).

Why the manifest is rewritten instead of the config: most published manifests hard-code their
host (``url_base: https://api.stripe.com/v1``), so no config value can redirect them. Each
requester's ``url_base``/``url`` becomes ``http://127.0.0.1:<port>/<route>/``, where the route
names the stream; that is also how the server tells which stream (and which parent stream) a
request belongs to, since request paths are templates it cannot evaluate. OAuth token endpoints,
session-token logins and token quota endpoints are redirected the same way and answered with a
token or a quota.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import inspect
import io
import itertools
import json
import re
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from config_gen import value_for

from engine.datetimes import format_datetime
from engine.errors import EngineError
from engine.templates.interpolation import InterpolatedString
from support.corpus_layouts import BODY_LAYOUTS, RECORD_LAYOUTS

MARKER = "pg2marker"
# ``.get('key')`` with or without a plain default (``.get('paging', {}).get('next')`` reads
# ``paging.next``), ``['key']`` and ``.key``.
_DEFAULT = r"(?:\{{\}}|\[\]|None|True|False|-?\d+|'[^']*'|\"[^\"]*\")"
_GET = r"\.get\(\s*['\"]({key})['\"]\s*(?:,\s*" + _DEFAULT + r"\s*)?\)?"
_CHAIN = r"((?:" + _GET.format(key="?:[^'\"]+") + r"|\[\s*['\"][^'\"]+['\"]\s*\]|\.[A-Za-z_]\w*)+)"
_RESPONSE_CHAIN = re.compile(r"response" + _CHAIN)
# A transformation reading into a record (``record['user']['id']``): generated records hold the
# path, as the API's would.
_RECORD_CHAIN = re.compile(r"\brecord" + _CHAIN)
_CHAIN_KEY = re.compile(_GET.format(key="[^'\"]+") + r"|\[\s*['\"]([^'\"]+)['\"]\s*\]|\.(\w+)")
# A template reading a job response: ``creation_response['id']``, ``polling_response.report.id``,
# ``stream_slice['create_job_response'].json()['id']``...
_JOB_CHAIN = re.compile(
    r"(creation_response|polling_response|(?:create_job_response|polling_job_response)['\"]\s*\]"
    r"\s*\.json\(\))((?:\.get\(\s*['\"][^'\"]+['\"]|\[\s*['\"][^'\"]+['\"]\s*\]|\.[A-Za-z_]\w*)+)"
)
# A transformation reformatting a date the API sends: format_datetime(record.get('Date'),
# '%Y-%m-%d', '%m/%d/%Y') says the API sends Date as %m/%d/%Y.
_SENT_FORMAT = re.compile(
    r"format_datetime\(\s*record(?:\.get\(\s*['\"](\w+)['\"]|\[\s*['\"](\w+)['\"]\s*\]|\.(\w+))"
    r"[^,]*,\s*['\"][^'\"]*['\"]\s*,\s*['\"]([^'\"]+)['\"]"
)
# A custom extractor's Python reading the body: response.json()["definitions"]["conditions_all"].
_JSON_CHAIN = re.compile(
    r"response\.json\(\)((?:\.get\(\s*['\"][^'\"]+['\"][^)]*\)|\[\s*['\"][^'\"]+['\"]\s*\])+)"
)
# A custom transformation's Python parsing a date: strptime(value, "%m/%d/%Y"),
# pendulum.from_format(value, "ddd, D MMM YYYY"); and the record fields it reads.
_STRPTIME = re.compile(r"strptime\([^,()]+,\s*['\"]([^'\"]+)['\"]")
_FROM_FORMAT = re.compile(r"from_format\([^,()]+,\s*['\"]([^'\"]+)['\"]")
_RECORD_READ = re.compile(
    r"(\w+)\s*=\s*record(?:\.get\(\s*['\"]([^'\"]+)['\"][^)]*\)|\[\s*['\"]([^'\"]+)['\"]\s*\])"
)
_RECORD_KEY = re.compile(r"record\[\s*['\"]([^'\"]+)['\"]\s*\]")
_JOB_TOKEN = re.compile(r"pg2job(\d+)")
_JOB_REQUESTERS = {
    "creation_requester": "create",
    "polling_requester": "poll",
    "download_requester": "download",
    "download_target_requester": "target",
    "url_requester": "target",
    "abort_requester": "abort",
    "delete_requester": "delete",
}
_HOST = re.compile(r"^(?:[a-zA-Z][\w+.-]*://[^/]*|\{\{.*?\}\}[^/]*)")
_FULL_PAGE_LIMIT = 20
# A paginator the server misreads would page forever; past this, pages come back empty and the
# test reports the stream (CorpusServer.runaway) instead of hanging.
MAX_REQUESTS_PER_ROUTE = 400


@dataclass
class AsyncJobPlan:
    """What an AsyncRetriever stream's job responses must hold, read from its definition."""

    running: str | None
    completed: str
    status_path: list[str]
    target_path: list[str]
    download_decoder: dict
    creation_chains: list[list[str]]
    polling_chains: list[list[str]]
    polls: dict[int, int] = field(default_factory=dict)  # job number -> polls so far
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))


@dataclass
class Route:
    """How the server answers one stream."""

    name: str
    field_path: list[str] = field(default_factory=list)
    schema: dict = field(default_factory=dict)
    extra_keys: set[str] = field(default_factory=set)
    record_paths: list[list[str]] = field(default_factory=list)
    computed: set[str] = field(default_factory=set)  # top-level fields transformations write
    mappings: set[str] = field(default_factory=set)  # fields custom code iterates as mappings
    # field -> (library, format) of the date the API sends: ("strftime", "%m/%d/%Y")...
    sent_formats: dict[str, tuple[str, str]] = field(default_factory=dict)
    cursor: tuple[str, str] | None = None  # (field, datetime format)
    style: str = "none"  # none | increment | cursor | url
    page_size: int | None = None
    token_option: tuple[str, str] | None = None  # (inject_into, field_name)
    first_token: str | None = None
    chains: list[list[str]] = field(default_factory=list)
    link_header: bool = False
    link_results: bool = False
    record_chains: list[list[str]] = field(default_factory=list)
    embedded: list[tuple[list[str], Route]] = field(default_factory=list)
    token_indexes_records: bool = False
    job: AsyncJobPlan | None = None
    # The API's own layout where the connector's code reads one (support/corpus_layouts.py).
    body_layout: Callable[[list[dict]], Any] | None = None
    record_layouts: list[Callable[[dict], dict]] = field(default_factory=list)
    hits: int = 0


@dataclass
class SchemaPlan:
    """What a schema loader's retriever (DynamicSchemaLoader) reads, from its definition: the
    property definitions at ``schema_pointer`` of the first record at ``field_path``, each
    with its name at ``key_pointer`` and its type at ``type_pointer``."""

    field_path: list[str]
    schema_pointer: list[str]
    key_pointer: list[str]
    type_pointer: list[str]
    layout: Callable[[list[dict]], Any] | None = None


class CorpusServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.schema_routes: dict[str, SchemaPlan] = {}
        self._config: Mapping[str, Any] = {}
        self.requests: list[tuple[str, str]] = []
        self.quota_body: dict = {}  # what a token's quota status endpoint answers
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> CorpusServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def runaway(self) -> list[str]:
        """Routes that were asked for more pages than the server would ever serve."""
        return [key for key, route in self.routes.items() if route.hits > MAX_REQUESTS_PER_ROUTE]

    # -- reading the manifest -------------------------------------------------------------

    def serve_schemas(self, definition: dict, config: Mapping[str, Any]) -> dict:
        """A copy of ``definition`` whose schema loaders that ask the API (DynamicSchemaLoader)
        ask this server, so discover runs against it; the stream's records are served once
        the schemas are known (:meth:`serve`)."""
        self._config = config
        rewritten = dict(definition)
        rewritten["streams"] = [
            self._schema_loaders(s, _stream_name(s)) for s in definition.get("streams") or []
        ]
        return rewritten

    def _schema_loaders(self, d: dict, key: str) -> dict:
        if d.get("type") == "StateDelegatingStream":
            return {
                **d,
                "full_refresh_stream": self._schema_loaders(d["full_refresh_stream"], key),
                "incremental_stream": self._schema_loaders(d["incremental_stream"], key),
            }
        loaders = d.get("schema_loader")
        if isinstance(loaders, list):
            return {**d, "schema_loader": [self._schema_loader(s, key) for s in loaders]}
        return {**d, "schema_loader": self._schema_loader(loaders, key)} if loaders else d

    def _schema_loader(self, loader: dict, key: str) -> dict:
        retriever = loader.get("retriever")
        identifier = loader.get("schema_type_identifier") or {}
        if not isinstance(retriever, dict) or not identifier.get("key_pointer"):
            return loader
        extractor = (retriever.get("record_selector") or {}).get("extractor") or {}
        self.schema_routes[key] = SchemaPlan(
            field_path=self._field_path(extractor),
            schema_pointer=[str(p) for p in identifier.get("schema_pointer") or []],
            key_pointer=[str(p) for p in identifier["key_pointer"]],
            type_pointer=[str(p) for p in identifier.get("type_pointer") or ["type"]],
            layout=BODY_LAYOUTS.get(str(extractor.get("class_name"))),
        )
        requester = self._requester(retriever["requester"], f"__schema/{key}")
        return {**loader, "retriever": {**retriever, "requester": requester}}

    def _field_path(self, extractor: dict) -> list[str]:
        """The extractor's ``field_path``, its templates rendered as the reader renders them."""
        return [self._rendered(part, extractor) for part in extractor.get("field_path") or []]

    def _rendered(self, text: Any, component: dict) -> str:
        """A field name as the reader renders it (``{{ parameters['data_field'] }}``,
        ``{{ config... }}``) with the component's parameters; a template that reads the
        response or the slice is left as written."""
        template = InterpolatedString(str(text), parameters=component.get("$parameters") or {})
        try:
            return str(template.eval_str(self._config))
        except EngineError:
            return str(text)

    def serve(
        self,
        definition: dict,
        schemas: Mapping[str, dict],
        config: Mapping[str, Any] | None = None,
    ) -> dict:
        """A copy of ``definition`` aimed at this server; registers a route per stream."""
        self._schemas = schemas
        self._config = self._config if config is None else config
        rewritten = dict(definition)
        rewritten["streams"] = [
            self._stream(s, _stream_name(s)) for s in definition.get("streams") or []
        ]
        if definition.get("dynamic_streams"):
            # Every stream a template resolves to shares the template's route, whose records
            # hold the fields of every stream not declared statically (the server cannot tell
            # which of them asks).
            static = {route.name for route in self.routes.values()}
            resolved = [schemas[name] for name in schemas if name not in static]
            self._schemas = {**schemas, "": _union(resolved)}
            rewritten["dynamic_streams"] = [
                {**d, "stream_template": self._stream(d["stream_template"], f"dynamic{i}")}
                if isinstance(d.get("stream_template"), dict)
                else d
                for i, d in enumerate(definition["dynamic_streams"])
            ]
            for i, d in enumerate(definition["dynamic_streams"]):
                if f"dynamic{i}" in self.routes:  # the resolved streams' own transformations
                    self.routes[f"dynamic{i}"].sent_formats.update(_sent_formats(d))
        return rewritten

    def _stream(self, d: dict, key: str) -> dict:
        if d.get("type") == "StateDelegatingStream":
            return {
                **d,
                "full_refresh_stream": self._stream(d["full_refresh_stream"], key),
                "incremental_stream": self._stream(d["incremental_stream"], f"{key}-incremental"),
            }
        route = self.routes.setdefault(key, Route(_stream_name(d) or key))
        schema = self._schemas.get(route.name) or self._schemas.get("") or {}
        route.schema = route.schema or dict(schema)
        route.computed = {
            str(f["path"][0])
            for t in d.get("transformations") or []
            for f in t.get("fields") or []
            if isinstance(f, dict) and f.get("path")
        }
        route.sent_formats.update(_sent_formats(d.get("transformations")))
        route.sent_formats.update(_python_formats(d.get("transformations")))
        route.mappings = _mappings_read_by(d.get("transformations"))
        route.record_layouts = [
            RECORD_LAYOUTS[str(t.get("class_name"))]
            for t in reversed(d.get("transformations") or [])
            if str(t.get("class_name")) in RECORD_LAYOUTS
        ]
        retriever = dict(d["retriever"])
        selector = retriever.get("record_selector") or {}
        extractor = selector.get("extractor") or {}
        route.field_path = self._field_path(extractor)
        route.record_paths = _paths_read_by(extractor.get("class_name"))
        route.body_layout = BODY_LAYOUTS.get(str(extractor.get("class_name")))
        incremental = d.get("incremental_sync") or {}
        if incremental.get("cursor_field"):
            formats = incremental.get("cursor_datetime_formats") or [
                incremental.get("datetime_format") or "%Y-%m-%dT%H:%M:%SZ"
            ]
            cursor_field = self._rendered(incremental["cursor_field"], incremental)
            route.cursor = (cursor_field, str(formats[0]))
        if retriever.get("type") == "AsyncRetriever":
            self._async_job(route, retriever, key)
        else:
            self._paginator(route, retriever.get("paginator") or {})
            retriever["requester"] = self._requester(retriever["requester"], key)
        router = retriever.get("partition_router")
        if router:
            retriever["partition_router"] = self._routers(router, key)
        for match in _RECORD_CHAIN.finditer(" ".join(_strings(d.get("transformations")))):
            chain = [next(g for g in m.groups() if g) for m in _CHAIN_KEY.finditer(match[1])]
            if len(chain) > 1 and chain not in route.record_chains:
                route.record_chains.append(chain)
        return {**d, "retriever": retriever}

    def _async_job(self, route: Route, retriever: dict, key: str) -> None:
        """Aim each job requester at ``/<stream>/__job_<phase>`` and note what the job's responses
        hold (the stream's record selector only filters: records come from the downloads)."""
        mapping = retriever["status_mapping"]
        templates = " ".join(_strings([retriever.get(name) for name in _JOB_REQUESTERS]))
        chains: dict[str, list[list[str]]] = {"creation": [["id"]], "polling": []}
        for match in _JOB_CHAIN.finditer(templates):
            chain = [next(g for g in m.groups() if g) for m in _CHAIN_KEY.finditer(match[2])]
            if chain and chain[0] not in ("headers", "request"):
                chains["creation" if "creat" in match[1] else "polling"].append(chain)
        targets = retriever.get("download_target_extractor") or retriever["urls_extractor"]
        route.job = AsyncJobPlan(
            running=str(mapping["running"][0]) if mapping.get("running") else None,
            completed=str(mapping["completed"][0]),
            status_path=[str(p) for p in retriever["status_extractor"].get("field_path") or []],
            target_path=[str(p) for p in targets.get("field_path") or []],
            download_decoder=retriever.get("download_decoder") or {"type": "JsonDecoder"},
            creation_chains=chains["creation"],
            polling_chains=chains["polling"],
        )
        download_extractor = retriever.get("download_extractor") or {}
        route.field_path = [str(p) for p in download_extractor.get("field_path") or []]
        self._paginator(route, retriever.get("download_paginator") or {})
        for name, phase in _JOB_REQUESTERS.items():
            if retriever.get(name):
                retriever[name] = self._requester(retriever[name], f"{key}/__job_{phase}")

    def _routers(self, router: Any, key: str) -> Any:
        if isinstance(router, list):
            return [self._routers(r, key) for r in router]
        if router.get("type") == "GroupingPartitionRouter":
            inner = self._routers(router["underlying_partition_router"], key)
            return {**router, "underlying_partition_router": inner}
        if router.get("type") == "UnionPartitionRouter":
            inner = [
                self._routers(r, f"{key}-union{i}")
                for i, r in enumerate(router["partition_routers"])
            ]
            return {**router, "partition_routers": inner}
        # A custom router that subclasses the substream one lists its parents the same way.
        if not isinstance(router.get("parent_stream_configs"), list):
            return router
        configs = []
        for index, parent in enumerate(router["parent_stream_configs"]):
            parent_key = f"{key}-parent{index}"
            stream = self._stream(parent["stream"], parent_key)
            self.routes[parent_key].extra_keys.add(str(parent["parent_key"]))
            if parent.get("lazy_read_pointer"):
                # The parent's records embed a page of the child (as Stripe's do): a record
                # of the child at its record path, and no further page.
                pointer = [str(p) for p in parent["lazy_read_pointer"]]
                self.routes[parent_key].embedded.append((pointer, self.routes[key]))
            configs.append({**parent, "stream": stream})
        return {**router, "parent_stream_configs": configs}

    def _requester(self, requester: dict, key: str) -> dict:
        base = f"{self.url}/{quote(key)}"
        requester = dict(requester)
        if requester.get("url"):
            requester["url"] = base + _HOST.sub("", str(requester["url"]))
        else:
            requester["url_base"] = base
        if requester.get("authenticator"):
            requester["authenticator"] = self._authenticator(requester["authenticator"])
        return requester

    def _authenticator(self, auth: dict) -> dict:
        kind = auth.get("type")
        if kind == "CustomAuthenticator":
            # A custom authenticator often wraps declarative ones (an OAuth and a token one).
            return {
                k: self._authenticator(v) if isinstance(v, dict) and v.get("type") else v
                for k, v in auth.items()
            }
        if kind == "SelectiveAuthenticator":
            chosen = {k: self._authenticator(v) for k, v in auth["authenticators"].items()}
            return {**auth, "authenticators": chosen}
        if kind == "RateLimitedMultipleTokenAuthenticator":
            # Each token's quotas are asked for at the start: plenty left, reset in an hour.
            reset = int(dt.datetime.now(dt.timezone.utc).timestamp()) + 3600
            for quota in auth.get("quotas") or []:
                for key, value in (("remaining_path", 5000), ("reset_path", reset)):
                    if quota.get(key):
                        _place(self.quota_body, [str(p) for p in quota[key]], value)
                if quota.get("limit_path"):
                    _place(self.quota_body, [str(p) for p in quota["limit_path"]], 5000)
            source = {**auth["quota_status_source"], "url": f"{self.url}/__quota"}
            return {**auth, "quota_status_source": source}
        if kind == "OAuthAuthenticator":
            return {**auth, "token_refresh_endpoint": f"{self.url}/__token"}
        if kind == "SessionTokenAuthenticator":
            login = {**auth["login_requester"], "url_base": f"{self.url}/__token", "path": "x"}
            login.pop("url", None)
            return {**auth, "login_requester": login}
        return auth

    def _paginator(self, route: Route, paginator: dict) -> None:
        strategy = paginator.get("pagination_strategy") or {}
        kind = strategy.get("type")
        if paginator.get("type") != "DefaultPaginator" or not kind:
            return
        option = paginator.get("page_token_option") or {}
        if option.get("type") == "RequestOption":
            route.token_option = (str(option["inject_into"]), str(option.get("field_name")))
        page_size = strategy.get("page_size")
        route.page_size = int(page_size) if str(page_size or "").isdigit() else None
        if kind in ("PageIncrement", "OffsetIncrement"):
            route.style = "increment"
            start = strategy.get("start_from_page", 0) if kind == "PageIncrement" else 0
            route.first_token = str(start) if strategy.get("inject_on_first_request") else None
            return
        route.style = "url" if option.get("type") == "RequestPath" else "cursor"
        templates = f"{strategy.get('cursor_value', '')} {strategy.get('stop_condition', '')}"
        route.link_header = "headers" in templates
        route.link_results = "results" in templates
        route.token_indexes_records = "[-1]" in str(strategy.get("cursor_value", ""))
        for match in _RESPONSE_CHAIN.finditer(templates):
            chain = [next(g for g in m.groups() if g) for m in _CHAIN_KEY.finditer(match[1])]
            if chain and chain not in route.chains and chain[0] not in route.field_path[:1]:
                route.chains.append(chain)

    # -- answering --------------------------------------------------------------------------

    def respond(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> tuple:
        self.requests.append((method, target))
        parts = urlsplit(target)
        segments = parts.path.strip("/").split("/")
        if segments[0] == "__quota":
            return 200, {}, self.quota_body
        if segments[0] == "__schema":
            return 200, {}, self._schema_answer(self.schema_routes[unquote(segments[1])])
        if segments[0] == "__token":
            token = {"access_token": "token", "expires_in": 3600, "token": "token"}
            return 200, {}, token
        route = self.routes.get(unquote(segments[0]))
        if route is None:
            return 404, {}, {"error": f"no stream is served at {parts.path}"}
        job_phase = len(segments) > 1 and segments[1].startswith("__job_")
        phase = segments[1][len("__job_") :] if job_phase else ""
        if route.job is not None and phase != "download":
            return self._job_answer(route, segments[0], phase, f"{target} {headers} {body!r}")
        route.hits += 1
        later = self._is_later_page(route, target, headers, body)
        records = [] if route.hits > MAX_REQUESTS_PER_ROUTE else self._records(route, later)
        for layout in route.record_layouts:  # as the API sends them, before transformations
            records = [layout(record) for record in records]
        response = _nest(route.field_path, records)
        if route.body_layout is not None:  # the API's own layout, read by the connector's code
            response = route.body_layout(records)
        elif route.record_paths:  # where a custom extractor's own code reads
            response = {}
            for path in route.record_paths:
                response = _merged(_nest(path, records), response)
        if route.chains and not route.field_path and not route.record_paths:
            # A paginator reading response.X needs an object; with no records path, the object
            # is the page's one record (an extractor takes a lone object as one record).
            response = dict(records[0]) if records else {}
        extra_headers: dict[str, str] = {}
        if route.style in ("cursor", "url"):
            next_url = f"{self.url}/{segments[0]}/next?marker={MARKER}"
            token = next_url if route.style == "url" else MARKER
            for chain in route.chains if isinstance(response, dict) else ():
                _place(response, chain, None if later else token)
            if route.link_header and not later:
                extra_headers["Link"] = (
                    f'<{next_url}>; rel="next"; cursor="{MARKER}"; results="true"'
                )
            elif route.link_header and route.link_results:
                # APIs that say in the link whether it leads to results (Sentry) keep the
                # link on the last page, with results="false".
                extra_headers["Link"] = f'<{next_url}>; rel="next"; cursor="end"; results="false"'
        if route.job is not None and route.job.download_decoder.get("type") != "JsonDecoder":
            return 200, extra_headers, _encoded(records, route.job.download_decoder)
        return 200, extra_headers, response

    @staticmethod
    def _schema_answer(plan: SchemaPlan) -> Any:
        """Two property definitions (a string and an integer) where the loader reads them."""
        definitions = []
        for name, kind in (("pg2_text", "string"), ("pg2_count", "integer")):
            definition: dict = {}
            _place(definition, plan.key_pointer, name)
            _place(definition, plan.type_pointer, kind)
            definitions.append(definition)
        if plan.layout is not None:
            return plan.layout(definitions)
        return _nest(plan.field_path, [_nest(plan.schema_pointer, definitions)])

    def _job_answer(self, route: Route, prefix: str, phase: str, request: str) -> tuple:
        """Create, poll, abort or delete a job of ``route``; a job is known by its token."""
        plan = route.job
        assert plan is not None
        if phase == "create":
            number = next(plan.numbers)
            plan.polls[number] = 0
            created: dict = {}
            for chain in plan.creation_chains:
                _place(created, chain, f"pg2job{number}")
            return 200, {}, created
        found = _JOB_TOKEN.search(request)
        number = int(found[1]) if found else max(plan.polls, default=1)
        if phase not in ("poll", "target"):  # abort, delete
            return 200, {}, {}
        polls = plan.polls.get(number, 0)
        plan.polls[number] = polls + 1
        polled: dict = {}
        if phase == "poll" and polls == 0 and plan.running is not None and number == 1:
            _place(polled, plan.status_path, plan.running)
            return 200, {}, polled
        _place(polled, plan.status_path, plan.completed)
        url = f"{self.url}/{prefix}/__job_download/pg2job{number}"
        polled = _merged(polled, _nest(plan.target_path, [url]))
        for chain in plan.polling_chains:
            _place(polled, chain, f"pg2job{number}")
        return 200, {}, polled

    def _is_later_page(
        self, route: Route, target: str, headers: Mapping[str, str], body: bytes
    ) -> bool:
        if MARKER in target or MARKER in str(dict(headers)) or MARKER.encode() in body:
            return True
        if route.token_option is None:
            return False
        inject, name = route.token_option
        sent: Any = None
        if inject == "request_parameter":
            sent = dict(parse_qsl(urlsplit(target).query)).get(name)
        elif inject == "header":
            sent = headers.get(name)
        elif body:
            try:
                sent = json.loads(body).get(name)
            except ValueError:
                sent = dict(parse_qsl(body.decode())).get(name)
        return sent is not None and str(sent) != route.first_token

    def _records(self, route: Route, later: bool) -> list[dict]:
        if later:
            short = route.page_size is not None and route.page_size > 1
            count = 1 if short and not route.token_indexes_records else 0
        elif route.style == "increment" and route.page_size and route.page_size <= _FULL_PAGE_LIMIT:
            count = route.page_size
        else:
            count = 2
        return [self._record(route, index + (10 if later else 0)) for index in range(count)]

    def _record(self, route: Route, index: int) -> dict:
        properties = route.schema.get("properties") or {}
        # An object or list the stream's transformations write has its written shape in the
        # schema, not the API's (an object the API sends as a list): the API may leave it out.
        # (A plain value they write, a date reformatted, is generated: they read it.)
        record = {
            k: value_for(v, k)
            for k, v in properties.items()
            if isinstance(v, dict) and not (k in route.computed and _is_container(v))
        }
        for key in route.mappings & set(record):
            # The API sends a mapping the transformation turns into what the schema says.
            record[key] = {"key": value_for((properties[key] or {}).get("items"), key)}
        for key in route.extra_keys:
            record[key] = f"{route.name}-{index}"
        for pointer, child in route.embedded:
            _place(record, pointer, None)  # whatever the schema generated there gives way
            _place(record, pointer, _nest(child.field_path, [self._record(child, index)]))
        id_type = str((properties.get("id") or {}).get("type"))
        record["id"] = index + 1 if "integer" in id_type else f"{route.name}-{index}"
        for chain in route.record_chains:
            _place(record, chain, f"{route.name}-{index}")
        if route.cursor:
            name, fmt = route.cursor
            moment = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
            record[name] = format_datetime(moment.replace(microsecond=0), fmt)
        moment = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=2)
        for name, (library, fmt) in route.sent_formats.items():
            if name in record:
                record[name] = _date_text(moment, library, fmt)
        return record


def _class_source(class_name: Any) -> str:
    """The source of a custom component's class: it is loaded by then (the test discovers
    first); empty when it is not."""
    module_name, _, attribute = str(class_name or "").rpartition(".")
    cls = getattr(sys.modules.get(module_name), attribute, None)
    try:
        return inspect.getsource(cls) if cls is not None else ""
    except (OSError, TypeError):
        return ""


def _paths_read_by(class_name: Any) -> list[list[str]]:
    """The body paths a custom extractor's code reads (``response.json()["a"]["b"]``): its
    source says where the records go."""
    paths = []
    for match in _JSON_CHAIN.finditer(_class_source(class_name)):
        path = [next(g for g in m.groups() if g) for m in _CHAIN_KEY.finditer(match[1])]
        if path and path not in paths:
            paths.append(path)
    return paths


def _sent_formats(definition: Any) -> dict[str, tuple[str, str]]:
    """Field -> the date format a transformation's template in ``definition`` reads it in."""
    found = {}
    for text in _strings(definition):
        for match in _SENT_FORMAT.finditer(text):
            found[next(g for g in match.groups()[:3] if g)] = ("strftime", match[4])
    return found


def _python_formats(transformations: Any) -> dict[str, tuple[str, str]]:
    """Field -> the date format a custom transformation's code parses it with
    (``strptime(value, "%m/%d/%Y")``, ``pendulum.from_format(value, "ddd, D MMM YYYY")``), for
    the fields it names: its manifest ``fields`` and the ``record["X"]`` its code reads. Only a
    class parsing one format is read this way."""
    found: dict[str, tuple[str, str]] = {}
    for transformation in transformations or []:
        source = _class_source(transformation.get("class_name"))
        formats = {("strftime", f) for f in _STRPTIME.findall(source)}
        formats |= {("pendulum", f) for f in _FROM_FORMAT.findall(source)}
        if len(formats) != 1:
            continue
        names = [str(f["path"][0]) for f in transformation.get("fields") or [] if f.get("path")]
        for name in [*names, *_RECORD_KEY.findall(source)]:
            found[name] = next(iter(formats))
    return found


def _mappings_read_by(transformations: Any) -> set[str]:
    """Record fields a custom transformation's code iterates as a mapping
    (``properties = record.get("properties", {})`` ... ``properties.items()``)."""
    found: set[str] = set()
    for transformation in transformations or []:
        source = _class_source(transformation.get("class_name"))
        for match in _RECORD_READ.finditer(source):
            variable, name = match[1], match[2] or match[3]
            if re.search(rf"\b{re.escape(variable)}\.items\(\)", source):
                found.add(name)
    return found


def _date_text(moment: dt.datetime, library: str, fmt: str) -> str:
    if library == "pendulum":
        import pendulum  # only a connector whose code parses dates with it gets here

        return pendulum.instance(moment).format(fmt)
    return format_datetime(moment, fmt)


def _union(schemas: list[dict]) -> dict:
    """One schema with the properties of all (the first one to name a property wins)."""
    properties: dict = {}
    for schema in schemas:
        for name, value in (schema.get("properties") or {}).items():
            properties.setdefault(name, value)
    return {"type": "object", "properties": properties}


def _is_container(schema: dict) -> bool:
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return "properties" in schema or "items" in schema or bool({"object", "array"} & set(kinds))


def _stream_name(d: dict) -> str:
    return str(d.get("name") or (d.get("$parameters") or {}).get("name") or "")


def _nest(path: list[str], records: list[dict]) -> Any:
    if not path:
        return records
    head, rest = path[0], path[1:]
    if head == "*":
        return [_nest(rest, [r]) if rest else r for r in records]
    return {head: _nest(rest, records)}


def _strings(value: Any) -> list[str]:
    """Every string inside a definition (the templates a requester may evaluate)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _merged(first: Any, second: Any) -> Any:
    """Two nested bodies in one (objects merge key by key; otherwise the first wins)."""
    if not isinstance(first, dict) or not isinstance(second, dict):
        return first
    merged = dict(second)
    for key, value in first.items():
        merged[key] = _merged(value, merged[key]) if key in merged else value
    return merged


def _encoded(records: list[dict], decoder: dict) -> bytes:
    """Records as the bytes a download decoder reads: JSON lines, CSV, gzip of either, JSON."""
    kind = decoder.get("type")
    if kind == "ZipfileDecoder":
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            inner = decoder.get("decoder") or {"type": "JsonDecoder"}
            zipped.writestr("records", _encoded(records, inner))
        return archive.getvalue()
    if kind == "GzipDecoder":
        return gzip.compress(_encoded(records, decoder.get("decoder") or {"type": "JsonDecoder"}))
    if kind == "JsonlDecoder":
        return "".join(json.dumps(r) + "\n" for r in records).encode()
    if kind == "CsvDecoder":
        text = io.StringIO()
        columns = list(dict.fromkeys(k for r in records for k in r))
        writer = csv.DictWriter(text, columns, delimiter=str(decoder.get("delimiter") or ","))
        writer.writeheader()
        writer.writerows(records)
        return text.getvalue().encode(str(decoder.get("encoding") or "utf-8"))
    return json.dumps(records).encode()


def _place(body: dict, chain: list[str], value: Any) -> None:
    """Set ``chain`` in ``body`` (creating objects on the way); ``None`` leaves the leaf out."""
    node = body
    for key in chain[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    if value is None:
        node.pop(chain[-1], None)
    elif chain[-1] not in node:
        node[chain[-1]] = value


def _handler(server: CorpusServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else every keep-alive reply waits ~40 ms for an ACK

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, payload = server.respond(
                self.command, self.path, dict(self.headers), body
            )
            raw = isinstance(payload, bytes)
            data = payload if raw else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header(
                "Content-Type", "application/octet-stream" if raw else "application/json"
            )
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reports failures itself."""

    return Handler
