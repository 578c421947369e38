"""Server-side template injection: known payloads in manifest fields and in config values.

A payload in a manifest field is compiled and run by the sandbox, which must refuse it with a
TemplateError/EngineError. A payload in a config value is data: it is rendered as text, never
evaluated, so it reaches the API verbatim.
"""

from __future__ import annotations

import pytest
from manifests import modern
from support.api_server import ApiServer

from engine import load_source
from engine.errors import EngineError
from engine.templates.interpolation import InterpolatedString, TemplateError

PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ config.__class__.__init__.__globals__['os'].popen('id').read() }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ request.application.__globals__.__builtins__.__import__('os') }}",
    "{{ ''|attr('__class__')|attr('__mro__') }}",
    "{{ config|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ now_utc.__globals__ }}",
    "{{ now_utc().__class__.__base__.__subclasses__() }}",
    "{{ max.__self__.__import__('os') }}",
    "{{ config.update({'x': 1}) }}",
    "{{ config.clear() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% extends '/etc/passwd' %}",
    "{{ 'x' * 100000000 }}",
    "{{ [0] * 100000000 }}",
    "{{ 99 ** 999999 }}",
    "{{ range(100000000)|list }}",
    "{{ ().__class__.__bases__[0].__subclasses__()[59] }}",
    "{{ '%c'|format(95) * 2 ~ 'class' ~ '%c'|format(95) * 2 }}",
]
BLOCKED = [p for p in PAYLOADS if "%c" not in p]


@pytest.mark.parametrize("payload", BLOCKED)
def test_payloads_in_templates_are_refused_or_render_nothing(payload: str) -> None:
    """Refused outright, or (reading a name that does not exist) rendered as nothing."""
    try:
        value = InterpolatedString(payload).eval({"token": "t"}, stream_slice={})
    except TemplateError:
        return
    assert value == "", f"{payload!r} rendered {value!r}"


def test_building_dunder_names_from_text_gives_only_text() -> None:
    assert InterpolatedString(PAYLOADS[-1]).eval({}) == "__class__"


@pytest.mark.parametrize("payload", BLOCKED)
def test_payloads_in_manifest_fields_fail_the_read_cleanly(
    api_server: ApiServer, payload: str
) -> None:
    api_server.add_collection("/items", [{"id": 1}])
    manifest = modern(
        api_server.url,
        extra_requester="request_parameters:\n  q: " + _yaml_string(payload),
    )
    try:
        source = load_source(manifest, {"token": "t"})
        list(source.read_records("items"))
    except EngineError as error:
        assert "Traceback" not in str(error)
    assert all("q" not in r.query for r in api_server.requests)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_in_config_values_are_sent_as_plain_text(
    api_server: ApiServer, payload: str
) -> None:
    api_server.add_collection("/items", [{"id": 1}])
    manifest = modern(
        api_server.url,
        extra_requester="request_parameters:\n  q: \"{{ config['search'] }}\"",
        spec_properties="search: {type: string}",
    )
    source = load_source(manifest, {"search": payload})
    assert list(source.read_records("items")) == [{"id": 1}]
    (request,) = api_server.requests
    assert request.param("q") == payload


def _yaml_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
