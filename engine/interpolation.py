"""Jinja interpolation of manifest strings.

Every templatable manifest field is compiled here once, when components are built, and evaluated
per request or per record afterwards. Evaluation follows the declarative format: render, fall back
to a default when the result is empty, then turn Python-literal-looking text into values
(``"{{ 10 }}"`` is the int 10, ``"12345"`` too, ``"2022-01-01"`` stays a string).

Templates run in a Jinja sandbox: touching private or dunder attributes, mutating context
objects, or loading other templates raises :class:`TemplateError`. Lists and dicts a template
writes itself may be changed (``{% set _ = found.append(x) %}``), as airbyte-cdk allows, within
the render's item budget (:mod:`engine.template_limits`).
"""

from __future__ import annotations

import ast
import base64
import datetime
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment, SecurityError

from engine import datetimes, durations, template_limits
from engine.errors import EngineError

__all__ = [
    "InterpolatedBoolean",
    "InterpolatedMapping",
    "InterpolatedNestedMapping",
    "InterpolatedString",
    "LiteralText",
    "TemplateError",
    "literal",
]


class LiteralText(str):
    """Text that arrived as data (an API's value written into a stream template).

    Wherever it lands it stays exactly this text: compiled as a constant, never as a template
    (``{{ config['api_key'] }}`` in it renders nothing), never read as a number or a list. It
    survives copying and ``$parameters`` propagation because those move the object itself.
    """

    __slots__ = ()


class TemplateError(EngineError, ValueError):
    """A template that cannot be compiled or that did something the sandbox forbids.

    An EngineError, so that a template failing at read time (a payload the sandbox refused, a
    render that blew a limit) ends the read with the project's error, never a raw traceback.
    """

    failure_type = "config_error"


# --- macros (Jinja globals) ---------------------------------------------------------------------


def _to_datetime(value: str | datetime.date) -> datetime.datetime:
    """Datetimes pass through (naive means UTC), dates become UTC midnight, text is parsed."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=datetime.timezone.utc)
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time(), datetime.timezone.utc)
    return datetimes.parse_lenient_datetime(value)


def _now_local() -> datetime.datetime:
    """The process's local wall-clock time, naive (2022 macro)."""
    return datetime.datetime.now()


def _today_utc() -> datetime.date:
    return datetimes.now_utc().date()


def _today_with_timezone(timezone: str) -> datetime.date:
    """Today's date in an IANA time zone such as ``"Europe/Paris"``."""
    return datetime.datetime.now(ZoneInfo(timezone)).date()


def _timestamp(value: int | float | str | datetime.date) -> int | float:
    """Numbers truncate to int seconds; datetimes and date text give float epoch seconds (UTC)."""
    if isinstance(value, (int, float)):
        return int(value)
    return _to_datetime(value).timestamp()


def _str_to_datetime(value: str) -> datetime.datetime:
    """Parse date/datetime text (naive means UTC) and express it in UTC."""
    return _to_datetime(value).astimezone(datetime.timezone.utc)


def _day_delta(num_days: int, format: str = "%Y-%m-%dT%H:%M:%S.%f%z") -> str:
    """Now plus ``num_days`` days, formatted."""
    moved = datetimes.now_utc() + datetime.timedelta(days=num_days)
    return datetimes.format_datetime(moved, format)


def _duration(text: str) -> datetime.timedelta | durations.Duration:
    """A duration usable in datetime arithmetic: a timedelta, or a calendar-aware Duration when
    it counts months or years."""
    parsed = durations.parse_duration(text)
    return parsed.delta if parsed.months == 0 else parsed


def _format_datetime(
    value: datetime.date | str | int | float, format: str, input_format: str | None = None
) -> str:
    """Reformat a datetime, date text (``input_format`` or ISO/dateutil) or an epoch number."""
    if isinstance(value, datetime.date):
        parsed = _to_datetime(value)
    elif isinstance(value, (int, float)) or input_format:
        parsed = datetimes.parse_datetime(value, input_format or "%s")
    else:
        parsed = _str_to_datetime(value)
    return datetimes.format_datetime(parsed, format)


def _sanitize_url(value: str) -> str:
    return quote_plus(value)


