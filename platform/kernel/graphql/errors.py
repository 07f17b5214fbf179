"""Turn resolver failures into GraphQL errors with `extensions.code`; mask the rest."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.relay.types import GlobalIDValueError

from openitsm.kernel.errors import OpenITSMError

log = logging.getLogger("openitsm.graphql")


def format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    formatted: dict[str, Any] = dict(error.formatted)
    if isinstance(original, OpenITSMError):
        formatted.update(error_payload(original))
    elif isinstance(original, GlobalIDValueError):
        # A well-formed global id naming a type this schema does not have.
        formatted["message"] = (
            f"{original} Pass an id this API returned; it names the object's type."
        )
        formatted["extensions"] = {"code": "BAD_USER_INPUT", "field": "id"}
    elif original is None or isinstance(original, GraphQLError):
        # Syntax, validation and limit errors: the client sent something we refuse.
        formatted["extensions"] = {"code": "BAD_USER_INPUT"}
    else:
        formatted.update(internal_error(original, request_id, error.path))
    return formatted


def internal_error(exc: BaseException, request_id: str, path: Any = None) -> dict[str, Any]:
    """Log a fault with its traceback and request id; the client sees only the id."""
    log.error(
        "internal error in GraphQL request %s at %s: %s",
        request_id,
        ".".join(str(p) for p in path or []) or "(operation)",
        type(exc).__name__,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return {
        "message": f"Internal error; quote request id {request_id} when reporting it.",
        "extensions": {"code": "INTERNAL", "requestId": request_id},
    }


def error_payload(error: OpenITSMError) -> dict[str, Any]:
    return {"message": error.message, "extensions": {"code": error.code, **error.extensions}}
