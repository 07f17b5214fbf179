"""Errors with a code: the GraphQL layer turns each into `extensions.code`.

Domain code raises these wherever a user or an integrator did something we can explain;
anything else is a bug and reaches clients only as `INTERNAL` with a request id.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ConfigurationError(Exception):
    """Start-up cannot go on; the message says which setting or plugin and how to fix it."""


class OpenITSMError(Exception):
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions


class BadUserInput(OpenITSMError):
    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None, **extensions: Any) -> None:
        if field is not None:
            extensions["field"] = field
        super().__init__(message, **extensions)


class Unauthenticated(OpenITSMError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Sign in first.", **extensions: Any) -> None:
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
