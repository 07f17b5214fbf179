"""Turn resolver failures into GraphQL errors with `extensions.code`; mask the rest."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from openitsm.kernel.errors import OpenITSMError

log = logging.getLogger("openitsm.graphql")


def format_error(error: GraphQLError, request_id: str) -> dict[str, Any]:
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    formatted = error.formatted
    if isinstance(original, OpenITSMError):
        formatted.update(error_payload(original))
    elif original is None or isinstance(original, GraphQLError):
        # Syntax, validation and limit errors: the client sent something we refuse.
        formatted["extensions"] = {"code": "BAD_USER_INPUT"}
    else:
        log.error(
            "internal error in GraphQL request %s at %s",
            request_id,
            ".".join(str(p) for p in error.path or []),
            exc_info=(type(original), original, original.__traceback__),
        )
        formatted["message"] = f"Internal error; quote request id {request_id} when reporting it."
        formatted["extensions"] = {"code": "INTERNAL", "requestId": request_id}
    return formatted


def error_payload(error: OpenITSMError) -> dict[str, Any]:
    return {"message": error.message, "extensions": {"code": error.code, **error.extensions}}
