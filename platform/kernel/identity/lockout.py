"""Signing in with a password, locked for a while after repeated failures.

After `LOCK_AFTER` (5) failed sign-ins for a login it is locked for `FIRST_LOCK` (1 minute);
each further failure once the lock has run out doubles the lock, up to `LONGEST_LOCK`
(1 hour). While locked, every attempt is refused, even with the right password. A success
clears the count, and a count left alone for `FORGET_AFTER` (1 day) starts again.

The count is kept in the database, so every web process sees the same one, and it is kept
for logins that match no user as well: the lock, the page and the timing are the same for
either, so sign-in never tells whether a login exists. Every success, failure and lock is
written to the audit history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from openitsm.kernel.db import utcnow
from openitsm.kernel.identity import events, service
from openitsm.kernel.identity.models import User
from openitsm.kernel.identity.token_models import SignInThrottle

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

LOCK_AFTER = 5
FIRST_LOCK = dt.timedelta(minutes=1)
LONGEST_LOCK = dt.timedelta(hours=1)
FORGET_AFTER = dt.timedelta(days=1)


@dataclass(frozen=True)
class SignInResult:
    """A signed-in user, or why not: `locked_until` is set while the login is locked."""

    user: User | None
    locked_until: dt.datetime | None = None
    directory_unavailable: bool = False


def lock_duration(failures: int) -> dt.timedelta | None:
    """How long `failures` consecutive failures lock a login; None below the threshold."""
    if failures < LOCK_AFTER:
        return None
    doublings = min(failures - LOCK_AFTER, 12)  # 2**12 minutes is past the cap already
    return min(FIRST_LOCK * 2**doublings, LONGEST_LOCK)


def _key(login: str) -> str:
    return login.strip()[:150]


def sign_in(
    session: Session,
    login: str,
    password: str,
    *,
    address: str | None = None,
    request_id: str | None = None,
    kernel: Kernel | None = None,
) -> SignInResult:
    """Check a password sign-in against the lock and record the outcome.

    A directory plugin (`authenticate_credentials`) is asked first; local accounts are
    checked when it does not know the login, or cannot be reached, so administrators can
    still sign in while the directory is down.
    """
    key = _key(login)
    now = utcnow()
    throttle = session.get(SignInThrottle, key)
    if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
        user = session.scalar(select(User).where(User.login == key))
        events.refused(
            session,
            user,
            key,
            "sign_in_failed",
            request_id=request_id,
            address=address,
            reason="locked",
        )
        return SignInResult(None, throttle.locked_until)
    directory = (
        kernel.hook.authenticate_credentials(
            login=login, password=password, session=session, kernel=kernel
        )
        if kernel is not None
        else None
    )
    if directory is not None and directory.user_id is not None:
        user, valid = session.get(User, directory.user_id), True
    else:
        user, valid = service.check_credentials(session, login, password)
    if valid and user is not None:
        if throttle is not None:
            session.execute(delete(SignInThrottle).where(SignInThrottle.login == key))
        events.by_user(session, user, "sign_in", request_id=request_id, address=address)
        return SignInResult(user)
    # The failure counts even when the directory was down: the local password was tried.
    unavailable = directory is not None and directory.unavailable
    reason = "directory" if unavailable else "password"
    events.refused(
        session, user, key, "sign_in_failed", request_id=request_id, address=address, reason=reason
    )
    locked_until = _count_failure(session, key, now)
    if locked_until is not None:
        events.refused(
            session,
            user,
            key,
            "locked",
            request_id=request_id,
            locked_until=locked_until.isoformat(),
        )
    return SignInResult(None, locked_until, directory_unavailable=unavailable)


def _count_failure(session: Session, key: str, now: dt.datetime) -> dt.datetime | None:
    """Add one failure under a row lock (so concurrent processes do not lose one)."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(SignInThrottle)
        .values(login=key, failures=0, last_failure_at=now)
        .on_conflict_do_nothing(index_elements=["login"])
    )
    throttle = session.get(SignInThrottle, key, with_for_update=True, populate_existing=True)
    assert throttle is not None  # inserted just above when missing
    if now - throttle.last_failure_at > FORGET_AFTER:  # longer than any lock lasts
        throttle.failures = 0
    throttle.failures += 1
    throttle.last_failure_at = now
    duration = lock_duration(throttle.failures)
    throttle.locked_until = now + duration if duration is not None else None
    session.flush()
    return throttle.locked_until