def _camel_case_to_snake_case(value: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", value).lower()


def _generate_uuid() -> str:
    return str(uuid.uuid4())


# --- filters ------------------------------------------------------------------------------------

_HASH_TYPES = frozenset(hashlib.algorithms_guaranteed) - {"shake_128", "shake_256"}


def _hash_filter(value: Any, hash_type: str = "md5", salt: str | None = None) -> str:
    """Hex digest of ``str(value)`` (then ``salt``) with a hashlib algorithm."""
    if hash_type not in _HASH_TYPES:
        raise ValueError(
            f"hash: unsupported hash type {hash_type!r}; use one of {sorted(_HASH_TYPES)}"
        )
    digest = hashlib.new(hash_type, str(value).encode("utf-8"))
    if salt:
        digest.update(str(salt).encode("utf-8"))
    return digest.hexdigest()


def _base64encode(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode()


def _base64decode(value: str) -> str:
    return base64.b64decode(value.encode("utf-8")).decode()


def _base64binascii_decode(value: str) -> str:
    """Despite the name this *encodes* ASCII text as standard base64, as the format defines."""
    return base64.standard_b64encode(value.encode("ascii")).decode("ascii")


def _string_filter(value: Any) -> str:
    """Keep JSON text a string through literal coercion (wrapped in a triple-quoted literal)."""
    if isinstance(value, str):
        return value
    return '"""' + json.dumps(value) + '"""'


def _regex_search(value: str, regex: str) -> str:
    """The first capture group of the first match, or ``""`` (time-bounded: see
    `template_limits.py`)."""
    match = template_limits.search(regex, value)
    return match.group(1) if match and match.groups() else ""


def _regex_replace(value: str, regex: str, replacement: str) -> str:
    return template_limits.sub(regex, replacement, value)


def _hmac_filter(value: Any, key: str, hash_type: str = "sha256") -> str:
    if hash_type != "sha256":
        raise ValueError(f"hmac: only 'sha256' is supported, got {hash_type!r}")
    return hmac.new(key.encode(), str(value).encode(), hashlib.sha256).hexdigest()


# --- environment and compilation ----------------------------------------------------------------


class _Sandbox(ImmutableSandboxedEnvironment):
    """Raises on unsafe attribute access instead of rendering it as an empty string, so a
    template probing internals fails loudly rather than silently falling back to its default."""

    # Repetition, powers and concatenation are the cheap ways to make a one-line template eat
    # all memory or CPU ("{{ 'x' * 10**10 }}", "{{ 9**9**9 }}", a string added to itself in a
    # loop); they are checked before they run.
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """The template's own lists and dicts may be changed; nothing handed to it may."""
        if isinstance(obj, template_limits.BUILT):
            return SandboxedEnvironment.is_safe_attribute(self, obj, attr, value)
        return super().is_safe_attribute(obj, attr, value)

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} objects")

    def call(self, context: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
        template_limits.check_call(obj, args, kwargs)
        return super().call(context, obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        """``str.format`` through the sandbox's formatter, its widths checked first."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            template_limits.check_format(template, (*args, *kwargs.values()))
            return wrapped(*args, **kwargs)

        return checked

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "+":
            return template_limits.concatenated(left, right)
        if operator == "%":
            if isinstance(left, str):
                values = right if isinstance(right, tuple) else (right,)
                template_limits.check_format(left, values)
            return left % right
        if operator == "**":
            if _is_int(left) and _is_int(right) and left.bit_length() * right > MAX_POWER_BITS:
                raise SecurityError(f"a power of more than {MAX_POWER_BITS:,} bits")
            return left**right
        for sequence, count in ((left, right), (right, left)):
            repeated = isinstance(sequence, (str, bytes, list, tuple)) and _is_int(count)
            if repeated and len(sequence) * count > MAX_REPEATED_LENGTH:
                raise SecurityError(
                    f"a repetition producing more than {MAX_REPEATED_LENGTH:,} items"
                )
        return left * right


MAX_POWER_BITS = 100_000
MAX_REPEATED_LENGTH = 1_000_000


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_ENV = _Sandbox()
del _ENV.globals["range"]
_ENV.globals["lipsum"] = template_limits.bounded_lipsum(_ENV.globals["lipsum"])
_ENV.globals.update(template_limits.GLOBALS)
_ENV.filters.update(template_limits.bounded_filters(_ENV.filters))
_ENV.globals.update(
    now_utc=datetimes.now_utc,
    now_local=_now_local,
    today_utc=_today_utc,
    today_with_timezone=_today_with_timezone,
    timestamp=_timestamp,
    str_to_datetime=_str_to_datetime,
    max=max,
    min=min,
    day_delta=_day_delta,
    duration=_duration,
    format_datetime=_format_datetime,
    sanitize_url=_sanitize_url,
    camel_case_to_snake_case=_camel_case_to_snake_case,
    generate_uuid=_generate_uuid,
)
_ENV.filters.update(
    hash=_hash_filter,
    base64encode=_base64encode,
    base64decode=_base64decode,
    base64binascii_decode=_base64binascii_decode,
    string=_string_filter,
    regex_search=_regex_search,
    regex_replace=_regex_replace,
    hmac=_hmac_filter,
)
_GLOBALS = dict(_ENV.globals)
_GLOBAL_NAMES = frozenset(_GLOBALS)
_LOADING_NODES = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


@dataclass(frozen=True, slots=True)
class _Compiled:
    template: jinja2.Template
    variables: frozenset[str]


@lru_cache(maxsize=4096)
def _compile(source: str) -> _Compiled:
    """Compile once per distinct source text; many components share the same templates."""
    try:
        tree = _ENV.parse(source)
        if next(tree.find_all(_LOADING_NODES), None) is not None:
            raise TemplateError(
                f"Invalid template {source!r}: templates cannot include, import or extend others"
            )
        variables = frozenset(meta.find_undeclared_variables(tree)) - _GLOBAL_NAMES
        bounded = template_limits.bound_tree(tree, _ENV)
        return _Compiled(_ENV.from_string(bounded), variables)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"Invalid template {source!r}: {exc.message} (line {exc.lineno})"
        ) from None


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


# --- literal coercion ---------------------------------------------------------------------------

_NOT_LITERAL = object()
_KEYWORDS = {"True": True, "False": False, "None": None}
_STRING_PREFIXES = frozenset({"b", "r", "u", "br", "rb"})
_LEADING_WORD = re.compile(r"[^\W\d]\w*")


def _parse_literal(text: str) -> Any:
    """``ast.literal_eval`` of ``text`` or ``_NOT_LITERAL``, skipping the parser when the first
    characters already decide (most rendered values are plain words or digits)."""
    first = text[0]
    if first.isalpha():
        word = _LEADING_WORD.match(text).group()  # type: ignore[union-attr]
        if word == text and word in _KEYWORDS:
            return _KEYWORDS[word]
        quoted = word.lower() in _STRING_PREFIXES and text[len(word) : len(word) + 1] in ("'", '"')
        if word not in _KEYWORDS and not quoted:
            return _NOT_LITERAL
    elif text.isdigit() and text.isascii() and (first != "0" or len(text) == 1) and len(text) < 19:
        return int(text)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _choose(text: str, parsed: Any, valid_types: tuple[type, ...] | None) -> Any:
    if parsed is _NOT_LITERAL:
        return text
    if valid_types is None:
        return text if isinstance(parsed, complex) else parsed
    return parsed if isinstance(parsed, valid_types) else text


def literal(value: str, valid_types: tuple[type, ...] | None = None) -> Any:
    """The Python value ``value`` spells (int, float, bool, None, list, dict...), else ``value``.

    Complex numbers stay text; with ``valid_types``, so does any value of another type.
    """
    if not isinstance(value, str) or not value:
        return value
    return _choose(value, _parse_literal(value), valid_types)


# --- interpolated values ------------------------------------------------------------------------

_NO_PARAMETERS: Mapping[str, Any] = MappingProxyType({})
_KEY_TYPES = (str,)


def _variables(
    config: Mapping[str, Any] | None, parameters: Mapping[str, Any], context: dict[str, Any]
) -> dict[str, Any]:
    """Globals plus the evaluation variables, in one dict that Jinja uses as is."""
    variables = {**_GLOBALS, **context}
    variables["config"] = config
    variables["parameters"] = variables["options"] = parameters
    if "stream_slice" in context:
        stream_slice = context["stream_slice"]
        variables.setdefault("stream_interval", stream_slice)
        variables.setdefault("stream_partition", stream_slice)
    return variables


class InterpolatedString:
    """A manifest string compiled once and evaluated many times.

    ``default`` (itself a template) is used when the string renders empty or reads an attribute
    of an undefined value. The reference runners (airbyte-cdk 7 and the 2022 runtime) fall back
    to the string itself when there is no default, so an empty render stays ``""`` (a missing
    key renders as nothing: ``"{{ stream_partition['id'] }}"`` without an ``id`` is ``""``),
    while a render that reads an attribute of an undefined value (``.get()`` on a string, a
    key of a missing key) raises again and fails the stream: :class:`TemplateError` naming
    ``where``, the field's path. Inside a mapping (query parameters, headers, bodies) either
    case is ``None`` instead, which leaves the entry out; see :func:`_evaluate_leaf`.
    """

    __slots__ = (
        "_constant",
        "_default",
        "_parameters",
        "_template",
        "is_constant",
        "is_data",
        "raw",
        "variables",
        "where",
    )

    def __init__(
        self,
        value: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        default: str | None = None,
        where: str | None = None,
    ) -> None:
        if not isinstance(value, str):
            raise TemplateError(
                f"Expected a string to interpolate, got {type(value).__name__}: {value!r}"
            )
        data = self.is_data = isinstance(value, LiteralText)
        self.raw = str(value) if data else value  # what it yields is plain text
        self._parameters = parameters if parameters is not None else _NO_PARAMETERS
        self._default = None if default is None else InterpolatedString(default)
        self.where = where
        self.is_constant = data or not _is_template(value)
        if self.is_constant:
            self._template = None
            self.variables: frozenset[str] = frozenset()
            self._constant = _parse_literal(value) if value and not data else _NOT_LITERAL
        else:
            compiled = _compile(value)
            self._template = compiled.template
            self.variables = compiled.variables

    def __repr__(self) -> str:
        return f"InterpolatedString({self.raw!r})"

    def eval(
        self,
        config: Mapping[str, Any] | None,
        /,
        *,
        valid_types: tuple[type, ...] | None = None,
        **context: Any,
    ) -> Any:
        """Render with ``config``, the component's parameters and ``context``, then coerce."""
        if self.is_constant and self.raw:
            return self._constant_value(valid_types)
        variables = _variables(config, self._parameters, context)
        return self._evaluate(variables, valid_types, empty="", undefined_fails=True)

    def eval_str(self, config: Mapping[str, Any] | None, /, **context: Any) -> str:
        """The rendered text without literal coercion (``""`` when nothing renders)."""
        if self.is_constant and self.raw:
            return self.raw
        variables = _variables(config, self._parameters, context)
        text = self._render_or_empty(variables, undefined_fails=self._default is None)
        if text or self._default is None:
            return text
        return self._render_default(variables)

    def _constant_value(self, valid_types: tuple[type, ...] | None) -> Any:
        if isinstance(self._constant, (list, dict, set)):
            return literal(self.raw, valid_types)  # a fresh object: callers may mutate it
        return _choose(self.raw, self._constant, valid_types)

    def _evaluate(
        self,
        variables: dict[str, Any] | None,
        valid_types: tuple[type, ...] | None,
        empty: str | None = None,
        undefined_fails: bool = False,
    ) -> Any:
        """Steps 3-5 of the format's algorithm; ``variables`` may be None for constants.
        ``empty`` is the value of an empty render when there is no default; with
        ``undefined_fails`` (a lone string, not a mapping entry) an undefined value read with
        no default to fall back to fails."""
        if self.is_constant and self.raw:
            return self._constant_value(valid_types)
        strict = undefined_fails and self._default is None
        text = self._render_or_empty(variables, undefined_fails=strict)  # type: ignore[arg-type]
        if text:
            return literal(text, valid_types)
        if self._default is None:
            return empty
        return literal(self._render_default(variables), valid_types)  # type: ignore[arg-type]

    def _render_or_empty(self, variables: dict[str, Any], *, undefined_fails: bool) -> str:
        try:
            return self._render(variables)
        except jinja2.UndefinedError as exc:
            if undefined_fails:
                raise self._undefined(f"Template {self.raw!r}", exc) from None
            return ""

    def _render_default(self, variables: dict[str, Any]) -> str:
        default: InterpolatedString = self._default  # type: ignore[assignment]
        try:
            return default._render(variables)
        except jinja2.UndefinedError as exc:
            raise self._undefined(
                f"Template {self.raw!r} and its default {default.raw!r}", exc
            ) from None

    def _undefined(self, what: str, exc: jinja2.UndefinedError) -> TemplateError:
        """The failure of a render that read an attribute or key of an undefined value. Jinja's
        message names the attribute and the type it was asked of, never a value."""
        return TemplateError(f"{self._place()}{what} read an undefined value ({str(exc)[:200]})")

    def _render(self, variables: dict[str, Any]) -> str:
        """Render; a TypeError inside the template yields the raw text, as the format defines."""
        if self._template is None:
            return self.raw
        try:
            # A shared context skips Template.render's per-call merge of the globals ChainMap,
            # which costs more than the rest of a typical render; _variables merged them already.
            context = self._template.new_context(variables, shared=True)
            return template_limits.render_bounded(self._template.root_render_func(context))  # type: ignore[attr-defined]
        except jinja2.UndefinedError:
            raise
        except TypeError:
            return self.raw
        except SecurityError as exc:
            raise TemplateError(
                f"{self._place()}Template {self.raw!r} is not allowed: {exc}"
            ) from None
        except Exception as exc:
            raise TemplateError(
                f"{self._place()}Template {self.raw!r} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _place(self) -> str:
        return f"{self.where}: " if self.where else ""


_FALSY = ("False", "false", "{}", "[]", "()", "", "0", "0.0", {}, False, [], (), set())


class InterpolatedBoolean:
    """A condition: false only for the format's falsy values; everything else, None included,
    is true."""

    __slots__ = ("_constant", "_string", "raw")

    def __init__(self, condition: str | bool, *, parameters: Mapping[str, Any] | None = None):
        self.raw = condition
        self._constant = condition if isinstance(condition, bool) else None
        self._string = (
            None
            if self._constant is not None
            else InterpolatedString(condition, parameters=parameters, default="False")
        )

    def eval(self, config: Mapping[str, Any] | None, /, **context: Any) -> bool:
        if self._string is None:
            return bool(self._constant)
        return self._string.eval(config, **context) not in _FALSY


class _CompiledTree:
    """The strings of a mapping compiled to templates, below the top level only when ``nested``.

    Evaluation builds the variables once for the whole mapping, and not at all when every
    string is a constant.
    """

    __slots__ = ("_nested", "_parameters", "_static", "root")

    def __init__(self, root: Any, parameters: Mapping[str, Any] | None, *, nested: bool) -> None:
        self._parameters = parameters if parameters is not None else _NO_PARAMETERS
        self._nested = nested
        self._static = True
        self.root = self._compile(root, top=True)

    def _compile(self, node: Any, top: bool = False) -> Any:
        if isinstance(node, str):
            string = InterpolatedString(node)
            self._static = self._static and string.is_constant
            return string
        if not (top or self._nested):
            return node
        if isinstance(node, Mapping):
            return {self._compile(key): self._compile(value) for key, value in node.items()}
        if isinstance(node, list):
            return [self._compile(item) for item in node]
        return node

    def variables(
        self, config: Mapping[str, Any] | None, context: dict[str, Any]
    ) -> dict[str, Any] | None:
        return None if self._static else _variables(config, self._parameters, context)


def _evaluate_leaf(
    node: Any, variables: dict[str, Any] | None, valid_types: tuple[type, ...] | None = None
) -> Any:
    if isinstance(node, InterpolatedString):
        return node._evaluate(variables, valid_types)
    return node


class InterpolatedMapping:
    """A flat mapping (query parameters, headers, form bodies) with templated keys and values.

    Keys stay strings; entries whose key or value evaluates to ``None`` are dropped, which is how
    a manifest leaves a parameter out (``"{{ x if cond else None }}"``).
    """

    __slots__ = ("_tree", "_valid_value_types")

    def __init__(
        self,
        mapping: Mapping[Any, Any],
        *,
        parameters: Mapping[str, Any] | None = None,
        valid_value_types: tuple[type, ...] | None = None,
    ) -> None:
        self._tree = _CompiledTree(mapping, parameters, nested=False)
        self._valid_value_types = valid_value_types

    def eval(self, config: Mapping[str, Any] | None, /, **context: Any) -> dict[Any, Any]:
        variables = self._tree.variables(config, context)
        result = {}
        for key, value in self._tree.root.items():
            evaluated_key = _evaluate_leaf(key, variables, _KEY_TYPES)
            evaluated = _evaluate_leaf(value, variables, self._valid_value_types)
            if evaluated_key is not None and evaluated is not None:
                result[evaluated_key] = evaluated
        return result


class InterpolatedNestedMapping:
    """A nested JSON structure (request bodies): every string inside dicts and lists is a
    template; dict entries whose value evaluates to ``None`` are dropped."""

    __slots__ = ("_tree",)

    def __init__(self, mapping: Any, *, parameters: Mapping[str, Any] | None = None) -> None:
        self._tree = _CompiledTree(mapping, parameters, nested=True)

    def eval(self, config: Mapping[str, Any] | None, /, **context: Any) -> Any:
        return _evaluate_nested(self._tree.root, self._tree.variables(config, context))


def _evaluate_nested(node: Any, variables: dict[str, Any] | None) -> Any:
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            evaluated = _evaluate_nested(value, variables)
            if evaluated is not None:
                result[_evaluate_leaf(key, variables, _KEY_TYPES)] = evaluated
        return result
    if isinstance(node, list):
        return [_evaluate_nested(item, variables) for item in node]
    return _evaluate_leaf(node, variables)
