"""API tokens in GraphQL: create (the secret is shown once), list, revoke."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from openitsm.kernel.errors import Forbidden, _t
from openitsm.kernel.graphql.connection import Connection, SortKey
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import ModelNode, decode_id
from openitsm.kernel.identity import tokens
from openitsm.kernel.identity.token_models import ApiToken


@strawberry.type(name="ApiToken", description="A credential for an external system.")
class ApiTokenType(ModelNode):
    __model__ = ApiToken

    name: str
    prefix: str = strawberry.field(description="The secret's first characters, to recognise it.")
    roles: list[str] = strawberry.field(description="The role codes the token acts with.")
    user_id: int = strawberry.field(description="The user the token acts as.")
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None = strawberry.field(
        description="When it was last used, to the minute."
    )
    created_at: dt.datetime

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        return [
            row if row is not None and tokens.may_see(context.actor, row) else None for row in rows
        ]


@strawberry.input
class CreateApiTokenInput:
    name: str
    expires_at: dt.datetime = strawberry.field(description="At most a year from now.")
    roles: list[str] = strawberry.field(default_factory=list)


@strawberry.type
class CreateApiTokenPayload:
    token: str = strawberry.field(description="The secret; shown only in this answer.")
    api_token: ApiTokenType


@strawberry.type
class RevokeApiTokenPayload:
    api_token: ApiTokenType


def _signed_in_person(info: Info[Context, Any]) -> Any:
    actor = info.context.require_actor()
    request = info.context.request
    if request is not None and getattr(request.state, "api_token_id", None) is not None:
        raise Forbidden(_t("API tokens cannot manage API tokens; sign in as a person."))
    return actor


@strawberry.type
class ApiTokenQuery:
    @strawberry.field(description="Your API tokens, newest first; administrators see all.")
    def api_tokens(
        self, info: Info[Context, Any], first: int | None = None, after: str | None = None
    ) -> Connection[ApiTokenType]:
        actor = info.context.require_actor()
        return info.context.paginate(
            tokens.visible_tokens(actor),
            keys=[SortKey(ApiToken.id, descending=True)],
            tiebreak=ApiToken.id,
            first=first,
            after=after,
        )


@strawberry.type
class ApiTokenMutation:
    @strawberry.mutation
    def create_api_token(
        self, info: Info[Context, Any], input: CreateApiTokenInput
    ) -> CreateApiTokenPayload:
        actor = _signed_in_person(info)
        secret, token = tokens.create_api_token(
            info.context.session,
            actor,
            name=input.name,
            expires_at=input.expires_at,
            roles=input.roles,
        )
        return CreateApiTokenPayload(token=secret, api_token=token)  # type: ignore[arg-type]

    @strawberry.mutation
    def revoke_api_token(
        self, info: Info[Context, Any], id: relay.GlobalID
    ) -> RevokeApiTokenPayload:
        actor = info.context.require_actor()
        token = tokens.revoke_api_token(info.context.session, actor, decode_id(id, ApiTokenType))
        return RevokeApiTokenPayload(api_token=token)  # type: ignore[arg-type]
