"""One timeline per record: its history, comments and what modules add (process steps),
as the viewer may see them, newest first.

The history comes from the audit trail through the same rules as the API's `history`:
changes of hidden fields are left out, and so are updates that changed nothing else.
Values of links (a department id, a user id) are shown by name, looked up in one query
per kind for the whole timeline. Comments and the rest come from every plugin's
`record_timeline_entries`, each in a constant number of queries, so a page of the
timeline costs the same whether it holds one entry or fifty.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

from markupsafe import Markup
from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.orm import Session

from openitsm.kernel.access.fields import field_access
from openitsm.kernel.actors import Actor
from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.audit.schema import readable_events
from openitsm.kernel.hookspecs import TimelineEntry
from openitsm.kernel.links import service as record_links
from openitsm.kernel.references import RecordKinds, RecordRef, RecordSummary
from openitsm.web.pages import PageContext
from openitsm.web.statements import per_viewer

TIMELINE_LENGTH = 50
# An event with one of its changes (event id, field, old and new value; None without any).
ChangeRow: TypeAlias = "Row[AuditEvent, int | None, str | None, Any, Any]"


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


@dataclass(frozen=True)
class TimelinePage:
    """One page of a merged timeline; `older` is where the next page starts (None at the end)."""

    entries: list[TimelineEntry]
    older: dt.datetime | None = None


def record_timeline(
    page: PageContext,
    kind: str,
    record_id: int,
    labels: Mapping[str, str] | None = None,
    links: Mapping[str, str] | None = None,
    comments: bool = False,
    *,
    session: Session | None = None,
    known: Mapping[RecordRef, RecordSummary] | None = None,
) -> Markup:
    """The record's timeline as HTML. `labels` names fields for the reader; `links` maps
    link fields to the record kind their ids point at (`{"department_id": "department"}`).
    With `comments`, viewers who may see the record get a form to comment on it.

    The page starts at the request's `?before=` (an ISO time), which the "older entries"
    link sets. A page that has a session open reads the timeline in it (`session`), and
    hands over the records it has already described for the viewer (`known`: its parent,
    say), which the history then need not look up again."""
    before = parse_before(page.request.query_params.get("before"))
    ref = RecordRef(kind, record_id)
    with contextlib.nullcontext(session) if session else page.kernel.session() as reading:
        found = merged_timeline(page, reading, ref, labels, links, before, known=known)
        may_comment = comments and _may_see(page, reading, ref)
    return page.render(
        "timeline.html",
        timeline=found,
        ref=ref,
        may_comment=may_comment,
        may_internal=page.actor.can("comment.internal"),
        here=page.request.url.path,
    )


def _may_see(page: PageContext, session: Session, ref: RecordRef) -> bool:
    kinds = page.kernel.record_kinds
    return ref.kind in kinds and kinds.exists(session, ref, page.actor)


def parse_before(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        found = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=dt.UTC)


def merged_timeline(
    page: PageContext,
    session: Session,
    ref: RecordRef,
    labels: Mapping[str, str] | None = None,
    links: Mapping[str, str] | None = None,
    before: dt.datetime | None = None,
    limit: int = TIMELINE_LENGTH,
    known: Mapping[RecordRef, RecordSummary] | None = None,
) -> TimelinePage:
    """History and every plugin's entries older than `before`, merged, newest first."""
    kernel = page.kernel
    history = [
        _history_entry(entry)
        for entry in _history(page, session, ref, labels, links, before, limit + 1, known=known)
    ]
    # Plugins name things in the reader's language: the page's, whatever the profile says.
    reader = replace(page.actor, locale=page.locale)
    others = kernel.hook.record_timeline_entries(
        kernel=kernel, session=session, actor=reader, ref=ref, before=before, limit=limit + 1
    )
    return merge_page([history, *others], limit)


def merge_page(streams: Iterable[Iterable[TimelineEntry]], limit: int) -> TimelinePage:
    """The newest `limit` entries of several streams, each cut at `limit + 1`.

    A stream that came back full may hold more entries at or before its oldest one, so the
    page stops above the latest such time; it also never splits entries of one instant
    between two pages, since the next page asks for those strictly older than its cursor.
    """
    floor: dt.datetime | None = None
    merged: list[TimelineEntry] = []
    for stream in streams:
        items = sorted(stream or (), key=_at, reverse=True)[: limit + 1]
        if len(items) > limit:
            floor = items[-1].at if floor is None else max(floor, items[-1].at)
        merged.extend(items)
    merged.sort(key=_at, reverse=True)
    complete = merged if floor is None else [e for e in merged if e.at > floor]
    shown = complete[:limit]
    more = floor is not None or len(complete) > limit
    if len(complete) > limit and shown and complete[limit].at == shown[-1].at:
        cut = shown[-1].at
        # Stop above the instant the page would split; a page of one instant takes it whole.
        shown = [e for e in shown if e.at > cut] or [e for e in complete if e.at == cut]
    if not shown and merged:  # more than a page at one instant: show a page of them
        shown = merged[:limit]
    return TimelinePage(shown, shown[-1].at if more and shown else None)


