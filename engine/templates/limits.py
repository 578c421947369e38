"""What one template render may cost: output, loop iterations, widths, regular expressions.

A manifest is untrusted input, and a one-line template can ask for gigabytes
(``{{ 'x'|center(10**10) }}``, ``{% for a in s %}{% for b in s %}...``, a string doubled in a
loop) or for a regular expression that backtracks for hours. Each render gets one
:class:`RenderBudget`: every chunk of output, every loop iteration, every width argument and
every string a concatenation builds is charged to it, and the render fails with a
``SecurityError`` the moment it is spent. Regular expressions run on the ``regex`` engine with
a time limit.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from jinja2 import nodes
from jinja2.sandbox import SecurityError
from jinja2.visitor import NodeTransformer

if TYPE_CHECKING:
    import regex

MAX_OUTPUT_CHARS = 1_000_000
MAX_ITERATIONS = 1_000_000
MAX_ITEMS = 1_000_000
REGEX_SECONDS = 1.0

_current = threading.local()
# A width or precision of seven digits or more in a format string: "{:>9999999}", "%9999999d".
_WIDE_FORMAT = re.compile(r"(\{[^{}]*:[^{}]*\d{7,}|%[-+ #0]*(\d{7,}|\*)|%[-+ #0]*\d*\.(\d{7,}|\*))")
# A width or precision taken from an argument: "{:{}}", "{:>{w}}".
_NESTED_FORMAT = re.compile(r"\{[^{}]*:[^{}]*\{")
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


class RenderBudget:
    """Output characters, loop iterations and list or dict items left to one render."""

    __slots__ = ("chars", "items", "iterations")

    def __init__(self) -> None:
        self.chars = MAX_OUTPUT_CHARS
        self.iterations = MAX_ITERATIONS
        self.items = MAX_ITEMS

    def spend_chars(self, count: int, what: str) -> None:
        self.chars -= count
        if self.chars < 0:
            raise SecurityError(f"{what} would write more than {MAX_OUTPUT_CHARS:,} characters")

    def spend_items(self, count: int, what: str) -> None:
        self.items -= count
        if self.items < 0:
            raise SecurityError(f"{what} would hold more than {MAX_ITEMS:,} items")


def budget() -> RenderBudget:
    """The budget of the render running in this thread (a fresh one outside any render)."""
    current = getattr(_current, "budget", None)
    return current if current is not None else RenderBudget()


def render_bounded(chunks: Iterable[str]) -> str:
    """Join a template's output under a fresh budget for this render."""
    previous = getattr(_current, "budget", None)
    _current.budget = spent = RenderBudget()
    try:
        parts = []
        for chunk in chunks:
            spent.spend_chars(len(chunk), "the template")
            parts.append(chunk)
        return "".join(parts)
    finally:
        _current.budget = previous


# -- what the compiled template calls -------------------------------------------------------


def counted(iterable: Any) -> Iterator[Any]:
    """Every ``{% for %}`` loops through this: each iteration is charged to the render."""
    spent = budget()
    for item in iterable:
        spent.iterations -= 1
        if spent.iterations < 0:
            raise SecurityError(f"the template loops more than {MAX_ITERATIONS:,} times")
        yield item


def joined(*parts: Any) -> str:
    """``a ~ b``: the string it builds is charged before it is built."""
    texts = [str(part) for part in parts]
    budget().spend_chars(sum(map(len, texts)), "a concatenation")
    return "".join(texts)


def concatenated(left: Any, right: Any) -> Any:
    """``a + b``: strings are charged like ``~``, lists and tuples by their items; a list the
    template concatenates is its own (see :class:`BuiltList`)."""
    if isinstance(left, (str, bytes)) and isinstance(right, (str, bytes)):
        budget().spend_chars(len(left) + len(right), "a concatenation")
    elif isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        budget().spend_items(len(left) + len(right), "a concatenation")
    result = left + right
    return BuiltList(result) if type(result) is list else result


class BuiltList(list):
    """A list the template wrote itself (``[...]``): the template may change it, as airbyte-cdk's
    sandbox lets templates build a list with ``append`` in a loop. Values handed to the template
    (config, record, state, slice, response) stay plain and unchangeable."""

    __slots__ = ()


class BuiltDict(dict):
    """A dict the template wrote itself (``{...}``): see :class:`BuiltList`."""

    __slots__ = ()


BUILT = (BuiltList, BuiltDict)
# Methods that add items to a container, and how many each call adds.
_GROWING = {"append": 1, "insert": 1, "setdefault": 1, "extend": None, "update": None}


def built(value: Any) -> Any:
    """A list or dict literal as the template's own container."""
    budget().spend_items(len(value), "a literal")
    return BuiltList(value) if isinstance(value, list) else BuiltDict(value)


def check_growth(owner: Any, name: str, args: tuple, kwargs: dict) -> None:
    """Charge the items a call would add to one of the template's own containers."""
    if name not in _GROWING:
        return
    count = _GROWING[name]
    if count is None:
        count = len(kwargs) + sum(len(a) if hasattr(a, "__len__") else 1 for a in args)
    budget().spend_items(count, f"{type(owner).__mro__[1].__name__}.{name}")


