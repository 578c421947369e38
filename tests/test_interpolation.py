"""Jinja interpolation: evaluation algorithm, macros, filters, wrappers and the sandbox."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.templates.interpolation import (
    InterpolatedBoolean,
    InterpolatedMapping,
    InterpolatedNestedMapping,
    InterpolatedString,
    TemplateError,
    literal,
)

UTC = datetime.timezone.utc
CONFIG = {
    "page_size": 10,
    "start_date": "2021-02-03T04:05:06Z",
    "api_key": "s3cr3t",
    "nested": {"a": 1},
    "repos": ["a", "b"],
    "empty": "",
}


def render(template: str, config: dict | None = None, **context: Any) -> Any:
    return InterpolatedString(template).eval(CONFIG if config is None else config, **context)


# --- evaluation algorithm -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ 10 }}", 10),
        ("{{ config.page_size }}", 10),
        ("{{ config['page_size'] }}", 10),
        ("True", True),
        ("False", False),
        ("None", None),
        ("[1, 2]", [1, 2]),
        ("{{ config.repos }}", ["a", "b"]),
        ("{{ config.nested }}", {"a": 1}),
        ("{'a': 1}", {"a": 1}),
        ("(1, 2)", (1, 2)),
        ("1.5", 1.5),
        ("-3", -3),
        ("0", 0),
        ("12345", 12345),
        ("2022-01-01", "2022-01-01"),
        ("abc", "abc"),
        ("007", "007"),
        ("2021-09-01 00:00:00+00:00", "2021-09-01 00:00:00+00:00"),
        ("1j", "1j"),
        ("1+2j", "1+2j"),
        ("'quoted'", "quoted"),
        ("True ", True),
        ("None, 1", (None, 1)),
        ("Trueish", "Trueish"),
        ("b", "b"),
        ("{{ config.start_date }}", "2021-02-03T04:05:06Z"),
        ("/users/{{ config.page_size }}/items", "/users/10/items"),
        ('{{ "\\n" }}', "\n"),
    ],
)
def test_literal_coercion(template: str, expected: Any) -> None:
    result = render(template)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "valid_types", "expected"),
    [
        ("12345", (str,), "12345"),
        ("12345", (int,), 12345),
        ("1.5", (int,), "1.5"),
        ("[1, 2]", (str, int, float, bool), "[1, 2]"),
        ("True", (int,), True),  # bool is an int, as in Python
        ("abc", (int,), "abc"),
        ("1j", (complex,), 1j),
        ("None", (str,), "None"),
    ],
)
def test_valid_types(text: str, valid_types: tuple[type, ...], expected: Any) -> None:
    assert literal(text, valid_types) == expected
    assert InterpolatedString(text).eval({}, valid_types=valid_types) == expected
    assert InterpolatedString(f"{{{{ '{text}' }}}}").eval({}, valid_types=valid_types) == expected


def test_literal_passes_non_text_through() -> None:
    assert literal("") == ""
    assert literal(5) == 5  # type: ignore[arg-type]


def test_missing_values_render_empty_without_default() -> None:
    """The reference runner's strings fall back to their own text, which renders "" again."""
    assert render("{{ config.missing }}") == ""
    assert render("{{ config['missing'] }}") == ""
    assert render("{{ config.empty }}") == ""
    assert render("") == ""
    assert render("{{ nobody }}") == ""


@pytest.mark.parametrize(
    "template", ["{{ config.missing.deeper }}", "{{ config['api_key'].get('x') }}"]
)
def test_reading_into_an_undefined_value_without_default_fails(template: str) -> None:
    """Both reference runtimes fall back to the string itself, which raises again."""
    string = InterpolatedString(template, where="streams[0].retriever.requester.path")
    with pytest.raises(
        TemplateError, match=r"^streams\[0\]\.retriever\.requester\.path: "
    ) as error:
        string.eval(CONFIG)
    assert "s3cr3t" not in str(error.value)
    assert InterpolatedMapping({"k": template}).eval(CONFIG) == {}
    assert InterpolatedNestedMapping({"k": [template]}).eval(CONFIG) == {"k": [None]}
    assert InterpolatedBoolean(template).eval(CONFIG) is False


def test_missing_values_inside_mappings_leave_the_entry_out() -> None:
    mapping = InterpolatedMapping({"a": "{{ config.missing }}", "b": "{{ config.page_size }}"})
    assert mapping.eval(CONFIG) == {"b": 10}


