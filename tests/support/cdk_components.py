"""A components.py for the custom-component tests: one small class per family, written against
airbyte-cdk as published connectors write theirs. Each records what the engine handed it in
``SEEN[<family>]`` so a test can check the values and their types.

Tests copy this file beside a manifest as ``components.py``; it is never imported from here.
"""

from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any

import requests
from airbyte_cdk.sources.declarative.auth.declarative_authenticator import DeclarativeAuthenticator
from airbyte_cdk.sources.declarative.extractors.dpath_extractor import DpathExtractor
from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor
from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.sources.declarative.migrations.state_migration import StateMigration
from airbyte_cdk.sources.declarative.partition_routers import SubstreamPartitionRouter
from airbyte_cdk.sources.declarative.partition_routers.partition_router import PartitionRouter
from airbyte_cdk.sources.declarative.requesters.error_handlers import DefaultErrorHandler
from airbyte_cdk.sources.declarative.requesters.error_handlers.backoff_strategy import (
    BackoffStrategy,
)
from airbyte_cdk.sources.declarative.requesters.http_requester import HttpRequester
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import (
    PaginationStrategy,
)
from airbyte_cdk.sources.declarative.retrievers import SimpleRetriever
from airbyte_cdk.sources.declarative.schema.schema_loader import SchemaLoader
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.streams.call_rate import APIBudget
from airbyte_cdk.sources.streams.http.error_handlers.response_models import (
    ErrorResolution,
    FailureType,
    ResponseAction,
)
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.sources.utils.transform import TransformConfig, TypeTransformer

SEEN: dict = {}


def seen(family: str, **values: Any) -> None:
    SEEN.setdefault(family, []).append(values)


@dataclass
class Extractor(RecordExtractor):
    """Records under ``field`` (from $parameters), each tagged with the response's status."""

    field: str
    decoder: Any
    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]

    def extract_records(self, response: requests.Response):
        seen("extractor", response=response, decoder=self.decoder, config=self.config)
        for item in response.json()[self.field]:
            yield {**item, "status": response.status_code}


@dataclass
class WrappedDpath(DpathExtractor):
    """A subclass of the reference's DpathExtractor: nested fields are the reference's."""

    def extract_records(self, response: requests.Response):
        for record in super().extract_records(response):
            yield {**record, "wrapped": True}


@dataclass
class Transformation(RecordTransformation):
    suffix: str = ""

    def transform(self, record, config=None, stream_state=None, stream_slice=None) -> None:
        seen(
            "transformation",
            record=dict(record),
            config=config,
            state=stream_state,
            stream_slice=stream_slice,
        )
        record["name"] = f"{record.get('name')}{self.suffix}"


@dataclass
class Filter(RecordFilter):
    def filter_records(
        self, records, stream_state, stream_slice=None, next_page_token=None, **kwargs
    ):
        records = list(records)
        seen(
            "filter",
            records=records,
            state=stream_state,
            stream_slice=stream_slice,
            token=next_page_token,
        )
        return [r for r in records if r["id"] % 2]


@dataclass
class Auth(DeclarativeAuthenticator):
    config: Mapping[str, Any]
    header: str
    parameters: InitVar[Mapping[str, Any]]

    @property
    def auth_header(self) -> str:
        return self.header

    @property
    def token(self) -> str:
        return f"Custom {self.config['token']}"


@dataclass
class TokenFetchingAuth(Auth):
    """Fetches its token from a host of its own when a request is signed, as connectors'
    authenticators do with plain ``requests``; here the fetch fails with the config's secret
    in its message."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        raise ConnectionError(f"token host unreachable (key {self.config['token']})")


@dataclass
class Backoff(BackoffStrategy):
    parameters: InitVar[Mapping[str, Any]]
    seconds: float = 0.01

    def backoff_time(self, response_or_exception, attempt_count):
        seen("backoff", response=response_or_exception, attempt=attempt_count)
        return self.seconds


@dataclass
class ErrorHandler(DefaultErrorHandler):
    """Ignores 404 (the page yields nothing), else the reference's default handling."""

    def interpret_response(self, response_or_exception=None) -> ErrorResolution:
        seen("error_handler", response=response_or_exception)
        if isinstance(response_or_exception, requests.Response) and (
            response_or_exception.status_code == 404
        ):
            return ErrorResolution(ResponseAction.IGNORE, FailureType.system_error, "gone")
        return super().interpret_response(response_or_exception)


