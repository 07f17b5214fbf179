"""API tokens (`/tokens`): a person's keys for external systems, shown once, revocable."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.identity import tokens
from openitsm.kernel.identity.token_models import ApiToken
from openitsm.kernel.organisation.models import Role
from openitsm.web.pages import PageContext, check_csrf, explained, page_context

DEFAULT_DAYS = 90


def _page_data(page: PageContext) -> dict[str, Any]:
    with page.kernel.session() as session:
        rows = list(
            session.scalars(
                tokens.visible_tokens(page.actor).order_by(ApiToken.created_at.desc()).limit(200)
            )
        )
        roles = list(
            session.scalars(
                select(Role).where(Role.code.in_(sorted(page.actor.roles))).order_by(Role.code)
            )
        )
    now = utcnow()
    listed = [(row, _state(row, now)) for row in rows]
    default = (now + dt.timedelta(days=DEFAULT_DAYS)).astimezone(dt.UTC).date().isoformat()
    return {"tokens": listed, "roles": roles, "default_expiry": default}


def _state(token: ApiToken, now: dt.datetime) -> str:
    expires = (
        token.expires_at if token.expires_at.tzinfo else token.expires_at.replace(tzinfo=dt.UTC)
    )
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if expires <= now else "active"


def tokens_page(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    return page.respond("tokens.html", secret=None, **_page_data(page))


@explained
async def create_token(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    try:
        day = dt.date.fromisoformat(str(form.get("expires_on", "")))
    except ValueError:
        raise BadUserInput("Choose the day the token stops working.", field="expires_on") from None
    # The end of that day in the user's own time zone.
    from zoneinfo import ZoneInfo

    expires_at = dt.datetime.combine(day, dt.time(23, 59), ZoneInfo(page.time_zone))
    roles = [str(code) for code in form.getlist("roles")]

    def create() -> str:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            secret, _ = tokens.create_api_token(
                session,
                page.actor,
                name=str(form.get("name", "")),
                expires_at=expires_at,
                roles=roles,
            )
        return secret

    secret = await run_in_threadpool(create)
    # Shown in this answer only: it is stored hashed and cannot be shown again.
    response = page.respond(
        "tokens.html", secret=secret, **await run_in_threadpool(_page_data, page)
    )
    response.headers["cache-control"] = "no-store"
    return response


@explained
async def revoke_token(request: Request) -> Response:
    page = page_context(request)
    if not isinstance(page, PageContext):
        return page
    form = await request.form()
    check_csrf(request, form)
    token_id = int(request.path_params["token_id"])

    def revoke() -> None:
        with page.kernel.unit_of_work(actor=page.actor) as session:
            tokens.revoke_api_token(session, page.actor, token_id)

    await run_in_threadpool(revoke)
    return RedirectResponse("/tokens", status_code=303)


ROUTES = [
    Route("/tokens", tokens_page, methods=["GET"]),
    Route("/tokens", create_token, methods=["POST"]),
    Route("/tokens/{token_id:int}/revoke", revoke_token, methods=["POST"]),
]