def test_missing_value_inside_text_renders_empty() -> None:
    assert render("/items/{{ config.missing }}") == "/items/"


def test_default_is_rendered_when_the_result_is_empty() -> None:
    string = InterpolatedString("{{ config.missing }}", default="{{ config.page_size * 2 }}")
    assert string.eval(CONFIG) == 20
    assert InterpolatedString("{{ a.b.c }}", default="fallback").eval(CONFIG) == "fallback"
    assert InterpolatedString("", default="x").eval(CONFIG) == "x"
    assert InterpolatedString("{{ config.page_size }}", default="x").eval(CONFIG) == 10


def test_default_equal_to_the_template_reproduces_airbyte_empty_string() -> None:
    template = "{{ config.missing }}"
    assert InterpolatedString(template, default=template).eval(CONFIG) == ""


def test_default_that_reads_undefined_attributes_is_an_error() -> None:
    string = InterpolatedString("{{ a.b }}", default="{{ a.b }}")
    with pytest.raises(TemplateError, match=r"\{\{ a\.b \}\}"):
        string.eval(CONFIG)


def test_jinja_default_filter_and_or() -> None:
    assert render("{{ config.missing | default('v') }}") == "v"
    assert render("/rates/{{ stream_slice['start'] or 'latest' }}", stream_slice={}) == (
        "/rates/latest"
    )


def test_type_error_during_render_returns_the_template_text() -> None:
    assert render("{{ config.start_date + 1 }}") == "{{ config.start_date + 1 }}"


def test_other_render_errors_name_the_template() -> None:
    with pytest.raises(TemplateError, match=r"'\{\{ 1 / 0 \}\}' failed: ZeroDivisionError"):
        render("{{ 1 / 0 }}")


def test_syntax_errors_name_the_template() -> None:
    with pytest.raises(TemplateError, match=r"Invalid template '\{\{ config\.x \}'"):
        InterpolatedString("{{ config.x }")
    with pytest.raises(TemplateError, match="line 2"):
        InterpolatedString("ok\n{% if %}")


def test_non_string_input_is_rejected() -> None:
    with pytest.raises(TemplateError, match=r"Expected a string.*int"):
        InterpolatedString(10)  # type: ignore[arg-type]


def test_context_has_config_parameters_options_and_caller_variables() -> None:
    string = InterpolatedString(
        "{{ parameters.name }}-{{ options['name'] }}-{{ record.id }}-{{ next_page_token }}",
        parameters={"name": "users"},
    )
    assert string.eval(CONFIG, record={"id": 7}, next_page_token=None) == "users-users-7-None"


def test_stream_slice_aliases() -> None:
    template = "{{ stream_slice.id }}/{{ stream_interval.id }}/{{ stream_partition['id'] }}"
    assert render(template, stream_slice={"id": 3}) == "3/3/3"
    assert (
        render("{{ stream_partition.id }}", stream_slice={"id": 4}, stream_partition={"id": 5}) == 5
    )


def test_record_get_of_missing_key_is_none() -> None:
    assert render("{{ record.get('x') }}", record={}) is None


def test_response_with_underscore_keys() -> None:
    assert render("{{ response._metadata.next }}", response={"_metadata": {"next": "p2"}}) == "p2"


def test_constant_strings() -> None:
    string = InterpolatedString("12345")
    assert string.is_constant
    assert string.variables == frozenset()
    assert string.eval(CONFIG) == 12345
    assert string.eval(CONFIG, valid_types=(str,)) == "12345"
    assert string.eval_str(CONFIG) == "12345"
    assert string.raw == "12345"
    assert not InterpolatedString("{# comment #}").is_constant


def test_constant_lists_are_fresh_per_evaluation() -> None:
    string = InterpolatedString("[1, 2]")
    first = string.eval(CONFIG)
    first.append(3)
    assert string.eval(CONFIG) == [1, 2]


def test_variables_are_the_names_the_template_reads() -> None:
    string = InterpolatedString(
        "{% set x = 1 %}{{ config.a }}{{ stream_slice['b'] }}{{ now_utc() }}{{ x }}{{ y | hash }}"
    )
    assert not string.is_constant
    assert string.variables == frozenset({"config", "stream_slice", "y"})