@dataclass
class Pages(PaginationStrategy):
    """Follows ``next`` in the body until it is missing."""

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]

    @property
    def initial_token(self) -> Any | None:
        return None

    def next_page_token(self, response, last_page_size, last_record, last_page_token_value=None):
        seen(
            "pagination",
            response=response,
            size=last_page_size,
            last=last_record,
            token=last_page_token_value,
        )
        return response.json().get("next")

    def get_page_size(self) -> int | None:
        return None


@dataclass
class Router(PartitionRouter):
    """One partition per config value, sent as the ``team`` query parameter."""

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]
    _state: dict = field(default_factory=dict)

    def stream_slices(self):
        for team in self.config["teams"]:
            yield StreamSlice(partition={"team": team}, cursor_slice={})

    def get_request_params(self, stream_state=None, stream_slice=None, next_page_token=None):
        seen("router", stream_slice=stream_slice)
        return {"team": stream_slice["team"]} if stream_slice else {}

    def get_request_headers(self, **kwargs):
        return {}

    def get_request_body_data(self, **kwargs):
        return {}

    def get_request_body_json(self, **kwargs):
        return {}

    def set_initial_state(self, stream_state) -> None:
        self._state = dict(stream_state)

    def get_stream_state(self):
        return None


@dataclass
class Requester(HttpRequester):
    """Adds a header computed from the slice, as connectors' requesters do."""

    def get_request_headers(self, *, stream_state=None, stream_slice=None, next_page_token=None):
        seen("requester", stream_slice=stream_slice, token=next_page_token)
        return {"X-Slice": str(dict(stream_slice or {}))}


@dataclass
class ParentRouter(SubstreamPartitionRouter):
    """A substream router of a connector's own (its parents are airbyte-cdk's streams, read by
    airbyte-cdk's requesters), as Mixpanel's cohort members router."""


class CountingBudget(APIBudget):
    """A call budget that lets every call through and notes what asked for it."""

    def __init__(self) -> None:
        super().__init__(policies=[])

    def acquire_call(self, request: Any, block: bool = True, timeout: float | None = None) -> None:
        seen("budget", request=request)


@dataclass
class BudgetedRequester(HttpRequester):
    """Sets a call budget of its own when built, as connectors' requesters do (Mixpanel's)."""

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.api_budget = CountingBudget()
        super().__post_init__(parameters)


@dataclass
class Schema(SchemaLoader):
    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]

    def get_json_schema(self):
        return {"type": "object", "properties": {"id": {"type": "integer"}, "from": {"const": 1}}}


class Migration(StateMigration):
    """Renames a legacy ``{"updated": v}`` state to ``{"updated_at": v}``. The reference passes
    only the arguments the class annotates."""

    declarative_stream: Any
    config: Mapping[str, Any]

    def __init__(self, declarative_stream: Any, config: Mapping[str, Any]) -> None:
        seen("migration", stream=declarative_stream)

    def should_migrate(self, stream_state) -> bool:
        return "updated" in stream_state

    def migrate(self, stream_state):
        return {"updated_at": stream_state["updated"]}


@dataclass
class Retriever(SimpleRetriever):
    """A retriever subclass: every record it reads is tagged (the reference runs the stream)."""

    def read_records(self, records_schema, stream_slice=None):
        seen("retriever", stream_slice=stream_slice)
        for record in super().read_records(records_schema, stream_slice):
            record.data["by_retriever"] = True
            yield record


class Normalizer(TypeTransformer):
    """A custom schema normalisation: ids become text."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(TransformConfig.NoTransform)

    def transform(self, record, schema) -> None:
        seen("normalizer", record=dict(record), schema=schema)
        record["id"] = str(record["id"])
