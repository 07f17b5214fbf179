"""Delegations in GraphQL: list mine (given and received), create, revoke."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from openitsm.kernel.access import delegation as rules
from openitsm.kernel.db import utcnow
from openitsm.kernel.graphql.connection import Connection, SortKey
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import ModelNode, by_id_loader, decode_id, link, prefetched
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.delegation_models import Delegation
from openitsm.kernel.organisation.schema import UserType


@strawberry.type(
    name="Delegation", description="A deputy acting for a user over a period (出差授权)."
)
class DelegationType(ModelNode):
    __model__ = Delegation

    starts_at: dt.datetime
    ends_at: dt.datetime = strawberry.field(description="The first moment it no longer applies.")
    reason: str
    revoked_at: dt.datetime | None
    created_at: dt.datetime
    version: int

    @strawberry.field(description="In force now: started, not over, not revoked.")
    def active(self, root: strawberry.Parent[Delegation]) -> bool:
        now = utcnow()
        return root.revoked_at is None and root.starts_at <= now < root.ends_at

    @strawberry.field
    async def delegator(
        self, root: strawberry.Parent[Delegation], info: Info[Context, Any]
    ) -> UserType:
        return await by_id_loader(info.context, User).load(root.delegator_id)

    @strawberry.field
    async def deputy(
        self, root: strawberry.Parent[Delegation], info: Info[Context, Any]
    ) -> UserType:
        return await by_id_loader(info.context, User).load(root.deputy_id)

    created_by: UserType | None = link(User, "created_by")

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        return [
            row if row is not None and rules.may_see(context.actor, row) else None for row in rows
        ]


@strawberry.input
class CreateDelegationInput:
    deputy: relay.GlobalID
    starts_at: dt.datetime
    ends_at: dt.datetime = strawberry.field(
        description="Exclusive: the next period may start here."
    )
    delegator: relay.GlobalID | None = strawberry.field(
        default=None,
        description="Whose work is handed on; yourself when left out (else org.manage).",
    )
    reason: str = ""


@strawberry.type
class CreateDelegationPayload:
    delegation: DelegationType


@strawberry.type
class RevokeDelegationPayload:
    delegation: DelegationType


@strawberry.type
class DelegationQuery:
    @strawberry.field(
        description="Delegations you gave or received, latest start first; org.manage sees all."
    )
    def delegations(
        self, info: Info[Context, Any], first: int | None = None, after: str | None = None
    ) -> Connection[DelegationType]:
        actor = info.context.require_actor()
        return prefetched(
            info,
            DelegationType,
            info.context.paginate(
                rules.visible_delegations(actor),
                keys=[SortKey(Delegation.starts_at, descending=True)],
                tiebreak=Delegation.id,
                first=first,
                after=after,
            ),
        )


@strawberry.type
class DelegationMutation:
    @strawberry.mutation
    def create_delegation(
        self, info: Info[Context, Any], input: CreateDelegationInput
    ) -> CreateDelegationPayload:
        actor = info.context.require_actor()
        delegation = rules.create_delegation(
            info.context.session,
            actor,
            deputy_id=decode_id(input.deputy, UserType, "deputy"),
            delegator_id=(
                decode_id(input.delegator, UserType, "delegator") if input.delegator else None
            ),
            starts_at=input.starts_at,
            ends_at=input.ends_at,
            reason=input.reason,
        )
        return CreateDelegationPayload(delegation=delegation)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="End a delegation now (the delegator, its creator or org.manage)."
    )
    def revoke_delegation(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int
    ) -> RevokeDelegationPayload:
        actor = info.context.require_actor()
        delegation = rules.revoke_delegation(
            info.context.session, actor, decode_id(id, DelegationType), version
        )
        return RevokeDelegationPayload(delegation=delegation)  # type: ignore[arg-type]


TYPES = (DelegationType,)