def test_eval_str_skips_literal_coercion() -> None:
    assert InterpolatedString("{{ config.page_size }}").eval_str(CONFIG) == "10"
    assert InterpolatedString("{{ config.missing }}").eval_str(CONFIG) == ""
    assert InterpolatedString("{{ config.missing }}", default="d").eval_str(CONFIG) == "d"
    assert InterpolatedString("None").eval_str(CONFIG) == "None"


def test_templates_are_compiled_once_and_shared() -> None:
    first = InterpolatedString("{{ config.shared_template_probe }}")
    second = InterpolatedString("{{ config.shared_template_probe }}")
    assert first._template is second._template


def test_evaluation_does_not_mutate_inputs() -> None:
    config = {"a": 1}
    context = {"stream_slice": {"id": 1}}
    render("{{ config.a }}{{ stream_partition.id }}", config, **context)
    assert config == {"a": 1}
    assert context == {"stream_slice": {"id": 1}}


# --- macros ---------------------------------------------------------------------------------------


def test_now_utc() -> None:
    before = datetime.datetime.now(UTC)
    rendered = render("{{ now_utc() }}")
    after = datetime.datetime.now(UTC)
    parsed = datetime.datetime.fromisoformat(rendered)
    assert parsed.utcoffset() == datetime.timedelta(0)
    assert before <= parsed <= after
    assert render("{{ now_utc().strftime('%Y') }}") in {before.year, after.year}


def test_now_local_is_naive() -> None:
    rendered = render("{{ now_local() }}")
    assert datetime.datetime.fromisoformat(rendered).tzinfo is None


def test_today_utc_and_today_with_timezone() -> None:
    before = datetime.datetime.now(UTC).date()
    today = render("{{ today_utc() }}")
    assert today in {before.isoformat(), datetime.datetime.now(UTC).date().isoformat()}
    zone = "Pacific/Kiritimati"
    expected = {datetime.datetime.now(ZoneInfo(zone)).date().isoformat()}
    rendered = render(f"{{{{ today_with_timezone('{zone}') }}}}")
    expected.add(datetime.datetime.now(ZoneInfo(zone)).date().isoformat())
    assert rendered in expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ timestamp(1612325106) }}", 1612325106),
        ("{{ timestamp(1612325106.9) }}", 1612325106),
        ("{{ timestamp('2021-02-03T04:05:06Z') }}", 1612325106.0),
        ("{{ timestamp('2021-02-03T04:05:06') }}", 1612325106.0),
        ("{{ timestamp('2021-02-03T06:05:06+02:00') }}", 1612325106.0),
        ("{{ timestamp('Feb 3 2021 04:05:06') }}", 1612325106.0),  # dateutil text (2022)
        ("{{ timestamp(config.start_date) * 1000 }}", 1612325106000.0),
        ("{{ timestamp(str_to_datetime('2021-02-03T04:05:06Z')) }}", 1612325106.0),
    ],
)
def test_timestamp(template: str, expected: float) -> None:
    result = render(template)
    assert result == expected
    assert type(result) is type(expected)


def test_str_to_datetime_converts_to_utc() -> None:
    assert render("{{ str_to_datetime('2021-02-03T06:05:06+02:00') }}") == (
        "2021-02-03 04:05:06+00:00"
    )
    assert render("{{ str_to_datetime('2021-02-03') }}") == "2021-02-03 00:00:00+00:00"


def test_max_and_min() -> None:
    assert render("{{ max(1, 5, 3) }}") == 5
    assert render("{{ max([1, 5, 3]) }}") == 5
    assert render("{{ min(4, 2) }}") == 2
    assert render("{{ max('2021-01-01', config.start_date) }}") == "2021-02-03T04:05:06Z"


def test_day_delta() -> None:
    before = datetime.datetime.now(UTC)
    default_format = render("{{ day_delta(1) }}")
    after = datetime.datetime.now(UTC)
    parsed = datetime.datetime.strptime(default_format, "%Y-%m-%dT%H:%M:%S.%f%z")
    assert before + datetime.timedelta(days=1) <= parsed <= after + datetime.timedelta(days=1)
    custom = render("{{ day_delta(-2, format='%Y-%m-%d') }}")
    expected = {(d - datetime.timedelta(days=2)).date().isoformat() for d in (before, after)}
    assert custom in expected


