"""Which values a manifest sends as credentials: each becomes a secret of the source's masker.

A spec does not always mark its secrets (``airbyte_secret``), so the masker also learns, when the
source is built, every value the manifest itself sends as a credential:

- every field of an authenticator (tokens, usernames, passwords, client ids and secrets, the
  OAuth refresh body and headers, everything a session-token login request sends from config);
- every request header, query parameter or body field built from config whose name reads like
  a credential (``key``, ``token``, ``secret``, ``password``, ``signature``, ...).

Values written in the manifest itself are not secrets: manifests are published.

With each rendered value go the config values its template reads: an API may echo the bare key
of an ``Authorization: Token {{ config['key'] }}`` header.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2 import nodes

from engine.errors import EngineError
from engine.secrets import SENSITIVE_NAME
from engine.templates.interpolation import InterpolatedString

if TYPE_CHECKING:
    from engine.factory.context import BuildContext

REQUEST_OPTION_FIELDS = (
    "request_parameters",
    "request_headers",
    "request_body_data",
    "request_body_json",
)
_PARSER = jinja2.Environment()  # parsing only: nothing is rendered with it


def register_template(ctx: BuildContext, template: Any, parameters: Any = None) -> None:
    """Register what ``template`` renders from the manifest and config, and the config values
    it reads. Parts that only a request provides (slice, page token) render empty here."""
    if not isinstance(template, str) or not template:
        return
    try:
        compiled = InterpolatedString(template, parameters=parameters)
        rendered = compiled.eval_str(ctx.config)
    except EngineError:
        rendered = ""
    ctx.masker.add(rendered, *config_values_read(template, ctx.config))


def register_request_options(ctx: BuildContext, d: Mapping[str, Any], *, login: bool) -> None:
    """The credentials among a requester's options: those named like one, or, for a login
    request (``login``), every value it builds from config."""
    parameters = d.get("$parameters")
    for field in REQUEST_OPTION_FIELDS:
        for name, template in _named_leaves(d.get(field)):
            reads_config = isinstance(template, str) and "config" in template
            if reads_config and (login or SENSITIVE_NAME.search(str(name))):
                register_template(ctx, template, parameters)


def config_values_read(template: str, config: Mapping[str, Any]) -> list[str]:
    """The text and number values of ``config`` that ``template`` looks up by constant keys
    (``config['a']``, ``config.a.b``, ``config.get('a')``)."""
    if "config" not in template:
        return []
    try:
        tree = _PARSER.parse(template)
    except jinja2.TemplateSyntaxError:
        return []
    found = []
    for node in tree.find_all((nodes.Getitem, nodes.Getattr, nodes.Call)):
        keys = _config_path(node)
        if keys is None:
            continue
        value: Any = config
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            found.append(str(value))
    return found


def _config_path(node: nodes.Node) -> list[str] | None:
    """``['a', 'b']`` for ``config['a'].b`` (or ``config.get('a')``), None for other nodes."""
    keys: list[str] = []
    while True:
        if isinstance(node, nodes.Call):
            attribute = node.node
            if not (
                isinstance(attribute, nodes.Getattr)
                and attribute.attr == "get"
                and node.args
                and isinstance(node.args[0], nodes.Const)
            ):
                return None
            keys.append(str(node.args[0].value))
            node = attribute.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            keys.append(str(node.arg.value))
            node = node.node
        elif isinstance(node, nodes.Getattr):
            keys.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Name) and node.name == "config":
            return keys[::-1]
        else:
            return None


def _named_leaves(value: Any, name: str = "") -> Iterator[tuple[str, Any]]:
    """(name, value) of each leaf of a mapping of options; a leaf in a list keeps the list's
    name. A whole-mapping template (a string) counts as one leaf named after the field."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _named_leaves(item, str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _named_leaves(item, name)
    elif value is not None:
        yield name, value
