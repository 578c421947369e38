"""The template sandbox bounds what one render may cost: output size, loop iterations, widths,
string building, and the time a manifest's regular expression may run."""

from __future__ import annotations

import time

import pytest
from manifests import modern
from support.api_server import ApiServer, Response

from engine import load_source
from engine.errors import ReadError
from engine.templates.interpolation import InterpolatedString, TemplateError

HOSTILE = {
    "center filter": "{{ 'x'|center(10**9) }}",
    "ljust": "{{ 'x'.ljust(10**9) }}",
    "rjust": "{{ 'x'.rjust(10**9) }}",
    "zfill": "{{ 'x'.zfill(999999999) }}",
    "center method": "{{ 'x'.center(10**9) }}",
    "expandtabs": "{{ ('\\t' * 1000).expandtabs(10**6) }}",
    "indent": "{{ ('a\\n' * 1000)|indent(10**6) }}",
    "percent width": "{{ '%999999999d' % 1 }}",
    "percent star": "{{ '%*d' % (999999999, 1) }}",
    "format width": "{{ '{:>999999999}'.format(1) }}",
    "format nested width": "{{ '{:{}}'.format(1, 999999999) }}",
    "format keyword width": "{{ '{:>{w}}'.format(1, w=999999999) }}",
    "format filter": "{{ '%999999999s'|format(1) }}",
    "lipsum": "{{ lipsum(10**6) }}",
    "nested loops": "{% set s = 'x' * 1000 %}{% for a in s %}{% for b in s %}{% for c in s %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    "doubling": "{% set ns = namespace(s='xx') %}{% for i in 'x' * 64 %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "replace filter": "{{ ('x' * 1000000)|replace('x', 'y' * 1000) }}",
    "join method": "{{ ('x' * 1000000).join(['a'] * 1000) }}",
    "join filter": "{{ (['a'] * 1000)|join('x' * 1000000) }}",
    "output": "{% for i in 'x' * 100000 %}{{ 'y' * 100 }}{% endfor %}",
    "plus doubling": "{% set ns = namespace(s='xx') %}{% for i in 'x' * 64 %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    "list doubling": "{% set l = [1] %}{% for i in 'x' * 64 %}{% set _ = l.extend(l) %}"
    "{% endfor %}{{ l|length }}",
    "list plus doubling": "{% set ns = namespace(l=[1]) %}{% for i in 'x' * 64 %}"
    "{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}",
    "dict update": "{% set d = {} %}{% for i in 'x' * 2000 %}"
    "{% set _ = d.update(d.items()|list + [(i ~ loop.index, 1)] * 1000) %}{% endfor %}",
    "appends": "{% set l = [] %}{% for i in 'x' * 1000 %}{% for j in 'x' * 1001 %}"
    "{% set _ = l.append(j) %}{% endfor %}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_render_that_would_blow_up_is_refused(name: str) -> None:
    started = time.process_time()
    with pytest.raises(TemplateError, match="is not allowed"):
        InterpolatedString(HOSTILE[name]).eval_str({})
    # A guard against unbounded work, not a speed test: the loop cap lets up to 1,000,000
    # iterations run before it refuses (~6 µs each in the sandbox: 3-6 CPU s for "appends" on a
    # shared 2-core machine, where a bound of 5 s failed once), the others stop at once.
    assert time.process_time() - started < 20


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ 'x'.center(5) }}", "  x  "),
        ("{{ '%5.1f' % 3.14159 }}", "  3.1"),
        ("{{ '{:>{w}}'.format(1, w=4) }}", "   1"),
        ("{% for i in [1, 2, 3] %}{{ i }}{% endfor %}", "123"),
        ("{{ 'a' ~ 'b' ~ 1 }}", "ab1"),
        ("{{ ['a', 'b']|join(',') }}", "a,b"),
        ("{{ 'abc'|replace('b', 'XY') }}", "aXYc"),
        ("{{ 'abc'|regex_replace('b', 'X') }}", "aXc"),
        ("{{ 'id=42'|regex_search('id=(\\\\d+)') }}", "42"),
        ("{{ ('a\\nb')|indent(2) }}", "a\n  b"),
        ("{{ 'a' + 'b' }}{{ 1 + 2 }}{{ [1] + [2] }}{{ (1,) + (2,) }}", "ab3[1, 2](1, 2)"),
        # airbyte-cdk's sandbox lets a template build a list or dict it wrote itself (bing-ads,
        # gitlab collect ids this way); values handed to the template stay unchangeable.
        (
            "{% set ids = [] %}{% for r in [{'id': 1}, {'id': 2}] %}"
            "{% set _ = ids.append(r.id) %}{% endfor %}{{ ids }}",
            "[1, 2]",
        ),
        ("{% set d = {} %}{% set _ = d.update(a=1) %}{{ d }}", "{'a': 1}"),
        ("{% set l = [1] + [2] %}{% set _ = l.insert(0, 0) %}{{ l }}", "[0, 1, 2]"),
    ],
)
def test_ordinary_templates_still_render(template: str, expected: str) -> None:
    assert InterpolatedString(template).eval_str({}) == expected


def test_the_budget_is_per_render() -> None:
    template = InterpolatedString("{{ 'y' * 900000 }}")
    for _ in range(3):
        assert len(template.eval_str({})) == 900_000


def test_a_backtracking_regex_from_a_manifest_is_cut_off() -> None:
    evil = "{{ ('a' * 5000 ~ '!')|regex_search('^(a|a?)+$') }}"
    started = time.monotonic()
    with pytest.raises(TemplateError, match="ran longer than 1 s"):
        InterpolatedString(evil).eval_str({})
    assert time.monotonic() - started < 30


def test_a_backtracking_header_regex_is_no_wait(api_server: ApiServer) -> None:
    api_server.fail_next("/items", Response(429, {}, {"X-Wait": "a" * 5000 + "!"}))
    api_server.add_collection("/items", [{"id": 1}])
    handler = """
    type: DefaultErrorHandler
    backoff_strategies: [{type: WaitTimeFromHeader, header: X-Wait, regex: "^(a|a?)+$"}]
    """
    source = load_source(modern(api_server.url, error_handler=handler), {})
    waits: list[float] = []
    source.client.sleep = waits.append
    assert list(source.read_records("items")) == [{"id": 1}]
    assert waits == [1.0]  # the header could not be read in time: the default backoff
    source.close()


def test_a_hostile_template_in_a_manifest_fails_the_read_clearly(api_server: ApiServer) -> None:
    api_server.add_collection("/items", [{"id": 1}])
    manifest = modern(
        api_server.url, extra_requester="request_parameters: {q: \"{{ 'x'|center(10**9) }}\"}"
    )
    with pytest.raises((TemplateError, ReadError), match="center would write more than"):
        list(load_source(manifest, {}).read_records("items"))
