"""The kernel's identity: accounts, sign-in, and the actor behind each request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.types import Info

from openitsm.kernel.actors import Actor
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.identity import service
from openitsm.kernel.identity.models import AuthSession, User
from openitsm.kernel.identity.routes import routes, session_token
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
    return [User, AuthSession]


@hookimpl
def register_routes() -> list[Any]:
    return routes


@hookimpl
def register_graphql() -> GraphQLContribution:
    return GraphQLContribution(query=IdentityQuery)


@hookimpl
def register_record_kinds() -> list[RecordKind]:
    return [
        RecordKind(
            "user",
            User,
            labels={"zh-CN": "用户", "en": "User"},
            describe=lambda u: {"title": u.name},
        )
    ]


@hookimpl
def actor_from_request(request: Request, kernel: Kernel) -> Actor | None:
    token = session_token(kernel, request)
    found = service.actor_for_token(kernel.engine, token) if token else None
    if found is None:
        return None
    actor, user = found
    request.state.signed_in_user = user  # so `viewer` needs no query of its own
    return actor
