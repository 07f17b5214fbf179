"""Accounts, passwords (argon2) and sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session

from openitsm.kernel.access import grants
from openitsm.kernel.actors import Actor
from openitsm.kernel.db import utcnow
from openitsm.kernel.db.prepared import PreparedSelect
from openitsm.kernel.db.session import flush
from openitsm.kernel.errors import BadUserInput, _t
from openitsm.kernel.identity.models import AuthSession, User
from openitsm.kernel.identity.token_models import API_TOKEN_PREFIX

SESSION_DAYS = 14
# Refresh last_seen at most this often, so reads do not turn into writes on every request.
TOUCH_INTERVAL = dt.timedelta(minutes=5)
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password")


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Hash and verify with other argon2 parameters from now on.

    Hashes made with earlier parameters still verify and are rehashed at the next sign-in.
    The test helpers choose the cheapest parameters: a suite signs in thousands of times.
    """
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("not a real password")


def hash_password(password: str) -> str:
    if len(password) < 4:
        raise BadUserInput(_t("Passwords need at least 4 characters."), field="password")
    return _hasher.hash(password)


def create_user(
    session: Session,
    login: str,
    name: str,
    *,
    password: str | None = None,
    email: str | None = None,
    superuser: bool = False,
    locale: str | None = None,
) -> User:
    login = login.strip()
    if not login or len(login) > 150:
        raise BadUserInput(_t("A login is 1 to 150 characters."), field="login")
    if session.scalar(select(User.id).where(User.login == login)) is not None:
        raise BadUserInput(
            _t("The login '{login}' is taken."), field="login", params={"login": login}
        )
    user = User(
        login=login,
        name=name or login,
        email=email,
        password_hash=hash_password(password) if password else None,
        is_superuser=superuser,
        locale=locale,
    )
    session.add(user)
    flush(session)
    return user


def authenticate(session: Session, login: str, password: str) -> User | None:
    """The active user with these credentials, else None — in the same time either way."""
    user, valid = check_credentials(session, login, password)
    return user if valid else None


def check_credentials(session: Session, login: str, password: str) -> tuple[User | None, bool]:
    """The user holding `login` (if any) and whether the password signs them in.

    A password is verified against a dummy hash when the login is unknown, so the answer
    takes the same time either way.
    """
    user = session.scalar(select(User).where(User.login == login.strip()))
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return user, False
    if user is None or not user.active or stored is _DUMMY_HASH:
        return user, False
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    return user, True


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user: User, user_agent: str | None = None) -> str:
    """Start a session and return its token; only the token's hash is stored."""
    token = secrets.token_urlsafe(32)
    while token.startswith(API_TOKEN_PREFIX):  # that prefix marks API tokens on the Bearer path
        token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AuthSession(
            token_hash=_digest(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(days=SESSION_DAYS),
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    flush(session)
    return token


# What every credential lookup (session or API token) reads about the user behind it.
CREDENTIAL_USER_COLUMNS = (
    User.id.label("user_id"),
    User.login,
    User.name,
    User.email,
    User.is_superuser,
    User.locale,
    User.time_zone,
    User.active,
    User.department_id,
    grants.version_column(),
)

# Built once: this runs on every authenticated request, and building the statement costs
# more than executing it on SQLite.
_SESSION_LOOKUP = PreparedSelect(
    select(
        AuthSession.id.label("session_id"),
        AuthSession.expires_at,
        AuthSession.revoked_at,
        AuthSession.last_seen_at,
        *CREDENTIAL_USER_COLUMNS,
    )
    .join(User, User.id == AuthSession.user_id)
    .where(AuthSession.token_hash == bindparam("token_hash"))
)


@dataclass(frozen=True)
class SignedInUser:
    """The signed-in user's own fields, read with the session so `viewer` needs no query."""

    id: int
    login: str
    name: str
    email: str | None
    is_superuser: bool
    locale: str | None
    time_zone: str


def credential_usable(row: dict[str, Any], now: dt.datetime) -> bool:
    """Neither revoked nor expired, and its user still active."""
    return row["revoked_at"] is None and row["expires_at"] > now and bool(row["active"])


def signed_in(
    row: dict[str, Any],
    granted: grants.Grants,
    *,
    label: str,
    superuser: bool,
    session_id: int | None = None,
) -> tuple[Actor, SignedInUser]:
    """The actor and the user's own fields from a credential lookup row."""
    user = SignedInUser(
        row["user_id"],
        row["login"],
        row["name"],
        row["email"],
        row["is_superuser"],
        row["locale"],
        row["time_zone"],
    )
    actor = Actor(
        user_id=row["user_id"],
        label=label,
        superuser=superuser,
        session_id=session_id,
        locale=row["locale"],
        time_zone=row["time_zone"],
        actions=granted.actions,
        roles=granted.roles,
        department_id=row["department_id"],
        service_unit_ids=granted.service_unit_ids,
        scopes=granted.scopes,
        field_rules=granted.field_rules,
    )
    return actor, user


def actor_for_token(engine: Engine, token: str) -> tuple[Actor, SignedInUser] | None:
    """The actor behind a session token, or None when it is unknown, expired or revoked.

    Read outside the request's transaction, so a request that needs nothing else from the
    database opens no transaction at all.
    """
    row = _SESSION_LOOKUP.first(engine, token_hash=_digest(token))
    if row is None:
        return None
    now = utcnow()
    if not credential_usable(row, now):
        return None
    if now - row["last_seen_at"] > TOUCH_INTERVAL:
        # Its own short write, so the request's transaction never holds a write lock for it.
        with engine.begin() as connection:
            connection.execute(
                update(AuthSession)
                .where(AuthSession.id == row["session_id"])
                .values(last_seen_at=now)
            )
    granted = grants.cached_grants(engine, row["user_id"], row["grants_version"])
    return signed_in(
        row,
        granted,
        label=row["name"],
        superuser=row["is_superuser"],
        session_id=row["session_id"],
    )


def revoke_session(session: Session, token: str) -> int | None:
    """Revoke the session; the id of its user, or None when it was unknown or revoked."""
    return session.scalar(
        update(AuthSession)
        .where(AuthSession.token_hash == _digest(token), AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(AuthSession.user_id)
        .execution_options(synchronize_session=False)
    )
