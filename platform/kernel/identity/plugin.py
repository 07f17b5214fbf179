"""The kernel's identity: accounts, sign-in, and the actor behind each request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.types import Info

from openitsm.kernel.actors import Actor
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.identity import service, tokens
from openitsm.kernel.identity.models import AuthSession, User
from openitsm.kernel.identity.routes import client_address, routes, session_token
from openitsm.kernel.identity.token_models import API_TOKEN_PREFIX, ApiToken, SignInThrottle
from openitsm.kernel.references import RecordKind

if TYPE_CHECKING:
    from starlette.requests import Request

    from openitsm.kernel.app import Kernel


@strawberry.type(description="The signed-in user.")
class Viewer:
    id: int
    login: str
    name: str
    email: str | None
    is_superuser: bool
    locale: str | None
    time_zone: str


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="Who is signed in; null when anonymous.")
    def viewer(self, info: Info[Context, Any]) -> Viewer | None:
        actor = info.context.actor
        if actor.user_id is None:
            return None
        request = info.context.request
        known = getattr(request.state, "signed_in_user", None) if request is not None else None
        user = known if known is not None and known.id == actor.user_id else None
        # Either row has every field of Viewer, which resolves them by attribute.
        return user or info.context.session.get(User, actor.user_id)  # type: ignore[return-value]


@hookimpl
def register_models() -> list[type]:
    return [User, AuthSession, ApiToken, SignInThrottle]


@hookimpl
def register_routes() -> list[Any]:
    return routes


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.kernel.identity.token_schema import (
        ApiTokenMutation,
        ApiTokenQuery,
        ApiTokenType,
    )

    @strawberry.type
    class Query(IdentityQuery, ApiTokenQuery):
        pass

    return GraphQLContribution(query=Query, mutation=ApiTokenMutation, types=[ApiTokenType])


@hookimpl
def register_record_kinds() -> list[RecordKind]:
    return [
        RecordKind(
            "user",
            User,
            labels={"zh-CN": "用户", "en": "User"},
            describe=lambda u: {"title": u.name},
            extra_fields=("roles", "service_units"),
            link_rows={"user_role": "roles", "user_service_unit": "service_units"},
            shows=("name",),
            url="/admin/users/{id}",
            searched=("login", "name", "employee_id", "email", "phone"),
            search_number="employee_id",
            search_order=("login",),
            search_action="org.read",
            list_url="/admin/users?q={q}",
        )
    ]


@hookimpl
def actor_from_request(request: Request, kernel: Kernel) -> Actor | None:
    token = session_token(kernel, request)
    if not token:
        return None
    if token.startswith(API_TOKEN_PREFIX):
        by_token = tokens.actor_for_api_token(kernel.engine, token, address=client_address(request))
        if by_token is None:
            return None
        actor, user, token_id = by_token
        request.state.api_token_id = token_id
    else:
        found = service.actor_for_token(kernel.engine, token)
        if found is None:
            return None
        actor, user = found
    request.state.signed_in_user = user  # so `viewer` needs no query of its own
    return actor
