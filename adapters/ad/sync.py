"""Mirror the whole directory: OUs as departments, users (disabled ones deactivated), roles."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm.adapters.ad.accounts import LoginTaken, RoleLookup, deactivate, mirror
from openitsm.adapters.ad.directory import Directory, DirectoryOu, dn_key
from openitsm.adapters.ad.models import DirectoryAccount, DirectorySyncState, OuDepartment
from openitsm.adapters.ad.settings import Settings
from openitsm.kernel import flush, utcnow
from openitsm.kernel.organisation import service as organisation
from openitsm.kernel.organisation.models import Department

log = logging.getLogger("openitsm.adapters.ad")


@dataclass
class SyncReport:
    users: int = 0
    deactivated: int = 0
    skipped: int = 0
    ous: int = 0
    departments_changed: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.users} users, {self.deactivated} deactivated, "
            f"{self.skipped} skipped, {self.ous} OUs, "
            f"{self.departments_changed} departments changed"
        )
        if self.errors:
            text += f"; {len(self.errors)} errors: " + "; ".join(self.errors)
        return text


def sync(session: Session, settings: Settings) -> SyncReport:
    """One full pass; running it twice in a row changes nothing the second time.

    Reads everything before writing, so a directory failing halfway leaves the data as it
    was (`DirectoryUnavailable` propagates and the unit of work rolls back).
    """
    directory = Directory(settings)
    connection = directory.service_connection()
    try:
        entries = directory.users(connection)
        ous = directory.ous(connection)
    finally:
        connection.unbind()

    report = SyncReport(ous=len(ous))
    departments = _sync_departments(session, ous, report)
    roles = RoleLookup(session)
    accounts = list(session.scalars(select(DirectoryAccount)))
    by_guid = {account.guid: account for account in accounts if account.guid}
    by_dn = {account.dn_key: account for account in accounts}
    seen: set[int] = set()
    for entry in entries:
        if not entry.login:
            report.skipped += 1
            continue
        account = (by_guid.get(entry.guid) if entry.guid else None) or by_dn.get(dn_key(entry.dn))
        if account is None and entry.disabled:
            report.skipped += 1  # never create an account only to switch it off
            continue
        try:
            user = mirror(session, entry, settings, account, departments=departments, roles=roles)
        except LoginTaken:
            log.warning("directory user %s matches a local account with a password", entry.dn)
            report.skipped += 1
            continue
        seen.add(user.id)
        report.users += 1
        report.deactivated += entry.disabled
    # Entries gone from the directory: deactivated, never deleted. An empty answer is more
    # likely a wrong base DN or filter than an empty company, so it deactivates nobody.
    if entries:
        for account in accounts:
            if account.user_id not in seen and deactivate(session, account):
                report.deactivated += 1
    report.errors.extend(roles.errors)
    return report


def department_code(ou: DirectoryOu) -> str:
    """A department code that survives renames and moves: from the OU's GUID when readable."""
    if ou.guid:
        guid = "".join(c for c in ou.guid.lower() if c.isalnum() or c == "-")
        return f"ou-{guid}"[:100]
    return "ou-" + hashlib.sha256(dn_key(ou.dn).encode()).hexdigest()[:32]


def _sync_departments(
    session: Session, ous: list[DirectoryOu], report: SyncReport
) -> dict[str, int]:
    """Keep one department per OU, parents first; return department id by OU DN key.

    OUs gone from the directory deactivate their department (never delete it). An empty
    answer changes nothing, for the same reason as for users.
    """
    links = list(session.scalars(select(OuDepartment)))
    if not ous:
        return {link.dn_key: link.department_id for link in links if link.present}
    by_guid = {link.guid: link for link in links if link.guid}
    by_dn = {link.dn_key: link for link in links}
    department_of: dict[str, int] = {}
    seen: set[int] = set()
    for ou in sorted(ous, key=lambda ou: dn_key(ou.dn).count(",")):
        key = dn_key(ou.dn)
        link = (by_guid.get(ou.guid) if ou.guid else None) or by_dn.get(key)
        parent_id = department_of.get(dn_key(ou.parent_dn)) if ou.parent_dn else None
        name = ou.name.strip()[:200] or key[:200]
        department = session.get(Department, link.department_id) if link else None
        if link is None or department is None:
            department = _new_department(session, department_code(ou), name, parent_id)
            report.departments_changed += 1
            if link is None:
                link = OuDepartment(department_id=department.id, dn=ou.dn, dn_key=key)
                session.add(link)
            link.department_id = department.id
        else:
            changes: dict[str, object] = {}
            if department.name != name:
                changes["name"] = name
            if not department.active:
                changes["active"] = True
            moved = department.parent_id != parent_id
            if changes:
                organisation.update_department(session, department.id, department.version, changes)
            if moved:
                organisation.move_department(session, department.id, department.version, parent_id)
            report.departments_changed += bool(changes) or moved
        for attribute, value in (
            ("dn", ou.dn),
            ("dn_key", key),
            ("guid", ou.guid),
            ("present", True),
        ):
            if getattr(link, attribute) != value:
                setattr(link, attribute, value)
        flush(session)
        seen.add(link.id)
        department_of[key] = department.id
    for link in links:
        if link.id in seen or not link.present:
            continue
        link.present = False
        department = session.get(Department, link.department_id)
        if department is not None and department.active:
            organisation.update_department(
                session, department.id, department.version, {"active": False}
            )
            report.departments_changed += 1
    flush(session)
    return department_of


def _new_department(session: Session, code: str, name: str, parent_id: int | None) -> Department:
    """A department for a new OU; one already carrying the code (its link was lost) is reused."""
    existing = session.scalar(select(Department).where(Department.code == code))
    if existing is None:
        return organisation.create_department(session, code=code, name=name, parent_id=parent_id)
    if existing.parent_id != parent_id:
        organisation.move_department(session, existing.id, existing.version, parent_id)
    changes = {"name": name, "active": True}
    if any(getattr(existing, k) != v for k, v in changes.items()):
        organisation.update_department(session, existing.id, existing.version, changes)
    return existing


def due(session: Session, settings: Settings, now: dt.datetime | None = None) -> bool:
    """Whether the configured interval has passed since the last sync started."""
    state = session.scalar(select(DirectorySyncState).limit(1))
    if state is None or state.started_at is None:
        return True
    now = now or utcnow()
    return now - state.started_at >= dt.timedelta(minutes=settings.sync_interval_minutes)


def record(session: Session, started: dt.datetime, result: str) -> None:
    state = session.scalar(select(DirectorySyncState).limit(1))
    if state is None:
        state = DirectorySyncState()
        session.add(state)
    state.started_at, state.finished_at, state.result = started, utcnow(), result[:2000]