def _at(entry: TimelineEntry) -> dt.datetime:
    return entry.at


def _history_entry(entry: Entry) -> TimelineEntry:
    event = entry.event
    return TimelineEntry(
        at=event.at,
        kind="history",
        actor_label=event.actor_label,
        key=f"history:{event.id}",
        data={
            "action": event.action,
            "on_behalf_of_id": event.on_behalf_of_id,
            "changes": entry.changes,
        },
    )


def timeline_entries(
    page: PageContext,
    kind: str,
    record_id: int,
    labels: Mapping[str, str] | None = None,
    links: Mapping[str, str] | None = None,
    since: dt.datetime | None = None,
) -> list[Entry]:
    """The history entries of a record, newest first; only those after `since` if given
    (what others changed while a form was open)."""
    with page.kernel.session() as session:
        return _history(
            page, session, RecordRef(kind, record_id), labels, links, None, TIMELINE_LENGTH, since
        )


def _history(
    page: PageContext,
    session: Session,
    ref: RecordRef,
    labels: Mapping[str, str] | None,
    links: Mapping[str, str] | None,
    before: dt.datetime | None,
    limit: int,
    since: dt.datetime | None = None,
    known: Mapping[RecordRef, RecordSummary] | None = None,
) -> list[Entry]:
    """`known`: records the caller has already described for this viewer."""
    labels, links = labels or {}, links or {}
    kinds = page.kernel.record_kinds
    hidden = field_access(page.actor, ref.kind).hidden
    statement = _history_statement(
        page.actor, kinds, ref.kind, since is not None, before is not None, limit
    )
    bound: dict[str, Any] = {"record_id": ref.id}
    if since is not None:
        bound["since"] = since
    if before is not None:
        bound["before"] = before
    changed: Sequence[ChangeRow] = session.execute(statement, bound).all()
    events: list[AuditEvent] = list(dict.fromkeys(row[0] for row in changed))
    # Changes of hidden fields are left out before anything they name is looked up.
    rows = [row for row in changed if row.field is not None and row.field not in hidden]
    wanted = {
        RecordRef(links[r.field], int(value))
        for r in rows
        if r.field in links
        for value in (r.old_value, r.new_value)
        if isinstance(value, int)
    }
    wanted |= record_links.history_refs(
        [r.new_value or r.old_value for r in rows if r.field == record_links.HISTORY_FIELD]
    )
    names = dict(known or {})
    if wanted - names.keys():
        names.update(kinds.describe(session, wanted - names.keys(), page.actor))
    by_event: dict[int, list[Change]] = {}
    for row in rows:
        if row.field == record_links.HISTORY_FIELD:
            by_event.setdefault(row.event_id, []).append(_link_change(page, names, row))
            continue
        label = labels.get(row.field, row.field.replace("_", " "))
        old, new = row.old_value, row.new_value
        if row.field in links:
            old = _named(names, links[row.field], old)
            new = _named(names, links[row.field], new)
        by_event.setdefault(row.event_id, []).append(Change(row.field, label, old, new))
    return [Entry(event, by_event.get(event.id, [])) for event in events]


@per_viewer
def _history_statement(
    actor: Actor, kinds: RecordKinds, kind: str, since: bool, before: bool, limit: int
) -> Select[Any]:
    """The newest `limit` events of a record of `kind` the viewer may learn of, with their
    changes, in one statement; an event without any comes once. The record's id, and the
    times with `since` and `before`, are bound as it runs."""
    newest = select(AuditEvent.id).where(
        AuditEvent.record_kind == kind, AuditEvent.record_id == bindparam("record_id")
    )
    newest = readable_events(newest, actor, kinds, kind)
    if since:
        newest = newest.where(AuditEvent.at > bindparam("since"))
    if before:
        newest = newest.where(AuditEvent.at < bindparam("before"))
    newest = newest.order_by(AuditEvent.id.desc()).limit(limit).correlate(None)
    return (
        select(
            AuditEvent,
            AuditChange.event_id,
            AuditChange.field,
            AuditChange.old_value,
            AuditChange.new_value,
        )
        .outerjoin(AuditChange, AuditChange.event_id == AuditEvent.id)
        .where(AuditEvent.id.in_(newest))
        .order_by(AuditEvent.id.desc(), AuditChange.id)
    )


def _link_change(page: PageContext, names: Mapping[RecordRef, Any], row: ChangeRow) -> Change:
    """A link or unlink, named from this record's side; the other record by its title, or
    as unseen when the reader may not see it."""
    value = row.new_value or row.old_value
    ref = record_links.history_ref(value)
    summary = names.get(ref) if ref is not None else None
    shown = summary.title if summary is not None else page.gettext("a record you may not see")
    return Change(row.field, record_links.history_label(value, page.locale), None, shown)


def _named(names: Mapping[RecordRef, Any], kind: str, value: Any) -> Any:
    if not isinstance(value, int):
        return value
    summary = names.get(RecordRef(kind, value))
    return summary.title if summary is not None else f"#{value}"
