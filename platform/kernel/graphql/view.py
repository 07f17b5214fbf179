"""The `/graphql` endpoint.

Each request runs in a worker thread that owns a private event loop: resolvers use the
ordinary synchronous session (the same service code the queue workers run) while
DataLoaders still batch, and a slow query never stalls the server's main loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

from openitsm.kernel.actors import ANONYMOUS
from openitsm.kernel.errors import OpenITSMError
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.errors import error_payload, format_error
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

MAX_BODY_BYTES = 1_000_000
_thread_state = threading.local()


def request_id_of(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    return given if 8 <= len(given) <= 64 and given.isascii() else uuid.uuid4().hex


def _loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_thread_state, "loop", None)
    if loop is None:
        loop = _thread_state.loop = asyncio.new_event_loop()
    return loop


def _bad_request(message: str, request_id: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]},
        status_code=status,
        headers={"x-request-id": request_id},
    )


async def graphql_endpoint(request: Request) -> Response:
    kernel: Kernel = request.app.state.kernel
    request_id = request_id_of(request)
    if request.method == "GET":
        if kernel.settings.graphiql_enabled and "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(get_graphql_ide_html(subscription_enabled=False))
        return _bad_request("Send GraphQL queries as POST with a JSON body.", request_id, 405)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _bad_request(f"Request body over {MAX_BODY_BYTES} bytes.", request_id, 413)
    try:
        payload = json.loads(body)
        query = payload["query"]
        variables = payload.get("variables") or {}
        operation = payload.get("operationName")
        if not isinstance(query, str) or not isinstance(variables, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError, AttributeError):
        return _bad_request(
            'Expected a JSON body like {"query": "...", "variables": {...}}.', request_id
        )
    result = await run_in_threadpool(
        execute, kernel, query, variables, operation, request, request_id
    )
    return JSONResponse(result, headers={"x-request-id": request_id})


def execute(
    kernel: Kernel,
    query: str,
    variables: dict[str, Any] | None = None,
    operation: str | None = None,
    request: Request | None = None,
    request_id: str | None = None,
    actor: Any = None,
) -> dict[str, Any]:
    """Run one operation in one transaction: committed if it succeeded, else rolled back."""
    request_id = request_id or uuid.uuid4().hex
    try:
        return _execute(kernel, query, variables, operation, request, request_id, actor)
    except OpenITSMError as exc:  # raised while committing, e.g. a lost update
        return {"data": None, "errors": [error_payload(exc)]}
    except (InvalidOperationTypeError, MissingQueryError):
        return {
            "data": None,
            "errors": [
                {
                    "message": "Only queries and mutations are served over HTTP POST.",
                    "extensions": {"code": "BAD_USER_INPUT"},
                }
            ],
        }


def _execute(
    kernel: Kernel,
    query: str,
    variables: dict[str, Any] | None,
    operation: str | None,
    request: Request | None,
    request_id: str,
    actor: Any,
) -> dict[str, Any]:
    with kernel.unit_of_work(request_id=request_id) as session:
        if actor is None and request is not None:
            actor = kernel.hook.actor_from_request(request=request, session=session, kernel=kernel)
        actor = actor or ANONYMOUS
        session.info["actor"] = actor
        context = Context(kernel, session, actor, request_id, request)
        result = _loop().run_until_complete(
            kernel.schema.execute(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=operation,
                allowed_operation_types=(OperationType.QUERY, OperationType.MUTATION),
            )
        )
        if result.errors:
            session.info["rollback_only"] = True
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [format_error(error, request_id) for error in result.errors]
    return response
