"""Jinja interpolation of manifest strings.

Every templatable manifest field is compiled here once, when components are built, and evaluated
per request or per record afterwards. Evaluation follows the declarative format: render, fall back
to a default when the result is empty, then turn Python-literal-looking text into values
(``"{{ 10 }}"`` is the int 10, ``"12345"`` too, ``"2022-01-01"`` stays a string).

Templates run in a Jinja sandbox (:mod:`engine.templates.sandbox`): touching private or dunder
attributes, mutating context objects, or loading other templates raises :class:`TemplateError`.
Lists and dicts a template writes itself may be changed (``{% set _ = found.append(x) %}``), as
airbyte-cdk allows, within the render's item budget (:mod:`engine.templates.limits`). The macros
and filters templates may call are in :mod:`engine.templates.macros`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import jinja2
from jinja2.sandbox import SecurityError

from engine.templates import limits
from engine.templates.sandbox import GLOBALS, TemplateError, compile_template, is_template

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
    variables = {**GLOBALS, **context}
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
        self.is_constant = data or not is_template(value)
        if self.is_constant:
            self._template = None
            self.variables: frozenset[str] = frozenset()
            self._constant = _parse_literal(value) if value and not data else _NOT_LITERAL
        else:
            compiled = compile_template(value)
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
            return limits.render_bounded(self._template.root_render_func(context))  # type: ignore[attr-defined]
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
