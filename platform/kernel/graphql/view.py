"""The `/graphql` endpoint.

Resolvers use the ordinary synchronous session — the same service code the queue workers
run — while DataLoaders still batch within the operation. A web process runs one operation
at a time on its event loop (`graphql_lock`), as a synchronous worker would: operations
never interleave inside one process, so a transaction waiting for a database lock can never
wait on another transaction of the same process. Concurrency comes from `--workers N`.
A hop to a thread per request was measured at about 140 µs of CPU, more than executing
`{ viewer { login } }` itself.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson
from graphql import DocumentNode, get_operation_ast
from graphql import OperationType as CoreOperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.websockets import WebSocket
from strawberry.http.ides import get_graphql_ide_html

from openitsm.kernel.actors import ANONYMOUS
from openitsm.kernel.db.session import LazyUnitOfWork
from openitsm.kernel.errors import OpenITSMError
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.errors import error_payload, format_error, internal_error

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


def _cross_site_form(request: Request) -> bool:
    """A browser may send a session cookie with a plain form post from another site; such a
    form cannot set a JSON content type, so cookie-authenticated calls must have one."""
    if "cookie" not in request.headers or "authorization" in request.headers:
        return False
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type != "application/json"


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
            return HTMLResponse(get_graphql_ide_html())
        refusal = _bad_request("Send GraphQL queries as POST with a JSON body.", request_id, 405)
        refusal.headers["allow"] = "POST"
        return refusal
    if _cross_site_form(request):
        return _bad_request(
            "Send GraphQL requests as JSON (Content-Type: application/json).", request_id, 415
        )
    too_large = f"Request body over {MAX_BODY_BYTES} bytes."
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _bad_request(too_large, request_id, 413)  # refused before reading it
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _bad_request(too_large, request_id, 413)
    try:
        payload = orjson.loads(body)
        query = payload["query"]
        variables = payload.get("variables") or {}
        operation = payload.get("operationName")
        if not isinstance(query, str) or not isinstance(variables, dict):
            raise TypeError
        if operation is not None and not isinstance(operation, str):
            raise TypeError
    except (ValueError, KeyError, TypeError, AttributeError):
        return _bad_request(
            'Expected a JSON body like {"query": "...", "variables": {...}}.', request_id
        )
    async with request.app.state.graphql_lock:
        result = await run_operation(kernel, query, variables, operation, request, request_id)
    return Response(
        orjson.dumps(result), media_type="application/json", headers={"x-request-id": request_id}
    )


async def graphql_websocket(websocket: WebSocket) -> None:
    """`/graphql` over WebSocket: subscriptions (`openitsm.kernel.graphql.websocket`, imported
    on the first connection, so a process that serves none never loads it)."""
    from openitsm.kernel.graphql.websocket import serve

    await serve(websocket)


def execute(
    kernel: Kernel,
    query: str,
    variables: dict[str, Any] | None = None,
    operation: str | None = None,
    request: Request | None = None,
    request_id: str | None = None,
    actor: Any = None,
) -> dict[str, Any]:
    """Run one operation from synchronous code (tests, scripts) on this thread's own loop,
    or on a thread of its own when a loop already runs here (a browser driver's, say)."""

    def run() -> dict[str, Any]:
        return _loop().run_until_complete(
            run_operation(kernel, query, variables, operation, request, request_id, actor)
        )

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


async def run_operation(
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
    if not query.strip():
        return _refused('No query given; send {"query": "..."}.')
    document, errors = kernel.schema.prepare(query)
    if document is None:
        return {"data": None, "errors": [format_error(e, request_id) for e in errors]}
    chosen = get_operation_ast(document, operation)
    if chosen is None:
        if operation is None:
            return _refused("The document holds several operations; name one in operationName.")
        return _refused(f"The document has no operation named {operation!r}.")
    if chosen.operation == CoreOperationType.SUBSCRIPTION:
        return _refused("Only queries and mutations are served over HTTP POST.")
    if errors:
        return {"data": None, "errors": [format_error(e, request_id) for e in errors]}
    try:
        return await _execute(kernel, document, variables, operation, request, request_id, actor)
    except OpenITSMError as exc:  # raised while committing, e.g. a lost update
        return {"data": None, "errors": [error_payload(exc)]}
    except Exception as exc:  # a fault outside any resolver, e.g. while committing
        return {"data": None, "errors": [internal_error(exc, request_id)]}


def _refused(message: str) -> dict[str, Any]:
    error = {"message": message, "extensions": {"code": "BAD_USER_INPUT"}}
    return {"data": None, "errors": [error]}


async def _execute(
    kernel: Kernel,
    document: DocumentNode,
    variables: dict[str, Any] | None,
    operation: str | None,
    request: Request | None,
    request_id: str,
    actor: Any,
) -> dict[str, Any]:
    if actor is None and request is not None:
        actor = kernel.hook.actor_from_request(request=request, kernel=kernel)
    actor = actor or ANONYMOUS
    unit = LazyUnitOfWork(kernel.unit_of_work, actor, request_id)
    succeeded = False
    try:
        context = Context(kernel, unit, actor, request_id, request)
        result = await kernel.schema.run(document, context, variables, operation)
        succeeded = not result.errors
    finally:
        unit.close(succeeded=succeeded)
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [format_error(error, request_id) for error in result.errors]
    return response
