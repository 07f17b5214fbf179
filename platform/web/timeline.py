"""One timeline per record: its history as the viewer may see it, newest first.

The history comes from the audit trail through the same rules as the API's `history`:
changes of hidden fields are left out, and so are updates that changed nothing else.
Values of links (a department id, a user id) are shown by name, looked up in one query
per kind for the whole timeline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy import select

from openitsm.kernel.access.fields import field_access
from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.audit.schema import readable_events
from openitsm.kernel.references import RecordRef
from openitsm.web.pages import PageContext

TIMELINE_LENGTH = 50


@dataclass(frozen=True)
class Change:
    field: str
    label: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Entry:
    event: AuditEvent
    changes: list[Change]


def record_timeline(
    page: PageContext,
    kind: str,
    record_id: int,
    labels: Mapping[str, str] | None = None,
    links: Mapping[str, str] | None = None,
) -> Markup:
    """The record's timeline as HTML. `labels` names fields for the reader; `links` maps
    link fields to the record kind their ids point at (`{"department_id": "department"}`)."""
    return page.render(
        "timeline.html", entries=timeline_entries(page, kind, record_id, labels, links)
    )


def timeline_entries(
    page: PageContext,
    kind: str,
    record_id: int,
    labels: Mapping[str, str] | None = None,
    links: Mapping[str, str] | None = None,
    since: dt.datetime | None = None,
) -> list[Entry]:
    """The entries of a record's timeline, newest first; only those after `since` if given
    (what others changed while a form was open)."""
    labels, links = labels or {}, links or {}
    kinds = page.kernel.record_kinds
    hidden = field_access(page.actor, kind).hidden
    with page.kernel.session() as session:
        statement = select(AuditEvent).where(
            AuditEvent.record_kind == kind, AuditEvent.record_id == record_id
        )
        statement = readable_events(statement, page.actor, kinds, kind)
        if since is not None:
            statement = statement.where(AuditEvent.at > since)
        events = list(
            session.scalars(statement.order_by(AuditEvent.id.desc()).limit(TIMELINE_LENGTH))
        )
        rows = session.scalars(
            select(AuditChange)
            .where(AuditChange.event_id.in_([e.id for e in events]))
            .order_by(AuditChange.id)
        ).all()
        wanted = {
            RecordRef(links[r.field], int(value))
            for r in rows
            if r.field in links
            for value in (r.old_value, r.new_value)
            if isinstance(value, int)
        }
        names = kinds.describe(session, wanted, page.actor) if wanted else {}
    by_event: dict[int, list[Change]] = {}
    for row in rows:
        if row.field in hidden:
            continue
        label = labels.get(row.field, row.field.replace("_", " "))
        old, new = row.old_value, row.new_value
        if row.field in links:
            old = _named(names, links[row.field], old)
            new = _named(names, links[row.field], new)
        by_event.setdefault(row.event_id, []).append(Change(row.field, label, old, new))
    return [Entry(event, by_event.get(event.id, [])) for event in events]


def _named(names: Mapping[RecordRef, Any], kind: str, value: Any) -> Any:
    if not isinstance(value, int):
        return value
    summary = names.get(RecordRef(kind, value))
    return summary.title if summary is not None else f"#{value}"
