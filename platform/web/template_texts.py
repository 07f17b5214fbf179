"""Fixed texts of the templates translated when a template is compiled, not when drawn.

Every `{{ _("Save") }}` is a call at render time: through the context, a lookup, a
`Markup` and an escape, a few hundred times a page. Each locale has its own template
environment, and the catalogue is read once per process, so a text whose variables (if
any) are literals too has one answer per environment: the compiler writes it into the
template as a constant. A text whose answer would differ with autoescaping (a variable
with `<` or `&` in it), and any `_()` given something that is not a literal, is called as
before.

A template that binds `_` or `gettext` itself (a `set`, a loop, a macro argument, an
import) is compiled as it is. A binding made elsewhere (by a template that includes this
one, or by a render's own `_`) is not seen here; none is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

# The names the i18n extension installs for a text's translation.
GETTEXT_NAMES = frozenset({"_", "gettext"})


Answer = Callable[[str, dict[str, Any]], "str | None"]


def plain_translation(translate: Callable[[str], str]) -> Answer:
    """`translate(message)` filled in with `variables` as the i18n extension's new-style
    `gettext` answers it (`text % variables`), or None when that answer is not the same
    with and without autoescaping, or raises (a `%(name)s` without its variable)."""

    def answer(message: str, variables: dict[str, Any]) -> str | None:
        try:
            text = translate(message)
            plain = text % variables
            escaped = Markup(text) % variables
        except (KeyError, TypeError, ValueError):
            return None
        return plain if str(escaped) == plain else None

    return answer


def _binds_gettext(template: nodes.Template) -> bool:
    """Whether the template gives `_` or `gettext` a meaning of its own anywhere."""
    for name in template.find_all(nodes.Name):
        if name.ctx != "load" and name.name in GETTEXT_NAMES:
            return True
    for imported in template.find_all(nodes.FromImport):
        for entry in imported.names:
            alias = entry[1] if isinstance(entry, tuple) else entry
            if alias in GETTEXT_NAMES:
                return True
    return any(i.target in GETTEXT_NAMES for i in template.find_all(nodes.Import))


def _fixed_text(call: nodes.Call) -> tuple[str, dict[str, Any]] | None:
    """The message and variables of `_("...", name=...)` when all of them are literals."""
    if not (
        isinstance(call.node, nodes.Name)
        and call.node.name in GETTEXT_NAMES
        and len(call.args) == 1
        and call.dyn_args is None
        and call.dyn_kwargs is None
    ):
        return None
    message = call.args[0]
    if not (isinstance(message, nodes.Const) and isinstance(message.value, str)):
        return None
    variables: dict[str, Any] = {}
    for keyword in call.kwargs:
        value = keyword.value
        if not (isinstance(value, nodes.Const) and isinstance(value.value, str | int | float)):
            return None
        variables[keyword.key] = value.value
    return message.value, variables


class _FoldTexts(NodeTransformer):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        visited = self.generic_visit(node)
        fixed = _fixed_text(visited) if isinstance(visited, nodes.Call) else None
        text = self.answer(*fixed) if fixed is not None else None
        if text is None:
            return visited
        # What the runtime call returns: Markup under autoescape, else the text.
        return nodes.MarkSafeIfAutoescape(nodes.Const(text, lineno=node.lineno), lineno=node.lineno)


class TranslatingCodeGenerator(CodeGenerator):
    """Compiles a template with its fixed texts already translated; the environment
    names the translation as `plain_translation` (see `plain_translation`)."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        answer: Any = getattr(self.environment, "plain_translation", None)
        if answer is not None and not _binds_gettext(node):
            node = _FoldTexts(answer).visit(node)
        super().visit_Template(node, frame)