def test_duration() -> None:
    assert render("{{ duration('P1D') }}") == "1 day, 0:00:00"
    assert render("{{ (str_to_datetime('2024-03-31') - duration('P1M')).day }}") == 29
    assert render("{{ (str_to_datetime('2024-01-31') + duration('P1M')).day }}") == 29
    assert render("{{ (str_to_datetime('2021-01-10') - duration('P30D')).month }}") == 12
    assert render("{{ duration('PT1H').total_seconds() }}") == 3600.0
    assert render("{{ (str_to_datetime('2024-01-31') + duration('1m')).month }}") == 2


def test_duration_errors_are_clear() -> None:
    with pytest.raises(TemplateError, match="Invalid duration 'soon'"):
        render("{{ duration('soon') }}")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ format_datetime(config.start_date, '%Y-%m-%d') }}", "2021-02-03"),
        ("{{ format_datetime('2021-02-03T06:05:06+02:00', '%H:%M') }}", "04:05"),
        (
            "{{ format_datetime('2021-02-03 04:05:06', '%Y-%m-%dT%H:%M:%S%z') }}",
            ("2021-02-03T04:05:06+0000"),
        ),
        ("{{ format_datetime('Feb 3 2021', '%Y-%m-%d') }}", "2021-02-03"),  # dateutil (2022)
        ("{{ format_datetime('03/02/2021', '%Y-%m-%d', '%d/%m/%Y') }}", "2021-02-03"),
        ("{{ format_datetime(1612325106, '%Y-%m-%dT%H:%M:%SZ') }}", "2021-02-03T04:05:06Z"),
        ("{{ format_datetime(1612325106789, '%Y-%m-%d', '%ms') }}", "2021-02-03"),
        ("{{ format_datetime(str_to_datetime(config.start_date), '%s') }}", 1612325106),
        ("{{ format_datetime(config.start_date, '%ms') }}", 1612325106000),
        ("{{ format_datetime(config.start_date, '%s_as_float') }}", 1612325106.0),
        (
            "{{ format_datetime(config.start_date, '%Y-%m-%dT%H:%M:%S.%_msZ') }}",
            ("2021-02-03T04:05:06.000Z"),
        ),
        ("{{ format_datetime(today_utc(), '%Y') }}", datetime.datetime.now(UTC).year),
        ("{{ format_datetime(now_utc(), '%Y') }}", datetime.datetime.now(UTC).year),
    ],
)
def test_format_datetime(template: str, expected: Any) -> None:
    assert render(template) == expected


def test_format_datetime_reports_unparseable_input() -> None:
    with pytest.raises(TemplateError, match="'not a date'"):
        render("{{ format_datetime('not a date', '%Y') }}")


def test_sanitize_url_camel_case_and_uuid() -> None:
    assert render("{{ sanitize_url('a b&c=d/e') }}") == "a+b%26c%3Dd%2Fe"
    assert render("{{ camel_case_to_snake_case('CamelCaseHTTPField') }}") == (
        "camel_case_h_t_t_p_field"
    )
    assert render("{{ camel_case_to_snake_case('already_snake') }}") == "already_snake"
    first, second = render("{{ generate_uuid() }}"), render("{{ generate_uuid() }}")
    assert uuid.UUID(first).version == 4
    assert first != second


def test_range_is_not_available() -> None:
    """The reference removes it (its templates naming it fail); so does the engine."""
    with pytest.raises(TemplateError, match="undefined"):
        render("{{ range(3) | list }}")


# --- filters --------------------------------------------------------------------------------------


def test_hash_filter() -> None:
    assert render("{{ 'abc' | hash }}") == hashlib.md5(b"abc").hexdigest()
    assert render("{{ 'abc' | hash('sha256') }}") == hashlib.sha256(b"abc").hexdigest()
    assert render("{{ 'abc' | hash('sha1', 'salt') }}") == hashlib.sha1(b"abcsalt").hexdigest()
    assert render("{{ 123 | hash }}") == hashlib.md5(b"123").hexdigest()
    with pytest.raises(TemplateError, match="unsupported hash type 'rot13'"):
        render("{{ 'abc' | hash('rot13') }}")


def test_base64_filters() -> None:
    assert render("{{ 'user:pässword' | base64encode }}") == (
        base64.b64encode("user:pässword".encode()).decode()
    )
    assert render("{{ 'dXNlcjpwYXNz' | base64decode }}") == "user:pass"
    assert render("{{ 'user:pass' | base64binascii_decode }}") == "dXNlcjpwYXNz"


