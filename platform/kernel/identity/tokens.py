"""API tokens for external systems: shown once, stored hashed, scoped to roles, expiring.

A token acts as its owner restricted to the token's roles: the actor carries those roles
and is never a superuser, whatever its owner is. Using a token records `last_used_at` at
most once a minute (with a `token_used` audit event), so reads do not become writes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, Select, bindparam, or_, select, update
from sqlalchemy.orm import Session

from openitsm.kernel.access import grants
from openitsm.kernel.actors import Actor
from openitsm.kernel.db import utcnow
from openitsm.kernel.db.prepared import PreparedSelect
from openitsm.kernel.db.session import flush
from openitsm.kernel.errors import BadUserInput, Forbidden, NotFound, Unauthenticated, _t
from openitsm.kernel.identity import events
from openitsm.kernel.identity.models import User
from openitsm.kernel.identity.service import (
    CREDENTIAL_USER_COLUMNS,
    SignedInUser,
    credential_usable,
    signed_in,
)
from openitsm.kernel.identity.token_models import API_TOKEN_PREFIX, ApiToken

# A year, leap years included.
LONGEST_LIFETIME = dt.timedelta(days=366)
USE_RECORD_INTERVAL = dt.timedelta(minutes=1)
PREFIX_LENGTH = len(API_TOKEN_PREFIX) + 8
RECORD_KIND = "api_token"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _clean_roles(roles: Sequence[str]) -> list[str]:
    cleaned = sorted({role.strip() for role in roles})
    if any(not role or len(role) > 64 for role in cleaned):
        raise BadUserInput(_t("Role codes are 1 to 64 characters."), field="roles")
    return cleaned


def create_api_token(
    session: Session,
    actor: Actor,
    *,
    name: str,
    expires_at: dt.datetime,
    roles: Sequence[str] = (),
) -> tuple[str, ApiToken]:
    """A new token for the actor's own user; returns the secret, which is never stored."""
    if actor.user_id is None:
        raise Unauthenticated()
    name = name.strip()
    if not name or len(name) > 200:
        raise BadUserInput(_t("A token's name is 1 to 200 characters."), field="name")
    if expires_at.tzinfo is None:
        raise BadUserInput(_t("expiresAt needs a time zone offset."), field="expiresAt")
    now = utcnow()
    if expires_at <= now:
        raise BadUserInput(_t("expiresAt must be in the future."), field="expiresAt")
    if expires_at - now > LONGEST_LIFETIME:
        raise BadUserInput(_t("A token expires within a year."), field="expiresAt")
    scope = _clean_roles(roles)
    if not actor.superuser and not set(scope) <= actor.roles:
        raise Forbidden(_t("A token can only carry roles its owner holds."))
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=actor.user_id,
        name=name,
        token_hash=digest(secret),
        prefix=secret[:PREFIX_LENGTH],
        roles=scope,
        expires_at=expires_at,
        created_at=now,
        created_by=actor.user_id,
    )
    session.add(token)
    flush(session)
    events.record(
        session,
        record_kind=RECORD_KIND,
        record_id=token.id,
        action="token_created",
        actor_id=actor.user_id,
        actor_label=actor.label,
        request_id=session.info.get("request_id"),
        details={
            "name": name,
            "prefix": token.prefix,
            "roles": scope,
            "expires_at": expires_at.isoformat(),
        },
    )
    return secret, token


def visible_tokens(actor: Actor) -> Select[Any]:
    """The tokens this actor may see: their own, or every one for a superuser."""
    statement = select(ApiToken)
    if not actor.superuser:
        statement = statement.where(ApiToken.user_id == actor.user_id)
    return statement


def may_see(actor: Actor, token: ApiToken) -> bool:
    return actor.superuser or (actor.user_id is not None and token.user_id == actor.user_id)


def revoke_api_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or not may_see(actor, token):
        raise NotFound(_t("No such API token."))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        flush(session)
        events.record(
            session,
            record_kind=RECORD_KIND,
            record_id=token.id,
            action="token_revoked",
            actor_id=actor.user_id,
            actor_label=actor.label,
            request_id=session.info.get("request_id"),
            details={"name": token.name, "prefix": token.prefix},
        )
    return token


# Built once, like the session lookup: this runs on every token-authenticated request.
_TOKEN_LOOKUP = PreparedSelect(
    select(
        ApiToken.id.label("token_id"),
        ApiToken.name.label("token_name"),
        ApiToken.prefix,
        ApiToken.roles,
        ApiToken.expires_at,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        *CREDENTIAL_USER_COLUMNS,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def actor_for_api_token(
    engine: Engine, token: str, *, address: str | None = None
) -> tuple[Actor, SignedInUser, int] | None:
    """The actor behind an API token and the token's id; None if unknown, expired or revoked."""
    row = _TOKEN_LOOKUP.first(engine, token_hash=digest(token))
    if row is None:
        return None
    now = utcnow()
    if not credential_usable(row, now):
        return None
    label = f"{row['name']} (API token {row['prefix']})"
    last_used = row["last_used_at"]
    if last_used is None or now - last_used >= USE_RECORD_INTERVAL:
        _record_use(engine, row["token_id"], row["user_id"], label, now, address)
    # The token acts with the roles it was given that its owner still holds, never more,
    # and is never a superuser.
    granted = grants.cached_grants(engine, row["user_id"], row["grants_version"]).limited_to(
        frozenset(row["roles"] or ())
    )
    actor, user = signed_in(row, granted, label=label, superuser=False)
    return actor, user, row["token_id"]


def _record_use(
    engine: Engine, token_id: int, user_id: int, label: str, now: dt.datetime, address: str | None
) -> None:
    """Stamp `last_used_at`; the condition lets only one of several processes win a minute."""
    with engine.begin() as connection:
        stamped = connection.execute(
            update(ApiToken)
            .where(
                ApiToken.id == token_id,
                or_(
                    ApiToken.last_used_at.is_(None),
                    ApiToken.last_used_at <= now - USE_RECORD_INTERVAL,
                ),
            )
            .values(last_used_at=now)
        )
        if stamped.rowcount == 1:
            events.record(
                connection,
                record_kind=RECORD_KIND,
                record_id=token_id,
                action="token_used",
                actor_id=user_id,
                actor_label=label,
                details={"address": address},
            )
