"""Greetings in GraphQL: thin resolvers that check who is asking and call the service.

Names follow the API's conventions so integrators can guess them: a singular `greeting(id:)`
and a connection `greetings(first:, after:)`; verb-first mutations `createGreeting(input:)`
and `updateGreeting(id:, version:, input:)`, each returning a payload type.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from openitsm.kernel import (
    Connection,
    Context,
    ModelNode,
    SortKey,
    after_commit,
    by_id_loader,
    decode_id,
)
from sqlalchemy import select
from strawberry import relay
from strawberry.types import Info

from openitsm_hello import service
from openitsm_hello.models import Greeting


@strawberry.type(name="Greeting", description="A message people send to each other.")
class GreetingType(ModelNode):
    __model__ = Greeting

    name: str
    message: str
    times_greeted: int = strawberry.field(description="How often it has been sent.")
    version: int = strawberry.field(description="Pass it back to updateGreeting.")
    created_at: dt.datetime
    updated_at: dt.datetime


@strawberry.type
class HelloQuery:
    @strawberry.field(description="Every greeting, by name.")
    def greetings(
        self, info: Info[Context, Any], first: int | None = None, after: str | None = None
    ) -> Connection[GreetingType]:
        context = info.context
        context.require_actor()
        return context.paginate(
            select(Greeting),
            keys=[SortKey(Greeting.name)],
            tiebreak=Greeting.id,
            first=first,
            after=after,
        )

    @strawberry.field(description="One greeting; null when there is none with this id.")
    async def greeting(self, info: Info[Context, Any], id: relay.GlobalID) -> GreetingType | None:
        info.context.require_actor()
        return await by_id_loader(info.context, Greeting).load(decode_id(id, GreetingType))


@strawberry.input
class CreateGreetingInput:
    name: str
    message: str


@strawberry.input
class UpdateGreetingInput:
    name: str | None = None
    message: str | None = None


@strawberry.type
class CreateGreetingPayload:
    greeting: GreetingType


@strawberry.type
class UpdateGreetingPayload:
    greeting: GreetingType


@strawberry.type
class SendGreetingPayload:
    greeting: GreetingType
    queued: bool = strawberry.field(description="True once the send is in the queue.")


@strawberry.type
class HelloMutation:
    @strawberry.mutation
    def create_greeting(
        self, info: Info[Context, Any], input: CreateGreetingInput
    ) -> CreateGreetingPayload:
        info.context.require_actor()
        greeting = service.create_greeting(info.context.session, input.name, input.message)
        return CreateGreetingPayload(greeting=greeting)  # type: ignore[arg-type]

    @strawberry.mutation(description="Fails with CONFLICT when `version` is not the latest.")
    def update_greeting(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        version: int,
        input: UpdateGreetingInput,
    ) -> UpdateGreetingPayload:
        info.context.require_actor()
        greeting = service.update_greeting(
            info.context.session,
            decode_id(id, GreetingType),
            version,
            {"name": input.name, "message": input.message},
        )
        return UpdateGreetingPayload(greeting=greeting)  # type: ignore[arg-type]

    @strawberry.mutation(description="Queue the greeting to be sent; the queue counts it.")
    def send_greeting(self, info: Info[Context, Any], id: relay.GlobalID) -> SendGreetingPayload:
        context = info.context
        context.require_actor()
        greeting = service.get_greeting(context.session, decode_id(id, GreetingType))
        send = context.kernel.tasks["hello.send_greeting"]
        # Enqueue only once this request's transaction has committed, so a worker never
        # picks up work for a change that was rolled back.
        after_commit(context.session, lambda: send.enqueue(greeting.id))
        return SendGreetingPayload(greeting=greeting, queued=True)  # type: ignore[arg-type]
