"""Mirror a directory entry onto a local user: create or update, never delete."""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from openitsm.adapters.ad.directory import DirectoryUser, dn_key
from openitsm.adapters.ad.models import DirectoryAccount, DirectoryUserRole
from openitsm.adapters.ad.settings import Settings
from openitsm.kernel import flush, utcnow
from openitsm.kernel.identity.models import User

log = logging.getLogger("openitsm.adapters.ad")
# Profile fields the user model may carry; filled when it has them.
OPTIONAL_USER_FIELDS = ("phone", "employee_id")


class LoginTaken(Exception):
    """A local account with a password already uses this login; it is never taken over."""


def role_codes(entry: DirectoryUser, settings: Settings) -> set[str]:
    """Role codes for the entry's groups; mapping keys are group DNs or CNs."""
    by_key: dict[str, str] = {}
    for group, role in settings.group_roles.items():
        by_key[dn_key(group) if "=" in group else group.lower()] = role
    codes = set()
    for group_dn in entry.groups:
        key = dn_key(group_dn)
        cn = key.split(",", 1)[0].partition("=")[2]
        for candidate in (key, cn):
            if candidate in by_key:
                codes.add(by_key[candidate])
    return codes


def find_account(session: Session, entry: DirectoryUser) -> DirectoryAccount | None:
    """The link for `entry`: by its stable id, else by its DN (ids may be unreadable)."""
    if entry.guid:
        account = session.scalar(
            select(DirectoryAccount).where(DirectoryAccount.guid == entry.guid)
        )
        if account is not None:
            return account
    return session.scalar(
        select(DirectoryAccount).where(DirectoryAccount.dn_key == dn_key(entry.dn)).limit(1)
    )


def mirror(
    session: Session,
    entry: DirectoryUser,
    settings: Settings,
    account: DirectoryAccount | None = None,
) -> User:
    """The local user for `entry`, created or brought up to date, with its role codes.

    `account` is the entry's existing link when the caller has already looked it up.
    """
    account = account or find_account(session, entry)
    user = session.get(User, account.user_id) if account is not None else None
    if user is None:
        user = session.scalar(select(User).where(User.login == entry.login))
        if user is not None and (user.password_hash or user.is_superuser):
            raise LoginTaken(entry.login)
        if user is None:
            user = User(login=entry.login, name=entry.name, password_hash=None)
            session.add(user)
            flush(session)
    if account is None:
        account = DirectoryAccount(user_id=user.id, dn=entry.dn, dn_key=dn_key(entry.dn))
        session.add(account)
    _update(user, entry)
    account.dn, account.dn_key = entry.dn, dn_key(entry.dn)
    account.guid = entry.guid
    account.phone = entry.phone
    account.employee_id = entry.employee_id
    account.disabled = entry.disabled
    account.synced_at = utcnow()
    _set_roles(session, user.id, role_codes(entry, settings))
    flush(session)
    return user


def _update(user: User, entry: DirectoryUser) -> None:
    wanted = {"login": entry.login, "name": entry.name, "email": entry.email}
    wanted["active"] = not entry.disabled
    for name in OPTIONAL_USER_FIELDS:
        if hasattr(User, name):
            wanted[name] = getattr(entry, name)
    for name, value in wanted.items():
        if getattr(user, name) != value:
            setattr(user, name, value)


def _set_roles(session: Session, user_id: int, codes: set[str]) -> None:
    current = set(
        session.scalars(
            select(DirectoryUserRole.role_code).where(DirectoryUserRole.user_id == user_id)
        )
    )
    if current - codes:
        session.execute(
            delete(DirectoryUserRole).where(
                DirectoryUserRole.user_id == user_id,
                DirectoryUserRole.role_code.in_(current - codes),
            )
        )
    session.add_all(DirectoryUserRole(user_id=user_id, role_code=code) for code in codes - current)


def deactivate(session: Session, account: DirectoryAccount) -> bool:
    """Mark a mirrored user inactive (never deleted); True when something changed."""
    user = session.get(User, account.user_id)
    account.disabled = True
    if user is not None and user.active:
        user.active = False
        return True
    return False
