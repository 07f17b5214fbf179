"""Errors with a code: the GraphQL layer turns each into `extensions.code`.

Domain code raises these wherever a user or an integrator did something we can explain;
anything else is a bug and reaches clients only as `INTERNAL` with a request id.

A message written as `_t("No dictionary with code '{code}'.")` is a template: the error keeps
it with its parameters, GraphQL clients read it filled in, in English, and the web pages look
the template up in the viewer's catalogue (`scripts/messages` extracts `_t(...)` from the
kernel) and fill that in. A plain string is shown as it is, in every language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar


class MessageTemplate(str):
    """English text with `{name}` placeholders that a page may show translated."""

    __slots__ = ()


def _t(text: str) -> MessageTemplate:
    """Mark `text` as a translatable template (the catalogues are built from these calls)."""
    return MessageTemplate(text)


class ConfigurationError(Exception):
    """Start-up cannot go on; the message says which setting or plugin and how to fix it."""


class OpenITSMError(Exception):
    """`message` is plain text or a `_t` template, filled in from `params` and `extensions`.

    `extensions` reach GraphQL clients; `params` only fill in the message.
    """

    code: ClassVar[str] = "INTERNAL"

    def __init__(
        self, message: str, *, params: Mapping[str, Any] | None = None, **extensions: Any
    ) -> None:
        self.template: str | None = None
        self.params: dict[str, Any] = {}
        if isinstance(message, MessageTemplate):
            self.template = str(message)
            self.params = {**extensions, **(params or {})}
            message = self.template.format_map(self.params)
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def translated(self, gettext: Callable[[str], str]) -> str:
        """The message in the language of `gettext` (as it is when it is no template)."""
        if self.template is None:
            return self.message
        try:
            return gettext(self.template).format_map(self.params)
        except (KeyError, IndexError, ValueError):  # a translation with a broken placeholder
            return self.message


class BadUserInput(OpenITSMError):
    code = "BAD_USER_INPUT"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        params: Mapping[str, Any] | None = None,
        **extensions: Any,
    ) -> None:
        if field is not None:
            extensions["field"] = field
        super().__init__(message, params=params, **extensions)


class Unauthenticated(OpenITSMError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = _t("Sign in first."), **extensions: Any) -> None:
        super().__init__(message, **extensions)


class Forbidden(OpenITSMError):
    code = "FORBIDDEN"


class NotFound(OpenITSMError):
    code = "NOT_FOUND"


class Conflict(OpenITSMError):
    """A write based on a stale version: someone else changed the record first."""

    code = "CONFLICT"


ERROR_CODES = (
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "CONFLICT",
    "INTERNAL",
)
