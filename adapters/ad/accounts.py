"""Mirror a directory entry onto a local user: create or update, never delete.

Besides name, e-mail and state, the user gets the department of the OU holding the entry and
the kernel roles its groups map to (`group_roles`).
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from openitsm.adapters.ad.directory import DirectoryUser, dn_key, parent_of, role_for_group
from openitsm.adapters.ad.models import DirectoryAccount, DirectoryRoleGrant, OuDepartment
from openitsm.adapters.ad.settings import Settings
from openitsm.kernel import flush, utcnow
from openitsm.kernel.errors import NotFound
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.organisation.models import UserRole

log = logging.getLogger("openitsm.adapters.ad")
# Profile fields the user model may carry; filled when it has them.
OPTIONAL_USER_FIELDS = ("phone", "employee_id")


class LoginTaken(Exception):
    """A local account with a password already uses this login; it is never taken over."""


class RoleLookup:
    """Role ids by code, asked once per code; unknown codes become `errors`, not exceptions."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.ids: dict[str, int | None] = {}
        self.errors: list[str] = []

    def role_ids(self, codes: set[str]) -> set[int]:
        found = set()
        for code in sorted(codes):
            if code not in self.ids:
                try:
                    self.ids[code] = organisation.role_by_code(self.session, code).id
                except NotFound:
                    self.ids[code] = None
                    self.errors.append(f"group_roles names an unknown role code '{code}'")
                    log.error("directory group_roles names an unknown role code %r", code)
            role_id = self.ids[code]
            if role_id is not None:
                found.add(role_id)
        return found


def role_codes(entry: DirectoryUser, settings: Settings) -> set[str]:
    """Role codes for the entry's groups; mapping keys are group DNs or CNs."""
    return {
        code
        for code in (role_for_group(group_dn, settings) for group_dn in entry.groups)
        if code is not None
    }


def ou_departments(session: Session) -> dict[str, int]:
    """Department id by OU DN key, for the OUs still in the directory."""
    return {
        link.dn_key: link.department_id
        for link in session.scalars(select(OuDepartment).where(OuDepartment.present.is_(True)))
    }


def department_for(dn: str, departments: dict[str, int]) -> int | None:
    """The department of the nearest OU above the entry; None outside every known OU."""
    parent = parent_of(dn)
    while parent is not None:
        department_id = departments.get(dn_key(parent))
        if department_id is not None:
            return department_id
        parent = parent_of(parent)
    return None


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
    *,
    departments: dict[str, int] | None = None,
    roles: RoleLookup | None = None,
) -> User:
    """The local user for `entry`, created or brought up to date, with department and roles.

    `account` is the entry's existing link when the caller has already looked it up;
    `departments` and `roles` let a sync share its look-ups between users.
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
    departments = ou_departments(session) if departments is None else departments
    _update(user, entry, department_for(entry.dn, departments))
    for name, value in (
        ("dn", entry.dn),
        ("dn_key", dn_key(entry.dn)),
        ("guid", entry.guid),
        ("phone", entry.phone),
        ("employee_id", entry.employee_id),
        ("disabled", entry.disabled),
    ):
        if getattr(account, name) != value:
            setattr(account, name, value)
    account.synced_at = utcnow()
    flush(session)
    roles = roles or RoleLookup(session)
    set_directory_roles(session, user.id, roles.role_ids(role_codes(entry, settings)))
    return user


def _update(user: User, entry: DirectoryUser, department_id: int | None) -> None:
    wanted = {"login": entry.login, "name": entry.name, "email": entry.email}
    wanted["active"] = not entry.disabled
    for name in OPTIONAL_USER_FIELDS:
        if hasattr(User, name):
            wanted[name] = getattr(entry, name)
    if department_id is not None:  # outside every OU the department stays as it was set
        wanted["department_id"] = department_id
    for name, value in wanted.items():
        if getattr(user, name) != value:
            setattr(user, name, value)


def set_directory_roles(session: Session, user_id: int, wanted: set[int]) -> None:
    """Grant the wanted roles the user lacks; revoke those the directory granted and no
    longer wants. A role the user already held is the administrator's and is left alone."""
    granted = set(
        session.scalars(
            select(DirectoryRoleGrant.role_id).where(DirectoryRoleGrant.user_id == user_id)
        )
    )
    held = set(session.scalars(select(UserRole.role_id).where(UserRole.user_id == user_id)))
    for role_id in sorted(wanted - held):
        organisation.grant_role(session, user_id, role_id)
        if role_id not in granted:
            session.add(DirectoryRoleGrant(user_id=user_id, role_id=role_id))
    gone = granted - wanted
    for role_id in sorted(gone & held):
        organisation.revoke_role(session, user_id, role_id)
    if gone:
        session.execute(
            delete(DirectoryRoleGrant).where(
                DirectoryRoleGrant.user_id == user_id, DirectoryRoleGrant.role_id.in_(gone)
            )
        )
    flush(session)


def deactivate(session: Session, account: DirectoryAccount) -> bool:
    """Mark a mirrored user inactive (never deleted); True when something changed."""
    user = session.get(User, account.user_id)
    if not account.disabled:
        account.disabled = True
    if user is not None and user.active:
        user.active = False
        return True
    return False