def test_string_filter_keeps_json_text() -> None:
    assert render("{{ config.repos | string }}") == json.dumps(["a", "b"])
    assert render("{{ config.nested | string }}") == '{"a": 1}'
    assert render("{{ 'abc' | string }}") == "abc"
    assert render("{{ 12 | string }}") == "12"


def test_regex_filters() -> None:
    link = '<https://api.example.com/x?page=2>; rel="next"'
    assert render("{{ link | regex_search('<(.*)>') }}", link=link) == (
        "https://api.example.com/x?page=2"
    )
    assert render("{{ link | regex_search('nothing(here)') }}", link=link) == ""
    assert render("{{ 'a-b-c' | regex_replace('-', '_') }}") == "a_b_c"


def test_hmac_filter() -> None:
    expected = hmac.new(b"key", b"message", hashlib.sha256).hexdigest()
    assert render("{{ 'message' | hmac('key') }}") == expected
    assert render("{{ 'message' | hmac('key', 'sha256') }}") == expected
    with pytest.raises(TemplateError, match="only 'sha256'"):
        render("{{ 'message' | hmac('key', 'md5') }}")


def test_standard_jinja_filters_are_available() -> None:
    assert render("{{ config.repos | join(',') }}") == "a,b"
    assert render("{{ config.repos | length }}") == 2
    assert render("{{ '42' | int }}") == 42
    assert render("{{ config.nested | tojson }}") == {"a": 1}
    assert render("{{ config['include'] | lower }}", {"include": True}) == "true"


# --- sandbox --------------------------------------------------------------------------------------

SSTI_PAYLOADS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ config.__class__ }}",
    "{{ config.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ now_utc.__globals__ }}",
    "{{ now_utc().__class__ }}",
    "{{ format_datetime.__globals__['datetimes'] }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ config | attr('__class__') }}",
    "{{ config | attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ config['__class__'] }}",
    "{{ '{0.__class__}'.format(config) }}",
    "{{ ''.format.__globals__ }}",
    "{{ missing.__class__ }}",
    "{{ config.update({'api_key': 'x'}) }}",
    "{{ config.repos.append(1) }}",
    "{{ config.pop('api_key') }}",
    "{% set r = [config.repos] %}{{ r[0].append(1) }}",
    "{% set d = {'c': config} %}{{ d.c.update({'api_key': 'x'}) }}",
    "{{ ([1] + config.repos).__class__ }}",
    "{% set l = [] %}{{ l.__class__.__base__ }}",
]


@pytest.mark.parametrize("payload", SSTI_PAYLOADS)
def test_sandbox_blocks_escapes(payload: str) -> None:
    with pytest.raises(TemplateError) as error:
        render(payload)
    assert "not allowed" in str(error.value)
    assert repr(payload) in str(error.value)


@pytest.mark.parametrize(
    "template",
    ["{% include 'x' %}", "{% import 'x' as y %}", "{% from 'x' import y %}", "{% extends 'x' %}"],
)
def test_templates_cannot_load_other_templates(template: str) -> None:
    with pytest.raises(TemplateError, match="cannot include, import or extend"):
        InterpolatedString(template)


def test_loop_controls_are_not_enabled() -> None:
    with pytest.raises(TemplateError):
        InterpolatedString("{% for x in [1, 2] %}{% break %}{% endfor %}")


def test_sandbox_allows_ordinary_method_calls() -> None:
    assert render("{{ config['start_date'].replace('Z', '') }}") == "2021-02-03T04:05:06"
    assert render("{{ config.get('lookback', 0) }}") == 0
    assert render("{{ config.nested.items() | list }}") == [("a", 1)]
    assert render("{{ 'a,b'.split(',') }}") == ["a", "b"]


# --- InterpolatedBoolean --------------------------------------------------------------------------

FALSY = ["False", "false", "{}", "[]", "()", "", "0", "0.0", "{{ 0 }}", "{{ 0.0 }}", "{{ False }}"]
FALSY += ["{{ {} }}", "{{ [] }}", "{{ () }}", "{{ config.missing }}", "{{ record.a.b }}"]
TRUTHY = ["True", "true", "{{ None }}", "None", "1", "abc", "{{ [0] }}", "{{ config.page_size }}"]
TRUTHY += ["{{ 'x' in config.repos or config.page_size > 5 }}", " ", "0.1"]


@pytest.mark.parametrize("condition", FALSY)
def test_boolean_false_values(condition: str) -> None:
    assert InterpolatedBoolean(condition).eval(CONFIG, record={}) is False


