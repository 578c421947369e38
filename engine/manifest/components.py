"""The vocabulary of the manifest format: every component type, its fields and their kinds.

This table drives three things: which type a mapping without ``type`` gets (from the field it
sits in), which keys a component may carry (unknown keys are warnings with a close-match
suggestion, errors in strict mode), and which fields are required. Names are today's names;
the 2022 names are translated to these in :mod:`engine.manifest.legacy` before validation, so
this is the only place that lists what a manifest may say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Kinds of field values.
SCALAR = "scalar"  # a string (often a template), number or boolean
STRING = "string"
INTEGER = "integer"
BOOLEAN = "boolean"
MAPPING = "mapping"  # free-form mapping (request parameters, JSON schemas, ...)
LIST = "list"  # free-form list
ANY = "any"
COMPONENT = "component"
COMPONENTS = "components"  # a list of components
COMPONENT_OR_LIST = "component_or_list"


@dataclass(frozen=True)
class Field:
    kind: str
    required: bool = False
    family: str | None = None  # which component family may fill this field
    implicit: str | None = None  # the type of a mapping written without ``type``


@dataclass(frozen=True)
class ComponentType:
    name: str
    family: str
    fields: dict[str, Field]
    supported: bool = True
    why_unsupported: str = ""
    # Built by airbyte-cdk's own class (the ``airbyte`` extra), presented like a custom one.
    by_reference: bool = False


def _scalar(required: bool = False) -> Field:
    return Field(SCALAR, required)


def _comp(family: str, implicit: str | None = None, required: bool = False) -> Field:
    return Field(COMPONENT, required, family, implicit)


def _comps(family: str, implicit: str | None = None, required: bool = False) -> Field:
    return Field(COMPONENTS, required, family, implicit)


S, REQ = _scalar(), _scalar(required=True)
MAP, LST, BOOL, INT, STR = (
    Field(MAPPING),
    Field(LIST),
    Field(BOOLEAN),
    Field(INTEGER),
    Field(STRING),
)
ANYF = Field(ANY)

_TYPES: list[ComponentType] = []


def _t(name: str, family: str, /, **fields: Field) -> None:
    _TYPES.append(ComponentType(name, family, fields))


def _unsupported(name: str, family: str, why: str, /, **fields: Field) -> None:
    _TYPES.append(ComponentType(name, family, fields, supported=False, why_unsupported=why))


def _by_reference(name: str, family: str, /, **fields: Field) -> None:
    _TYPES.append(ComponentType(name, family, fields, by_reference=True))


def _custom(name: str, family: str) -> None:
    _TYPES.append(ComponentType(name, family, {"class_name": Field(STRING, required=True)}))


_request_inputs = {
    "request_parameters": ANYF,
    "request_headers": ANYF,
    "request_body_data": ANYF,
    "request_body_json": ANYF,
    "request_body": _comp("request_body"),
}

# -- source level ------------------------------------------------------------------------------
_t(
    "DeclarativeSource",
    "source",
    version=Field(STRING, required=True),
    check=_comp("check", "CheckStream", required=True),
    streams=_comps("stream", "DeclarativeStream"),
    dynamic_streams=_comps("dynamic_stream", "DynamicDeclarativeStream"),
    definitions=MAP,
    schemas=MAP,
    spec=_comp("spec", "Spec"),
    concurrency_level=_comp("concurrency", "ConcurrencyLevel"),
    api_budget=_comp("api_budget", "HTTPAPIBudget"),
    metadata=MAP,
    description=STR,
    max_concurrent_async_job_count=S,
    stream_groups=MAP,
)
_t(
    "CheckStream",
    "check",
    stream_names=LST,
    dynamic_streams_check_configs=_comps("dynamic_stream_check", "DynamicStreamCheckConfig"),
)
_t(
    "DynamicStreamCheckConfig",
    "dynamic_stream_check",
    dynamic_stream_name=Field(STRING, required=True),
    stream_count=INT,
)
_t(
    "CheckDynamicStream",
    "check",
    stream_count=Field(INTEGER, required=True),
    use_check_availability=BOOL,
)
_t(
    "Spec",
    "spec",
    connection_specification=Field(MAPPING, required=True),
    documentation_url=STR,
    advanced_auth=MAP,
    config_normalization_rules=MAP,
)
_t("ConcurrencyLevel", "concurrency", default_concurrency=REQ, max_concurrency=S)
_t(
    "HTTPAPIBudget",
    "api_budget",
    policies=_comps("rate_policy"),
    status_codes_for_ratelimit_hit=LST,
    ratelimit_reset_header=S,
    ratelimit_remaining_header=S,
)
_t(
    "MovingWindowCallRatePolicy",
    "rate_policy",
    rates=_comps("rate", "Rate"),
    matchers=_comps("matcher", "HttpRequestRegexMatcher"),
)
_t(
    "FixedWindowCallRatePolicy",
    "rate_policy",
    period=REQ,
    call_limit=REQ,
    matchers=_comps("matcher", "HttpRequestRegexMatcher"),
)
_t("UnlimitedCallRatePolicy", "rate_policy", matchers=_comps("matcher", "HttpRequestRegexMatcher"))
_t("Rate", "rate", limit=REQ, interval=REQ)
_t(
    "HttpRequestRegexMatcher",
    "matcher",
    method=S,
    url_base=S,
    url_path_pattern=S,
    params=MAP,
    headers=MAP,
)

# -- streams -----------------------------------------------------------------------------------
_t(
    "DeclarativeStream",
    "stream",
    name=S,
    primary_key=ANYF,
    retriever=_comp("retriever", "SimpleRetriever", required=True),
    incremental_sync=_comp("incremental_sync"),
    schema_loader=Field(COMPONENT_OR_LIST, family="schema_loader", implicit="JsonFileSchemaLoader"),
    transformations=_comps("transformation"),
    # The reference reads an untyped entry as this one (its type is optional, first of the union).
    state_migrations=_comps("state_migration", "LegacyToPerPartitionStateMigration"),
    checkpoint_interval=INT,
    cursor_field=ANYF,  # only set by the 2022 translation (stream_cursor_field)
    file_uploader=ANYF,
)
_t(
    "StateDelegatingStream",
    "stream",
    name=S,
    full_refresh_stream=_comp("stream", "DeclarativeStream", required=True),
    incremental_stream=_comp("stream", "DeclarativeStream", required=True),
)
_t(
    "DynamicDeclarativeStream",
    "dynamic_stream",
    stream_template=_comp("stream", "DeclarativeStream", required=True),
    components_resolver=_comp("components_resolver", required=True),
    name=S,
    use_parent_parameters=BOOL,
)
_components_mapping = _comps("component_mapping", "ComponentMappingDefinition", required=True)
_t(
    "HttpComponentsResolver",
    "components_resolver",
    retriever=_comp("retriever", "SimpleRetriever", required=True),
    components_mapping=_components_mapping,
)
_t(
    "ConfigComponentsResolver",
    "components_resolver",
    stream_config=Field(COMPONENT_OR_LIST, True, "stream_config", "StreamConfig"),
    components_mapping=_components_mapping,
)
_t(
    "ParametrizedComponentsResolver",
    "components_resolver",
    stream_parameters=_comp("stream_parameters", "StreamParametersDefinition", required=True),
    components_mapping=_components_mapping,
)
_t("StreamConfig", "stream_config", configs_pointer=Field(LIST, True), default_values=LST)
_t(
    "StreamParametersDefinition",
    "stream_parameters",
    list_of_parameters_for_stream=Field(LIST, True),
)
_t(
    "ComponentMappingDefinition",
    "component_mapping",
    field_path=Field(LIST, True),
    value=Field(ANY, True),
    value_type=S,
    create_or_update=BOOL,
    condition=S,
)
_t(
    "SimpleRetriever",
    "retriever",
    requester=_comp("requester", "HttpRequester", required=True),
    record_selector=_comp("record_selector", "RecordSelector", required=True),
    paginator=_comp("paginator", "NoPagination"),
    partition_router=Field(COMPONENT_OR_LIST, family="partition_router"),
    decoder=_comp("decoder", "JsonDecoder"),
    ignore_stream_slicer_parameters_on_paginated_requests=BOOL,
    pagination_reset=MAP,
    page_size_reduction=MAP,  # engine.factory.page_size
    request_window_splitting=MAP,  # refused: engine.manifest.not_implemented
)
_t(
    "AsyncRetriever",
    "retriever",
    record_selector=_comp("record_selector", "RecordSelector", required=True),
    status_mapping=_comp("status_mapping", "AsyncJobStatusMap", required=True),
    status_extractor=_comp("extractor", "DpathExtractor", required=True),
    download_target_extractor=_comp("extractor", "DpathExtractor"),
    urls_extractor=_comp("extractor", "DpathExtractor"),  # the 2024 name of the one above
    download_extractor=_comp("extractor", "DpathExtractor"),
    creation_requester=_comp("requester", "HttpRequester", required=True),
    polling_requester=_comp("requester", "HttpRequester", required=True),
    download_requester=_comp("requester", "HttpRequester", required=True),
    download_target_requester=_comp("requester", "HttpRequester"),
    url_requester=_comp("requester", "HttpRequester"),  # the 2024 name of the one above
    abort_requester=_comp("requester", "HttpRequester"),
    delete_requester=_comp("requester", "HttpRequester"),
    download_paginator=_comp("paginator", "NoPagination"),
    partition_router=Field(COMPONENT_OR_LIST, family="partition_router"),
    decoder=_comp("decoder", "JsonDecoder"),
    download_decoder=_comp("decoder", "JsonDecoder"),
    polling_job_timeout=S,
)
_t(
    "AsyncJobStatusMap",
    "status_mapping",
    running=Field(LIST, True),
    completed=Field(LIST, True),
    failed=Field(LIST, True),
    timeout=Field(LIST, True),
    ignore=LST,
)

# -- requests ----------------------------------------------------------------------------------
_t(
    "HttpRequester",
    "requester",
    url_base=S,
    path=S,
    url=S,
    http_method=S,
    authenticator=_comp("authenticator", "NoAuth"),
    error_handler=_comp("error_handler", "DefaultErrorHandler"),
    use_cache=BOOL,
    query_properties=_comp("query_properties", "QueryProperties"),
    fetch_properties_from_endpoint=_comp("properties_from_endpoint", "PropertiesFromEndpoint"),
    path_join=S,
    templates_read_state=BOOL,
    **_request_inputs,
)
# A QueryProperties may also be a value of request_parameters (see normalize.py).
_t(
    "QueryProperties",
    "query_properties",
    property_list=Field(ANY, True),  # a list of names, or a PropertiesFromEndpoint
    always_include_properties=LST,
    property_chunking=_comp("property_chunking", "PropertyChunking"),
    property_selector=_comp("property_selector", "JsonSchemaPropertySelector"),
)
_t(
    "PropertiesFromEndpoint",
    "properties_from_endpoint",
    property_field_path=Field(LIST, True),
    retriever=_comp("retriever", "SimpleRetriever", required=True),
)
_t(
    "PropertyChunking",
    "property_chunking",
    property_limit_type=REQ,
    property_limit=INT,
    record_merge_strategy=_comp("record_merge_strategy", "GroupByKeyMergeStrategy"),
)
_t("GroupByKeyMergeStrategy", "record_merge_strategy", key=Field(ANY, True))
_t("JsonSchemaPropertySelector", "property_selector", transformations=_comps("transformation"))
_t("RequestBodyJsonObject", "request_body", value=ANYF)
_t("RequestBodyUrlEncodedForm", "request_body", value=ANYF)
_t("RequestBodyPlainText", "request_body", value=S)
_t("RequestBodyGraphQL", "request_body", value=ANYF)
_t("RequestOption", "request_option", inject_into=REQ, field_name=S, field_path=LST)
_t("RequestPath", "request_option")

# -- authentication ----------------------------------------------------------------------------
_t("NoAuth", "authenticator")
_t(
    "ApiKeyAuthenticator",
    "authenticator",
    api_token=S,
    header=S,
    inject_into=_comp("request_option", "RequestOption"),
)
_t("BearerAuthenticator", "authenticator", api_token=REQ)
_t("BasicHttpAuthenticator", "authenticator", username=REQ, password=S)
_t(
    "OAuthAuthenticator",
    "authenticator",
    token_refresh_endpoint=S,
    client_id=S,
    client_secret=S,
    refresh_token=S,
    scopes=LST,
    token_expiry_date=S,
    token_expiry_date_format=S,
    access_token_name=S,
    access_token_value=S,
    expires_in_name=S,
    refresh_request_body=MAP,
    refresh_request_headers=MAP,
    grant_type=S,
    grant_type_name=S,
    client_id_name=S,
    client_secret_name=S,
    refresh_token_name=S,
    send_refresh_request_as_query_params=BOOL,
    refresh_token_updater=MAP,
    profile_assertion=ANYF,
    use_profile_assertion=BOOL,
    refresh_token_error_status_codes=LST,
    refresh_token_error_key=S,
    refresh_token_error_values=LST,
)
_t(
    "SessionTokenAuthenticator",
    "authenticator",
    login_requester=_comp("requester", "HttpRequester", required=True),
    session_token_path=Field(LIST, required=True),
    expiration_duration=S,
    request_authentication=_comp("session_auth", required=True),
    decoder=_comp("decoder", "JsonDecoder"),
)
_t(
    "SessionTokenRequestApiKeyAuthenticator",
    "session_auth",
    inject_into=_comp("request_option", "RequestOption", required=True),
)
_t("SessionTokenRequestBearerAuthenticator", "session_auth")
# The reference's schema names these two by short enum values ("type: ApiKey", "type: Bearer"),
# valid only where a session token's request authentication goes; the long names stay accepted.
SHORT_NAMES: dict[str, dict[str, str]] = {
    "session_auth": {
        "ApiKey": "SessionTokenRequestApiKeyAuthenticator",
        "Bearer": "SessionTokenRequestBearerAuthenticator",
    }
}
_t(
    "SelectiveAuthenticator",
    "authenticator",
    authenticator_selection_path=Field(LIST, True),
    authenticators=Field(MAPPING, required=True),
)
for _name in ("JwtAuthenticator", "LegacySessionTokenAuthenticator"):
    _unsupported(_name, "authenticator", f"{_name} is not supported yet", **{})
_by_reference(
    "RateLimitedMultipleTokenAuthenticator",
    "authenticator",
    tokens=Field(ANY, True),
    token_delimiter=S,
    auth_method=S,
    header=S,
    quota_status_source=Field(ANY, True),
    quotas=Field(ANY, True),
    max_wait_time=S,
    budget_reserve_fraction=S,
    budget_min_reserve=S,
)

# -- pagination --------------------------------------------------------------------------------
_t("NoPagination", "paginator")
_t(
    "DefaultPaginator",
    "paginator",
    pagination_strategy=_comp("pagination_strategy", required=True),
    page_size_option=_comp("request_option", "RequestOption"),
    page_token_option=_comp("request_option", "RequestOption"),
    decoder=_comp("decoder", "JsonDecoder"),
)
_t(
    "PageIncrement",
    "pagination_strategy",
    page_size=S,
    start_from_page=S,
    inject_on_first_request=BOOL,
)
_t("OffsetIncrement", "pagination_strategy", page_size=S, inject_on_first_request=BOOL)
_t(
    "CursorPagination",
    "pagination_strategy",
    cursor_value=REQ,
    stop_condition=S,
    page_size=S,
    decoder=_comp("decoder", "JsonDecoder"),
)

# -- records -----------------------------------------------------------------------------------
_t(
    "RecordSelector",
    "record_selector",
    extractor=_comp("extractor", "DpathExtractor", required=True),
    record_filter=_comp("record_filter", "RecordFilter"),
    schema_normalization=ANYF,
    transform_before_filtering=BOOL,
)
_t(
    "DpathExtractor",
    "extractor",
    field_path=LST,
    decoder=_comp("decoder", "JsonDecoder"),
    record_expander=_comp("record_expander", "RecordExpander"),
)
_t(
    "RecordExpander",
    "record_expander",
    expand_records_from_field=Field(LIST, True),
    remain_original_record=BOOL,
    on_no_records=S,
    parent_fields=LST,
    merge_parent=BOOL,
    truncation_indicator_path=LST,
    truncated_list_retriever=ANYF,
)
_t("RecordFilter", "record_filter", condition=S)
_t(
    "AddFields",
    "transformation",
    fields=_comps("added_field", "AddedFieldDefinition", True),
    condition=S,
)
_t(
    "AddedFieldDefinition",
    "added_field",
    path=Field(LIST, True),
    value=Field(ANY, True),
    value_type=S,
)
_t("RemoveFields", "transformation", field_pointers=Field(LIST, True), condition=S)
_t("KeysToLower", "transformation")
_t("KeysToSnakeCase", "transformation")
_t("KeysReplace", "transformation", old=REQ, new=REQ)
_t("FlattenFields", "transformation", flatten_lists=BOOL)
_t(
    "DpathFlattenFields",
    "transformation",
    field_path=Field(LIST, True),
    delete_origin_value=BOOL,
    replace_record=BOOL,
    key_transformation=MAP,
)

# -- schemas -----------------------------------------------------------------------------------
_t("JsonFileSchemaLoader", "schema_loader", file_path=S)
_t("InlineSchemaLoader", "schema_loader", schema=MAP)
_by_reference(
    "DynamicSchemaLoader",
    "schema_loader",
    retriever=Field(ANY, True),
    schema_type_identifier=Field(ANY, True),
    schema_transformations=ANYF,
    schema_filter=ANYF,
)

# -- decoders ----------------------------------------------------------------------------------
for _name in ("JsonDecoder", "JsonlDecoder", "XmlDecoder", "IterableDecoder"):
    _t(_name, "decoder")
_t("CsvDecoder", "decoder", encoding=S, delimiter=S, set_values_to_none=LST)
_t("GzipDecoder", "decoder", decoder=_comp("decoder", "JsonDecoder"))
_t("JsonItemsDecoder", "decoder", items_path=S)
_t("ZipfileDecoder", "decoder", decoder=_comp("decoder", "JsonDecoder"))

# -- error handling ----------------------------------------------------------------------------
_t(
    "DefaultErrorHandler",
    "error_handler",
    response_filters=_comps("response_filter", "HttpResponseFilter"),
    max_retries=S,
    backoff_strategies=_comps("backoff_strategy"),
    error_defaults=S,
)
_t(
    "CompositeErrorHandler",
    "error_handler",
    error_handlers=_comps("error_handler", "DefaultErrorHandler", True),
)
_t(
    "HttpResponseFilter",
    "response_filter",
    action=S,
    http_codes=LST,
    error_message_contains=S,
    predicate=S,
    error_message=S,
    failure_type=S,
)
_t("ExponentialBackoffStrategy", "backoff_strategy", factor=S, jitter_range_in_seconds=S)
_t(
    "ConstantBackoffStrategy",
    "backoff_strategy",
    backoff_time_in_seconds=REQ,
    jitter_range_in_seconds=S,
)
_t("WaitTimeFromHeader", "backoff_strategy", header=REQ, regex=S, max_waiting_time_in_seconds=S)
_t(
    "WaitUntilTimeFromHeader",
    "backoff_strategy",
    header=REQ,
    min_wait=S,
    regex=S,
    max_waiting_time_in_seconds=S,
)

# -- slicing and incremental sync --------------------------------------------------------------
_t(
    "DatetimeBasedCursor",
    "incremental_sync",
    cursor_field=REQ,
    datetime_format=Field(STRING, required=True),
    cursor_datetime_formats=LST,
    start_datetime=_comp("datetime", "MinMaxDatetime", required=True),
    end_datetime=_comp("datetime", "MinMaxDatetime"),
    step=S,
    cursor_granularity=S,
    lookback_window=S,
    start_time_option=_comp("request_option", "RequestOption"),
    end_time_option=_comp("request_option", "RequestOption"),
    partition_field_start=S,
    partition_field_end=S,
    is_data_feed=BOOL,
    is_client_side_incremental=BOOL,
    is_compare_strictly=BOOL,
    global_substream_cursor=BOOL,
    clamping=MAP,
    allow_catalog_defined_cursor_field=BOOL,
    date_rules=S,
)
_t("MinMaxDatetime", "datetime", datetime=REQ, datetime_format=S, min_datetime=S, max_datetime=S)
_t(
    "IncrementingCountCursor",
    "incremental_sync",
    cursor_field=REQ,
    start_value=S,
    start_value_option=_comp("request_option", "RequestOption"),
)
_t(
    "ListPartitionRouter",
    "partition_router",
    values=Field(ANY, True),
    cursor_field=REQ,
    request_option=_comp("request_option", "RequestOption"),
)
_t(
    "SubstreamPartitionRouter",
    "partition_router",
    parent_stream_configs=_comps("parent_stream_config", "ParentStreamConfig", True),
)
_t(
    "ParentStreamConfig",
    "parent_stream_config",
    stream=_comp("stream", "DeclarativeStream", required=True),
    parent_key=REQ,
    partition_field=REQ,
    request_option=_comp("request_option", "RequestOption"),
    incremental_dependency=BOOL,
    extra_fields=LST,
    lazy_read_pointer=LST,
)
_t(
    "GroupingPartitionRouter",
    "partition_router",
    group_size=REQ,
    underlying_partition_router=_comp("partition_router", required=True),
    deduplicate=BOOL,
)
_t(
    "UnionPartitionRouter",
    "partition_router",
    partition_field=REQ,
    partition_routers=_comps("partition_router", required=True),
)
_t("LegacyToPerPartitionStateMigration", "state_migration")

# -- custom (Python) components ----------------------------------------------------------------
CUSTOM_TYPES = {
    "authenticator": "CustomAuthenticator",
    "backoff_strategy": "CustomBackoffStrategy",
    "error_handler": "CustomErrorHandler",
    "pagination_strategy": "CustomPaginationStrategy",
    "extractor": "CustomRecordExtractor",
    "record_filter": "CustomRecordFilter",
    "requester": "CustomRequester",
    "retriever": "CustomRetriever",
    "partition_router": "CustomPartitionRouter",
    "schema_loader": "CustomSchemaLoader",
    "state_migration": "CustomStateMigration",
    "transformation": "CustomTransformation",
    "decoder": "CustomDecoder",
    "incremental_sync": "CustomIncrementalSync",
    "paginator": "CustomPaginator",
    "stream": "CustomStream",
}
for _family, _name in CUSTOM_TYPES.items():
    _custom(_name, _family)

TYPES: dict[str, ComponentType] = {t.name: t for t in _TYPES}
FAMILIES: dict[str, set[str]] = {}
for _type in _TYPES:
    FAMILIES.setdefault(_type.family, set()).add(_type.name)

# Every field name any component knows: an unknown key that is one of these is a leftover of
# parameter propagation in published manifests (a warning), anything else is a typo (an error).
ALL_FIELD_NAMES: frozenset[str] = frozenset(f for t in _TYPES for f in t.fields)


def is_json_schema(value: Any) -> bool:
    """Mappings that describe JSON schemas are data, never components."""
    if not isinstance(value, dict):
        return False
    declared = value.get("type")
    return declared == "object" or (isinstance(declared, list) and "object" in declared)


# -- 2022 stream slicers: only reachable through SimpleRetriever.stream_slicer ------------------
_t("SingleSlice", "stream_slicer")
_t(
    "CartesianProductStreamSlicer",
    "stream_slicer",
    stream_slicers=_comps("stream_slicer", required=True),
)
TYPES["SimpleRetriever"].fields["stream_slicer"] = _comp("stream_slicer", "SingleSlice")
for _type in _TYPES[-2:]:
    TYPES[_type.name] = _type
    FAMILIES.setdefault(_type.family, set()).add(_type.name)

# A slot of family "stream_slicer" (2022) accepts the types that became cursors and routers.
FAMILY_MEMBERS: dict[str, set[str]] = {family: set(names) for family, names in FAMILIES.items()}
FAMILY_MEMBERS["stream_slicer"] |= FAMILIES["incremental_sync"] | FAMILIES["partition_router"]
ALL_FIELD_NAMES = frozenset(f for t in TYPES.values() for f in t.fields)

BY_REFERENCE = frozenset(t.name for t in TYPES.values() if t.by_reference)
