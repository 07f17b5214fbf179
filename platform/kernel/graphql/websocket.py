"""GraphQL subscriptions over WebSocket at `/graphql` (the `graphql-transport-ws` protocol).

Strawberry's ASGI view speaks the protocol (the handshake's origin check, `connection_init`
within 10 seconds, ping/pong, one operation per id); the kernel authenticates and executes:

- **Who**: the `connection_init` payload's `Authorization: "Bearer <API token>"` (or
  `token`), else the session cookie sent with the handshake, through `actor_from_request`
  as on `POST /graphql`. Nobody signed in: the socket is closed with 4403. A browser page on
  another origin is refused at the handshake (cookies would let it act as the user); pages
  on `[server] base_url` are welcome.
- **What**: subscriptions only (queries and mutations go to `POST /graphql`), through the
  same document limits (tokens, depth, aliases) and field guards as any request.
- **Each event** runs like a request of its own: the subscriber is authenticated again (a
  revoked token or ended session ends the subscription), a fresh unit of work and fresh
  loaders are made, the payload is read as the subscriber may see it (`ReloadRecord`:
  nothing is sent when they may not), and the selection is executed under the process's
  GraphQL lock, so it never interleaves with another operation's transaction. The lock is
  never held while waiting for events or sending.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import DocumentNode, GraphQLError, OperationType, get_operation_ast
from graphql.execution import Executor, create_source_event_stream, execute_subscription_event
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.schema import optimized_is_awaitable
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.unset import UNSET, UnsetType

from openitsm.kernel.actors import ANONYMOUS, Actor
from openitsm.kernel.db.session import LazyUnitOfWork
from openitsm.kernel.errors import Unauthenticated
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.errors import format_error

if TYPE_CHECKING:
    import asyncio

    from openitsm.kernel.app import Kernel

CONNECTION_INIT_TIMEOUT = dt.timedelta(seconds=10)
MAX_SUBSCRIPTIONS_PER_CONNECTION = 50


@dataclass
class Connection:
    """One socket: who is on it and how to check them again (`connection_params` is filled
    by the protocol handler from `connection_init`)."""

    kernel: Kernel
    websocket: WebSocket
    lock: asyncio.Lock
    connection_params: dict[str, Any] = field(default_factory=dict)
    credentials: Request | None = None
    actor: Actor = ANONYMOUS

    def authenticate(self) -> Actor | None:
        """The actor the connection's credentials stand for now, or None."""
        if self.credentials is None:
            return None
        actor = self.kernel.hook.actor_from_request(request=self.credentials, kernel=self.kernel)
        return actor if actor is not None and actor.authenticated else None


def _bearer(params: Mapping[str, Any]) -> str | None:
    for name in ("Authorization", "authorization"):
        value = params.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    for name in ("token", "authToken"):
        value = params.get(name)
        if isinstance(value, str) and value.strip():
            return f"Bearer {value.strip()}"
    return None


def credentials_of(websocket: WebSocket, params: Mapping[str, Any]) -> Request:
    """A request carrying the handshake's headers (its cookies), with the token of the
    `connection_init` payload as its `Authorization` header: what `actor_from_request` reads."""
    headers = [(k, v) for k, v in websocket.scope["headers"] if k.lower() != b"authorization"]
    bearer = _bearer(params)
    if bearer is not None:
        headers.append((b"authorization", bearer.encode("latin-1", "replace")))
    scope = {**websocket.scope, "type": "http", "method": "GET", "headers": headers}
    return Request(scope)


class _NoSession:
    """The unit of work of the moment a subscription starts: its resolver must not read the
    database then (nothing would close the transaction); payloads read per event."""

    def __init__(self) -> None:
        self.actor = None

    @property
    def session(self) -> Any:
        raise RuntimeError(
            "a subscription resolver reads the database per event: yield a payload with a "
            "load(context) method (openitsm.kernel.graphql.subscriptions.ReloadRecord)"
        )

    def close(self, *, succeeded: bool) -> None:
        return None


def _coded(errors: list[GraphQLError] | None, request_id: str) -> list[GraphQLError]:
    """The errors with the kernel's messages and `extensions.code`, as on POST /graphql."""
    coded = []
    for error in errors or []:
        payload = format_error(error, request_id)
        coded.append(
            GraphQLError(
                payload["message"],
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions=payload.get("extensions"),
            )
        )
    return coded


def _refused(message: str, code: str = "BAD_USER_INPUT") -> PreExecutionError:
    return PreExecutionError(data=None, errors=[GraphQLError(message, extensions={"code": code})])