class _Bounded(NodeTransformer):
    """Routes loops through :func:`counted`, ``~`` through :func:`joined` and list and dict
    literals through :func:`built` (globals of the environment under the names below)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)
        node.iter = _call("_dd_counted", [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        return _call("_dd_joined", list(node.nodes), node.lineno)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return _call("_dd_built", [self.generic_visit(node)], node.lineno)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        return _call("_dd_built", [self.generic_visit(node)], node.lineno)


def _call(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.Name(name, "load"), args, [], None, None, lineno=lineno)


def bound_tree(tree: nodes.Template, environment: Any) -> nodes.Template:
    """The template with every loop and concatenation charged to the render's budget."""
    bounded = _Bounded().visit(tree)
    bounded.set_environment(environment)
    return bounded


GLOBALS = {"_dd_counted": counted, "_dd_joined": joined, "_dd_built": built}


# -- checks before a call or an operator runs ------------------------------------------------


def check_call(obj: Any, args: tuple, kwargs: dict) -> None:
    """Refuse a str method whose result would exceed the render's output budget, or a call
    that would grow the template's own list or dict past its item budget."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, BUILT):
        check_growth(owner, name, args, kwargs)
        return
    if not isinstance(owner, str):
        return
    spent = budget()
    if name in _WIDTH_METHODS:
        widths = [a for a in (*args, *kwargs.values()) if isinstance(a, int)]
        size = max(widths, default=0) * (len(owner) if name == "expandtabs" else 1)
        if size > spent.chars:
            raise SecurityError(f"str.{name} with a width of {size:,}")
    elif name in ("format", "format_map"):
        check_format(owner, (*args, *kwargs.values()))
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, str(args[0]), str(args[1]))
    elif name == "join" and args:
        items = list(args[0]) if not isinstance(args[0], (list, tuple)) else args[0]
        spent.spend_chars(len(owner) * max(len(items) - 1, 0), "str.join")


def check_format(template: str, values: Iterable[Any]) -> None:
    """A format string with a huge width or precision, or a ``*`` fed a huge number."""
    wide = _WIDE_FORMAT.search(template)
    if wide or _NESTED_FORMAT.search(template):
        numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        fixed = wide is not None and "*" not in wide.group(0)
        if fixed or any(abs(n) > budget().chars for n in numbers):
            raise SecurityError("a format width or precision of a million characters or more")


def _check_replace(text: str, old: str, new: str) -> None:
    if len(new) > len(old):
        count = text.count(old) if old else len(text) + 1
        budget().spend_chars(count * (len(new) - len(old)), "replace")


# -- filters and globals that take a size ---------------------------------------------------


def bounded_filters(filters: dict[str, Any]) -> dict[str, Any]:
    """Jinja's sized filters, each checking its size against the render's budget first."""
    center, indent, fmt, replace, join = (
        filters["center"],
        filters["indent"],
        filters["format"],
        filters["replace"],
        filters["join"],
    )

    def checked_center(value: Any, width: int = 80) -> str:
        budget().spend_chars(int(width), "center")
        return center(value, width)

    def checked_indent(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> str:
        lines = str(value).count("\n") + 1
        size = len(width) if isinstance(width, str) else int(width)
        budget().spend_chars(size * lines, "indent")
        return indent(value, width, *args, **kwargs)

    def checked_format(value: Any, *args: Any, **kwargs: Any) -> str:
        check_format(str(value), (*args, *kwargs.values()))
        return fmt(value, *args, **kwargs)

    def checked_replace(context: Any, value: Any, old: str, new: str, count: Any = None) -> str:
        _check_replace(str(value), str(old), str(new))
        return replace(context, value, old, new, count)

    def checked_join(context: Any, value: Any, d: str = "", attribute: Any = None) -> str:
        items = list(value)
        budget().spend_chars(len(str(d)) * max(len(items) - 1, 0), "join")
        return join(context, items, d, attribute)

    for wrapper, original in ((checked_replace, replace), (checked_join, join)):
        wrapper.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return {
        "center": checked_center,
        "indent": checked_indent,
        "format": checked_format,
        "replace": checked_replace,
        "join": checked_join,
    }


def bounded_lipsum(lipsum: Any) -> Any:
    def checked(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
        budget().spend_chars(int(n) * int(max) * 12, "lipsum")
        return lipsum(n, html, min, max)

    return checked


# -- regular expressions from manifests -----------------------------------------------------


def compile_regex(pattern: str) -> regex.Pattern:
    """A manifest's pattern on the ``regex`` engine (``re`` syntax; runs have a time limit);
    a pattern that does not compile raises ValueError. The engine is imported on first use:
    most manifests have no pattern, and importing it takes a command's start ~17 ms."""
    import regex

    try:
        return regex.compile(pattern)
    except regex.error as error:
        raise ValueError(str(error)) from None


def search(pattern: str | regex.Pattern, text: str) -> Any:
    compiled = compile_regex(pattern) if isinstance(pattern, str) else pattern
    try:
        return compiled.search(text, timeout=REGEX_SECONDS)
    except TimeoutError:
        raise SecurityError(
            f"the regular expression {compiled.pattern[:80]!r} ran longer than "
            f"{REGEX_SECONDS:g} s (it backtracks without end on this input)"
        ) from None


def match(pattern: regex.Pattern, text: str) -> Any:
    try:
        return pattern.match(text, timeout=REGEX_SECONDS)
    except TimeoutError:
        return None  # an API's header that a manifest's pattern cannot read in time: no value


def sub(pattern: str, replacement: str, text: str) -> str:
    compiled = compile_regex(pattern)
    try:
        result = compiled.sub(replacement, text, timeout=REGEX_SECONDS)
    except TimeoutError:
        raise SecurityError(
            f"the regular expression {pattern[:80]!r} ran longer than {REGEX_SECONDS:g} s"
        ) from None
    budget().spend_chars(len(result), "regex_replace")
    return result
