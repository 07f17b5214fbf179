"""Process definitions: import a diagram as a draft, publish it, find the current version.

A draft is checked in full on import (`parse_definition`) and may be replaced until it is
published; publishing freezes it, and the version that was current stays as it is for the
instances running on it. Modules ship their default processes (`register_processes`); they
are imported and published on `openitsm migrate` only while no version of that process
exists, so a process an administrator has redrawn is never overwritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, defer

from openitsm.kernel.access.fields import check_write
from openitsm.kernel.db import check_version, utcnow
from openitsm.kernel.db.session import flush
from openitsm.kernel.errors import BadUserInput, Conflict, NotFound, _t
from openitsm.kernel.workflow.definition import ProcessDefinition, parse_definition
from openitsm.kernel.workflow.models import DRAFT, PUBLISHED, ProcessVersion


@dataclass(frozen=True)
class ProcessSpec:
    """A process a plugin ships: the BPMN file, read when it is first imported."""

    path: Path

    def read(self) -> bytes:
        return Path(self.path).read_bytes()


def _checksum(xml: str) -> str:
    return hashlib.sha256(xml.encode()).hexdigest()


def versions(session: Session, key: str) -> list[ProcessVersion]:
    """Every version of a process, newest first."""
    return list(
        session.scalars(
            select(ProcessVersion)
            .where(ProcessVersion.key == key)
            .order_by(ProcessVersion.number.desc())
        )
    )


# Built once: every new instance looks it up.
_NEWEST_PUBLISHED = (
    select(ProcessVersion)
    .options(defer(ProcessVersion.xml))
    .where(ProcessVersion.key == bindparam("key"), ProcessVersion.state == PUBLISHED)
    .order_by(ProcessVersion.number.desc())
    .limit(1)
)


def published_version(session: Session, key: str) -> ProcessVersion | None:
    """The newest published version, or None while there is none. Its diagram is read only
    when asked for: instances run the definition parsed once per version (`definition_of`)."""
    return session.scalar(_NEWEST_PUBLISHED, {"key": key})


def current(session: Session, key: str) -> ProcessVersion:
    """The newest published version: what a new instance of the process runs."""
    found = published_version(session, key)
    if found is None:
        raise NotFound(_t("No published process '{key}'."), params={"key": key}, field="key")
    return found


def import_definition(
    session: Session,
    xml: str | bytes,
    *,
    actor_id: int | None = None,
    source: str = "upload",
    draft_version: int | None = None,
) -> tuple[ProcessVersion, ProcessDefinition]:
    """Check `xml` and keep it as the process's draft: a new version, or the existing draft
    replaced (pass its `version` as `draft_version`, so a concurrent edit is a CONFLICT)."""
    definition = parse_definition(xml)
    check_write(session, "process_version", ["xml"])
    draft = session.scalar(
        select(ProcessVersion).where(
            ProcessVersion.key == definition.process_id, ProcessVersion.state == DRAFT
        )
    )
    if draft is not None:
        if draft_version is None:
            raise Conflict(
                _t(
                    "Process '{key}' already has a draft (version {number}); replace it "
                    "with its version, or publish or discard it first."
                ),
                params={"key": draft.key, "number": draft.number},
                currentVersion=draft.version,
            )
        check_version(draft, draft_version, "process draft")
        row = draft
    else:
        latest = session.scalar(
            select(func.max(ProcessVersion.number)).where(
                ProcessVersion.key == definition.process_id
            )
        )
        row = ProcessVersion(
            key=definition.process_id, number=(latest or 0) + 1, state=DRAFT, source=source
        )
        session.add(row)
    row.name = definition.name[:200]
    row.xml = definition.xml
    row.checksum = _checksum(definition.xml)
    row.created_by_id = actor_id
    flush(session)
    return row, definition


def publish(
    session: Session, key: str, number: int, version: int, *, actor_id: int | None = None
) -> ProcessVersion:
    """Freeze a draft: new instances of the process run it from now on."""
    row = get_version(session, key, number)
    check_version(row, version, "process draft")
    if row.state != DRAFT:
        raise BadUserInput(
            _t("Version {number} of '{key}' is already published; publish a new draft instead."),
            params={"key": key, "number": number},
            field="number",
        )
    definition = parse_definition(row.xml)  # checked again: the engine may have changed since
    _check_calendars(session, definition)
    row.state = PUBLISHED
    row.published_at = utcnow()
    row.published_by_id = actor_id
    flush(session)
    return row


def _check_calendars(session: Session, definition: ProcessDefinition) -> None:
    """Refuse a definition naming a business calendar the site does not have."""
    from openitsm.kernel.calendar.models import CalendarRecord

    named = {definition.process_id: definition.calendar} if definition.calendar else {}
    named.update({n.id: n.calendar for n in definition.nodes.values() if n.calendar})
    if not named:
        return
    known = set(
        session.scalars(
            select(CalendarRecord.key).where(CalendarRecord.key.in_(set(named.values())))
        )
    )
    for element, key in named.items():
        if key not in known:
            raise BadUserInput(
                _t(
                    "{element} names the business calendar '{key}', which does not exist; "
                    "create it first or name another one."
                ),
                field="calendar",
                params={"element": element, "key": key},
                element=element,
            )


def discard_draft(session: Session, key: str, number: int, version: int) -> None:
    row = get_version(session, key, number)
    check_version(row, version, "process draft")
    if row.state != DRAFT:
        raise BadUserInput(
            _t("Version {number} of '{key}' is published and is kept."),
            params={"key": key, "number": number},
            field="number",
        )
    session.delete(row)
    flush(session)


def get_version(session: Session, key: str, number: int) -> ProcessVersion:
    """Version `number` of process `key`; NOT_FOUND when there is none."""
    row = session.scalar(
        select(ProcessVersion).where(ProcessVersion.key == key, ProcessVersion.number == number)
    )
    if row is None:
        raise NotFound(
            _t("Process '{key}' has no version {number}."),
            params={"key": key, "number": number},
            field="number",
        )
    return row


def sync_shipped(session: Session, shipped: Iterable[tuple[str, ProcessSpec]]) -> int:
    """Import and publish each process a plugin ships when no version of it exists yet;
    returns how many were added. Redrawn processes are left as they are."""
    added = 0
    for plugin, spec in shipped:
        definition = parse_definition(spec.read())
        if session.scalar(
            select(ProcessVersion.id).where(ProcessVersion.key == definition.process_id).limit(1)
        ):
            continue
        row, _ = import_definition(session, definition.xml, source=f"plugin:{plugin}")
        publish(session, row.key, row.number, row.version)
        added += 1
    return added