class Subscriptions:
    """What the protocol handler calls `schema`: it only ever asks for `stream`."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    async def stream(
        self,
        query: str,
        variable_values: dict[str, Any] | None = None,
        context_value: Any = None,
        root_value: Any = None,
        operation_name: str | None = None,
        **_: Any,
    ) -> AsyncGenerator[ExecutionResult, None]:
        return self._results(query, variable_values, context_value, operation_name)

    async def _results(
        self,
        query: str,
        variables: dict[str, Any] | None,
        connection: Connection,
        operation_name: str | None,
    ) -> AsyncGenerator[ExecutionResult, None]:
        kernel = self.kernel
        schema = kernel.schema
        request_id = uuid.uuid4().hex
        if not isinstance(query, str) or not query.strip():
            yield _refused('No query given; send {"query": "subscription { ... }"}.')
            return
        document, errors = schema.prepare(query)
        if document is None or errors:
            yield PreExecutionError(data=None, errors=_coded(errors, request_id))
            return
        chosen = get_operation_ast(document, operation_name)
        if chosen is None:
            yield _refused("Name one operation of the document in operationName.")
            return
        if chosen.operation != OperationType.SUBSCRIPTION:
            yield _refused(
                "This connection serves subscriptions; send queries and mutations as POST "
                "requests to /graphql."
            )
            return
        guards = schema.field_guards
        if guards is not None:
            refused = guards.refusal(document, connection.actor)
            if refused is not None:
                yield PreExecutionError(data=None, errors=_coded([refused], request_id))
                return
        setup = Context(kernel, _NoSession(), connection.actor, request_id)
        built = Executor.build(
            schema._schema,
            document,
            context_value=setup,
            raw_variable_values=variables,
            operation_name=operation_name,
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
        )
        if isinstance(built, list):
            yield PreExecutionError(data=None, errors=_coded(built, request_id))
            return
        source: Any = create_source_event_stream(built)
        if optimized_is_awaitable(source):
            source = await source
        if not hasattr(source, "__aiter__"):
            yield PreExecutionError(data=None, errors=_coded(source.errors, request_id))
            return
        events = source.__aiter__()
        response_name = chosen.selection_set.selections[0]
        try:
            while True:
                try:
                    payload = await events.__anext__()
                except StopAsyncIteration:
                    return
                except Exception as exc:  # the resolver refused (FORBIDDEN, a bad id) or failed
                    error = GraphQLError(
                        str(exc), nodes=[response_name], path=None, original_error=exc
                    )
                    yield PreExecutionError(data=None, errors=_coded([error], request_id))
                    return
                result = await self._execute(built, document, connection, payload)
                if result is not None:
                    yield result
                    if result.errors and result.data is None:
                        return
        finally:
            closing = getattr(events, "aclose", None)
            if closing is not None:
                await closing()

    async def _execute(
        self, built: Executor, document: DocumentNode, connection: Connection, payload: Any
    ) -> ExecutionResult | None:
        """One event, as a request of its own; None when the subscriber may not see it."""
        kernel = self.kernel
        request_id = uuid.uuid4().hex
        async with connection.lock:
            try:
                actor = connection.authenticate()
                if actor is None:
                    error = GraphQLError("Sign in again.", original_error=Unauthenticated())
                    return ExecutionResult(data=None, errors=_coded([error], request_id))
                connection.actor = actor
                guards = kernel.schema.field_guards
                refused = guards.refusal(document, actor) if guards is not None else None
                if refused is not None:
                    return ExecutionResult(data=None, errors=_coded([refused], request_id))
                unit = LazyUnitOfWork(kernel.unit_of_work, actor, request_id)
                context = Context(kernel, unit, actor, request_id, connection.credentials)
                succeeded = False
                try:
                    load = getattr(payload, "load", None)
                    value = load(context) if callable(load) else payload
                    if value is None:
                        succeeded = True
                        return None
                    executor = built.build_per_event_executor(value)
                    executor.context_value = context
                    result: Any = execute_subscription_event(executor)
                    if optimized_is_awaitable(result):
                        result = await result
                    succeeded = not result.errors
                finally:
                    unit.close(succeeded=succeeded)
            except Exception as exc:  # a fault: logged with the request id, masked for the client
                error = GraphQLError(str(exc), original_error=exc)
                return ExecutionResult(data=None, errors=_coded([error], request_id))
        return ExecutionResult(data=result.data, errors=_coded(result.errors, request_id) or None)


class SubscriptionEndpoint(GraphQL[Connection, None]):
    """Strawberry's ASGI view, serving only WebSocket subscriptions for the kernel."""

    def __init__(self, kernel: Kernel) -> None:
        base_url = kernel.settings.server.base_url
        super().__init__(
            Subscriptions(kernel),  # type: ignore[arg-type]
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
            allowed_origins=[base_url.rstrip("/")] if base_url else [],
        )
        self.kernel = kernel

    async def get_context(self, request: Any, response: Any) -> Connection:
        return Connection(self.kernel, request, request.app.state.graphql_lock)

    async def on_ws_connect(self, context: Connection) -> UnsetType:
        context.credentials = credentials_of(context.websocket, context.connection_params)
        actor = context.authenticate()
        if actor is None:
            raise ConnectionRejectionError({"message": "Sign in, or pass an API token."})
        context.actor = actor
        return UNSET


async def serve(websocket: WebSocket) -> None:
    """`/graphql` for WebSocket connections; the endpoint is made on the first one."""
    state = websocket.app.state
    endpoint = getattr(state, "graphql_subscriptions", None)
    if endpoint is None:
        endpoint = state.graphql_subscriptions = SubscriptionEndpoint(state.kernel)
    await endpoint.run(websocket)
