"""Mirror the whole directory: users (disabled ones deactivated), role codes and OUs."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm.adapters.ad.accounts import LoginTaken, deactivate, mirror
from openitsm.adapters.ad.directory import Directory, DirectoryOu, dn_key
from openitsm.adapters.ad.models import DirectoryAccount, DirectorySyncState
from openitsm.adapters.ad.models import DirectoryOu as StoredOu
from openitsm.adapters.ad.settings import Settings
from openitsm.kernel import utcnow

log = logging.getLogger("openitsm.adapters.ad")


@dataclass
class SyncReport:
    users: int = 0
    deactivated: int = 0
    skipped: int = 0
    ous: int = 0

    def __str__(self) -> str:
        return (
            f"{self.users} users, {self.deactivated} deactivated, "
            f"{self.skipped} skipped, {self.ous} OUs"
        )


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

    report = SyncReport()
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
            user = mirror(session, entry, settings, account)
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
    report.ous = _sync_ous(session, ous)
    return report


def _sync_ous(session: Session, ous: list[DirectoryOu]) -> int:
    stored = {dn_key(row.dn): row for row in session.scalars(select(StoredOu))}
    found = set()
    for ou in ous:
        key = dn_key(ou.dn)
        found.add(key)
        row = stored.get(key)
        if row is None:
            session.add(StoredOu(dn=ou.dn, parent_dn=ou.parent_dn, name=ou.name, present=True))
            continue
        for name, value in (("dn", ou.dn), ("parent_dn", ou.parent_dn), ("name", ou.name)):
            if getattr(row, name) != value:
                setattr(row, name, value)
        if not row.present:
            row.present = True
    for key, row in stored.items():
        if key not in found and row.present:
            row.present = False
    return len(ous)


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
