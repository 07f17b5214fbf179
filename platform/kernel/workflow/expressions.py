"""Expressions in process definitions: route conditions and participant rules.

A definition is data an administrator uploads, so its expressions run in jinja2's immutable
sandbox: no attribute or item starting with an underscore, no methods that change objects,
no imports, no file or network access, and arithmetic that cannot build huge values
(`'x' * 10**9`, `2 ** 10**9`). What an expression may read is exactly the mapping it is
given (`record`, `form`, `starter`, …); anything else is undefined and an error.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from openitsm.kernel.errors import BadUserInput, _t

MAX_EXPRESSION_LENGTH = 2_000
# Results of `*` and `**` above this many items (characters, list entries) or digits are
# refused: one expression must not be able to exhaust a worker's memory.
MAX_SIZE = 100_000
MAX_EXPONENT = 1_000


class ExpressionError(BadUserInput):
    """An expression that does not compile, or fails while it is evaluated."""


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError("the exponent is too large")
            return operator.pow(left, right)
        if operator_name == "*":
            for sequence, times in ((left, right), (right, left)):
                sized = isinstance(sequence, str | list | tuple) and isinstance(times, int)
                if sized and len(sequence) * times > MAX_SIZE:
                    raise SecurityError("the result would be too large")
            return operator.mul(left, right)
        return super().call_binop(context, operator_name, left, right)


_ENVIRONMENT = _Sandbox(undefined=StrictUndefined, autoescape=False)
# No globals (range, lipsum, cycler, joiner, namespace, dict): an expression sees only the
# names it is given, and the filters.
_ENVIRONMENT.globals.clear()


@lru_cache(maxsize=2048)
def compile_expression(source: str) -> Callable[..., Any]:
    """The compiled expression; a syntax error is BAD_USER_INPUT saying where."""
    text = source.strip()
    if not text:
        raise ExpressionError(_t("The expression is empty."))
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            _t("An expression is at most {limit} characters."),
            params={"limit": MAX_EXPRESSION_LENGTH},
        )
    try:
        return _ENVIRONMENT.compile_expression(text, undefined_to_none=False)
    except TemplateSyntaxError as error:
        raise ExpressionError(
            _t("The expression '{expression}' is not valid: {problem}."),
            params={"expression": text, "problem": error.message or "syntax error"},
        ) from None


@lru_cache(maxsize=2048)
def names_used(source: str) -> frozenset[str]:
    """The variables `source` reads, so only those are looked up for it."""
    try:
        return frozenset(meta.find_undeclared_variables(_ENVIRONMENT.parse(f"{{{{ {source} }}}}")))
    except TemplateSyntaxError:
        return frozenset()


def evaluate(source: str, names: Mapping[str, Any]) -> Any:
    """The value of `source` with `names` as its only variables."""
    compiled = compile_expression(source)
    try:
        value = compiled(**names)
    except SecurityError as error:
        raise ExpressionError(
            _t("The expression '{expression}' is not allowed: {problem}."),
            params={"expression": source.strip(), "problem": str(error)},
        ) from None
    except UndefinedError as error:
        raise ExpressionError(
            _t("The expression '{expression}' names something unknown: {problem}."),
            params={"expression": source.strip(), "problem": str(error)},
        ) from None
    except (ArithmeticError, TypeError, ValueError, LookupError) as error:
        raise ExpressionError(
            _t("The expression '{expression}' failed: {problem}."),
            params={"expression": source.strip(), "problem": str(error)},
        ) from None
    if isinstance(value, Undefined):  # an unknown name, or an attribute the sandbox hides
        raise ExpressionError(
            _t("The expression '{expression}' names something unknown or not allowed."),
            params={"expression": source.strip()},
        )
    return value


def condition_holds(source: str, names: Mapping[str, Any]) -> bool:
    """A route condition: true only for a true value (a missing value is an error)."""
    return bool(evaluate(source, names))
