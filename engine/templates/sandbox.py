"""The Jinja sandbox every manifest template is compiled and rendered in.

Touching private or dunder attributes, mutating objects handed to a template, or loading other
templates raises :class:`TemplateError`; repetition, powers, concatenation and string formats
are checked before they run, within the render's budgets (:mod:`engine.templates.limits`).
Templates compile once per distinct source text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment, SecurityError

from engine.errors import EngineError
from engine.templates import limits, macros


class TemplateError(EngineError, ValueError):
    """A template that cannot be compiled or that did something the sandbox forbids.

    An EngineError, so that a template failing at read time (a payload the sandbox refused, a
    render that blew a limit) ends the read with the project's error, never a raw traceback.
    """

    failure_type = "config_error"


class _Sandbox(ImmutableSandboxedEnvironment):
    """Raises on unsafe attribute access instead of rendering it as an empty string, so a
    template probing internals fails loudly rather than silently falling back to its default."""

    # Repetition, powers and concatenation are the cheap ways to make a one-line template eat
    # all memory or CPU ("{{ 'x' * 10**10 }}", "{{ 9**9**9 }}", a string added to itself in a
    # loop); they are checked before they run.
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """The template's own lists and dicts may be changed; nothing handed to it may."""
        if isinstance(obj, limits.BUILT):
            return SandboxedEnvironment.is_safe_attribute(self, obj, attr, value)
        return super().is_safe_attribute(obj, attr, value)

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} objects")

    def call(self, context: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
        limits.check_call(obj, args, kwargs)
        return super().call(context, obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        """``str.format`` through the sandbox's formatter, its widths checked first."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            limits.check_format(template, (*args, *kwargs.values()))
            return wrapped(*args, **kwargs)

        return checked

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "+":
            return limits.concatenated(left, right)
        if operator == "%":
            if isinstance(left, str):
                values = right if isinstance(right, tuple) else (right,)
                limits.check_format(left, values)
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


ENV = _Sandbox()
del ENV.globals["range"]
ENV.globals["lipsum"] = limits.bounded_lipsum(ENV.globals["lipsum"])
ENV.globals.update(limits.GLOBALS)
ENV.filters.update(limits.bounded_filters(ENV.filters))
ENV.globals.update(macros.GLOBALS)
ENV.filters.update(macros.FILTERS)
GLOBALS = dict(ENV.globals)
"""What every template sees besides its variables: the macros and Jinja's safe globals."""
GLOBAL_NAMES = frozenset(GLOBALS)
_LOADING_NODES = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """A template ready to render, and the variables it reads (macros not counted)."""

    template: jinja2.Template
    variables: frozenset[str]


@lru_cache(maxsize=4096)
def compile_template(source: str) -> CompiledTemplate:
    """Compile once per distinct source text; many components share the same templates."""
    try:
        tree = ENV.parse(source)
        if next(tree.find_all(_LOADING_NODES), None) is not None:
            raise TemplateError(
                f"Invalid template {source!r}: templates cannot include, import or extend others"
            )
        variables = frozenset(meta.find_undeclared_variables(tree)) - GLOBAL_NAMES
        bounded = limits.bound_tree(tree, ENV)
        return CompiledTemplate(ENV.from_string(bounded), variables)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"Invalid template {source!r}: {exc.message} (line {exc.lineno})"
        ) from None


def is_template(text: str) -> bool:
    """Whether ``text`` holds Jinja syntax at all (otherwise it is a constant)."""
    return "{{" in text or "{%" in text or "{#" in text