@pytest.mark.parametrize("condition", TRUTHY)
def test_boolean_true_values(condition: str) -> None:
    assert InterpolatedBoolean(condition).eval(CONFIG, record={}) is True


def test_boolean_passes_python_bools_and_uses_context() -> None:
    assert InterpolatedBoolean(True).eval(CONFIG) is True
    assert InterpolatedBoolean(False).eval(CONFIG) is False
    condition = InterpolatedBoolean(
        "{{ record['object'] == parameters.kind }}", parameters={"kind": "card"}
    )
    assert condition.eval(CONFIG, record={"object": "card"}) is True
    assert condition.eval(CONFIG, record={"object": "bank"}) is False
    assert (
        InterpolatedBoolean("{{ 'next' not in headers['link'] }}").eval(
            None, headers={"link": {"next": {}}}
        )
        is False
    )


# --- mappings -------------------------------------------------------------------------------------


def test_mapping_renders_keys_and_values_and_drops_none() -> None:
    mapping = InterpolatedMapping(
        {
            "api_key": "{{ config.api_key }}",
            "{{ parameters.key_name }}": "{{ stream_slice.start }}",
            "page_size": "{{ config.page_size }}",
            "maybe": "{{ config.missing }}",
            "explicit_none": "{{ 'x' if config.page_size > 100 else None }}",
            "constant": "abc",
            "number": 5,
            "flag": False,
            "123": "{{ 1 }}",
        },
        parameters={"key_name": "since"},
    )
    assert mapping.eval(CONFIG, stream_slice={"start": "2021-01-01"}) == {
        "api_key": "s3cr3t",
        "since": "2021-01-01",
        "page_size": 10,
        "constant": "abc",
        "number": 5,
        "flag": False,
        "123": 1,
    }


def test_mapping_drops_entries_whose_key_is_missing() -> None:
    assert InterpolatedMapping({"{{ config.missing }}": "v"}).eval(CONFIG) == {}


def test_mapping_valid_value_types() -> None:
    mapping = InterpolatedMapping(
        {"ids": "{{ config.repos }}", "n": "{{ 3 }}"}, valid_value_types=(str, int, float, bool)
    )
    assert mapping.eval(CONFIG) == {"ids": "['a', 'b']", "n": 3}


def test_nested_mapping() -> None:
    body = InterpolatedNestedMapping(
        {
            "query": {
                "since": "{{ stream_slice.start }}",
                "limit": "{{ config.page_size }}",
                "absent": "{{ config.missing }}",
                "none": None,
                "tags": ["{{ config.repos[0] }}", "literal", 3, "{{ config.missing }}"],
                "{{ parameters.field }}": {"deep": "{{ config.nested.a }}"},
            },
            "version": 2,
        },
        parameters={"field": "filter"},
    )
    assert body.eval(CONFIG, stream_slice={"start": "2021-01-01"}) == {
        "query": {
            "since": "2021-01-01",
            "limit": 10,
            "tags": ["a", "literal", 3, None],
            "filter": {"deep": 1},
        },
        "version": 2,
    }


def test_nested_mapping_accepts_a_list_or_scalar_root() -> None:
    assert InterpolatedNestedMapping(["{{ config.page_size }}"]).eval(CONFIG) == [10]  # type: ignore[arg-type]
    assert InterpolatedNestedMapping("{{ config.page_size }}").eval(CONFIG) == 10  # type: ignore[arg-type]


def test_mapping_results_are_independent_copies() -> None:
    body = InterpolatedNestedMapping({"a": {"b": "c"}})
    first = body.eval(CONFIG)
    first["a"]["b"] = "changed"
    assert body.eval(CONFIG) == {"a": {"b": "c"}}


def test_flat_mapping_passes_non_string_values_through_untouched() -> None:
    nested = {"inner": "{{ config.page_size }}"}
    mapping = InterpolatedMapping({"ids": [1, "{{ x }}"], "obj": nested})
    assert mapping.eval(CONFIG) == {"ids": [1, "{{ x }}"], "obj": nested}


def test_constant_mappings_evaluate_without_context() -> None:
    assert InterpolatedMapping({"a": "1", "b": "x"}).eval(None) == {"a": 1, "b": "x"}
    assert InterpolatedNestedMapping({"a": ["1", {"b": "None"}]}).eval(None) == {"a": [1, {}]}
