"""Linking records: the one place that checks who may link what, and records it.

A link is as visible as both of its ends: linking or unlinking needs the action
`record.link` and sight of both records (a record the actor may not see, or a missing one,
answers NOT_FOUND alike), and a record's list of links leaves out every record the reader
may not see. Each link and unlink is written into the history of both records, so it shows
on both timelines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, bindparam, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openitsm.kernel.access.actions import require
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.access.scope import seen, visible
from openitsm.kernel.actors import SYSTEM, Actor
from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.db.base import utcnow
from openitsm.kernel.db.session import flush
from openitsm.kernel.errors import BadUserInput, NotFound, _t
from openitsm.kernel.links.models import RecordLink
from openitsm.kernel.links.relations import (
    INCOMING,
    OUTGOING,
    RELATIONS,
    Relation,
    get_relation,
)
from openitsm.kernel.references import RecordKinds, RecordRef, RecordSummary

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

ACTION = "record.link"
# Audit actions and the field of their change row: {"relation", "direction", "record"}.
LINKED = "link"
UNLINKED = "unlink"
HISTORY_FIELD = "linked_record"


@dataclass(frozen=True)
class LinkView:
    """One link as seen from `here`, one of its records: `record` is the other end,
    described for the reader; `direction` is OUTGOING when `here` is the link's source."""

    id: int
    relation: Relation
    direction: str
    here: RecordRef
    record: RecordSummary
    created_at: dt.datetime

    def label(self, locale: str) -> str:
        return self.relation.label(locale, self.direction)

    @property
    def source(self) -> RecordRef:
        """The stored source of the link, whichever end it is seen from."""
        return self.here if self.direction == OUTGOING else self.record.ref

    @property
    def target(self) -> RecordRef:
        return self.record.ref if self.direction == OUTGOING else self.here


def _view(link: RecordLink, here: RecordRef, other: RecordSummary) -> LinkView:
    direction = OUTGOING if link.source == here else INCOMING
    relation = RELATIONS[link.relation]
    return LinkView(link.id, relation, direction, here, other, link.created_at)


def _kernel(session: Session) -> Kernel:
    kernel = session.info.get("kernel")
    if kernel is None:
        raise RuntimeError("record links need a session opened by a kernel")
    return kernel  # type: ignore[no-any-return]


def _actor(session: Session, actor: Actor | None) -> Actor:
    return actor or session.info.get("actor") or SYSTEM


def _require_visible(
    session: Session, kinds: RecordKinds, actor: Actor, refs: Mapping[str, RecordRef]
) -> None:
    """Every ref (by the input field naming it) known and visible to `actor`: an unknown
    kind is BAD_USER_INPUT, a missing or hidden record NOT_FOUND. One query per kind, none
    for records the request already read under the actor's scope (`records_seen`)."""
    for field, ref in refs.items():
        if ref.kind not in kinds:
            raise BadUserInput(
                _t("Unknown record kind '{kind}'; known kinds: {known}."),
                field=field,
                params={"kind": ref.kind, "known": ", ".join(sorted(kinds.kinds))},
            )
    unchecked = [ref for ref in refs.values() if not seen(actor, ref)]
    found = kinds.fetch(session, unchecked, actor) if unchecked else {}
    for field, ref in refs.items():
        if ref not in found and ref in unchecked:
            raise NotFound(
                _t("No {kind} with id {id}."), field=field, params={"kind": ref.kind, "id": ref.id}
            )


def _checked(
    session: Session, source: RecordRef, target: RecordRef, relation: str | None, actor: Actor
) -> Relation:
    require(actor, ACTION)
    chosen = get_relation(relation)
    if source == target:
        raise BadUserInput(_t("A record cannot be linked to itself."), field="target")
    kinds = _kernel(session).record_kinds
    _require_visible(session, kinds, actor, {"source": source, "target": target})
    backing = kinds.kinds[source.kind].link_fields.get(chosen.name)
    if backing is not None:  # the link is that field of the source: its write rule applies
        field_access(actor, source.kind).check_write([backing])
    return chosen


def _existing(
    session: Session, source: RecordRef, target: RecordRef, relation: Relation
) -> RecordLink | None:
    """The stored link, in either direction for a symmetric relation."""
    ends = [(source, target)] + ([(target, source)] if relation.symmetric else [])
    return session.scalar(
        select(RecordLink)
        .where(
            RecordLink.relation == relation.name,
            or_(
                *(
                    and_(
                        RecordLink.source_kind == a.kind,
                        RecordLink.source_id == a.id,
                        RecordLink.target_kind == b.kind,
                        RecordLink.target_id == b.id,
                    )
                    for a, b in ends
                )
            ),
        )
        .order_by(RecordLink.id)
        .limit(1)
    )


def add_link(
    session: Session,
    source: RecordRef,
    target: RecordRef,
    relation: str | None = "related",
    actor: Actor | None = None,
) -> RecordLink:
    """Link `source` to `target` (`INC-1 duplicate_of INC-2`) as `actor` (the session's by
    default). Adding a link that exists returns it unchanged, so a retried request or two
    people linking the same pair at once leave one link and one history entry."""
    actor = _actor(session, actor)
    chosen = _checked(session, source, target, relation, actor)
    found = _existing(session, source, target, chosen)
    if found is not None:
        return found
    link = RecordLink(
        source_kind=source.kind,
        source_id=source.id,
        target_kind=target.kind,
        target_id=target.id,
        relation=chosen.name,
        created_by_id=actor.user_id,
    )
    try:
        with session.begin_nested():
            session.add(link)
            flush(session)
    except IntegrityError:
        found = _existing(session, source, target, chosen)
        if found is None:
            raise
        return found
    _record(session, actor, LINKED, link)
    return link


def remove_link(
    session: Session,
    source: RecordRef,
    target: RecordRef,
    relation: str | None = "related",
    actor: Actor | None = None,
) -> RecordLink:
    """Remove the link between the two records (either direction for a symmetric
    relation); NOT_FOUND when there is none. Returns the removed (detached) row."""
    actor = _actor(session, actor)
    chosen = _checked(session, source, target, relation, actor)
    link = _existing(session, source, target, chosen)
    if link is None:
        raise NotFound(
            _t("These records are not linked as {relation}."),
            field="target",
            params={"relation": chosen.name},
        )
    session.delete(link)
    flush(session)
    _record(session, actor, UNLINKED, link)
    return link


def _record(session: Session, actor: Actor, action: str, link: RecordLink) -> None:
    """One history event on each end of `link`, in one statement each for events and
    changes; the change names the relation, the direction and the other record."""
    now = utcnow()
    ends = ((link.source, OUTGOING, link.target), (link.target, INCOMING, link.source))
    event_ids = (
        session.execute(
            insert(AuditEvent).returning(AuditEvent.id, sort_by_parameter_order=True),
            [
                {
                    "at": now,
                    "record_kind": here.kind,
                    "record_id": here.id,
                    "action": action,
                    "actor_id": actor.user_id,
                    "actor_label": (actor.label or "system")[:200],
                    "on_behalf_of_id": actor.on_behalf_of,
                    "request_id": session.info.get("request_id"),
                }
                for here, _direction, _other in ends
            ],
        )
        .scalars()
        .all()
    )
    rows = []
    for event_id, (_here, direction, other) in zip(event_ids, ends, strict=True):
        value = {"relation": link.relation, "direction": direction, "record": str(other)}
        rows.append(
            {
                "event_id": event_id,
                "field": HISTORY_FIELD,
                "old_value": value if action == UNLINKED else None,
                "new_value": value if action == LINKED else None,
            }
        )
    session.execute(insert(AuditChange), rows)


# --- reading --------------------------------------------------------------------------


# A record's links in both directions, built once: record pages read them on every view.
_LINKS_OF = (
    select(RecordLink)
    .where(
        or_(
            and_(
                RecordLink.source_kind == bindparam("kind"),
                RecordLink.source_id == bindparam("record_id"),
            ),
            and_(
                RecordLink.target_kind == bindparam("kind"),
                RecordLink.target_id == bindparam("record_id"),
            ),
        )
    )
    .order_by(RecordLink.created_at, RecordLink.id)
)


def links_of(session: Session, ref: RecordRef, actor: Actor | None = None) -> list[LinkView]:
    """The links of `ref` in both directions, each with the other record described for
    `actor`; links to records the actor may not see (or whose module is gone) are left out.
    NOT_FOUND when the actor may not see `ref` itself.

    Costs one query for `ref`, one for the links and one per kind of linked record,
    however many links there are.
    """
    actor = _actor(session, actor)
    kinds = _kernel(session).record_kinds
    _require_visible(session, kinds, actor, {"record": ref})
    links = list(session.scalars(_LINKS_OF, {"kind": ref.kind, "record_id": ref.id}))
    hidden = hidden_relations(kinds, actor)
    links = [link for link in links if (link.source_kind, link.relation) not in hidden]
    others = {link.id: (link.target if link.source == ref else link.source) for link in links}
    described = kinds.describe(session, set(others.values()), actor) if others else {}
    return [
        _view(link, ref, described[others[link.id]])
        for link in links
        # a relation dropped from the registry since is not shown
        if others[link.id] in described and link.relation in RELATIONS
    ]


def hidden_relations(kinds: RecordKinds, actor: Actor) -> set[tuple[str, str]]:
    """(source kind, relation) of the links that make up a field hidden from `actor`
    (`RecordKind.link_fields`): they are left out of both records' lists and histories."""
    return {
        (kind.name, relation)
        for kind in kinds.kinds.values()
        for relation, name in kind.link_fields.items()
        if not field_access(actor, kind.name).readable(name)
    }


def hidden_history(kinds: RecordKinds, actor: Actor) -> ColumnElement[bool] | None:
    """A condition on `AuditEvent`, true for the link and unlink events (on either record) of
    links that make up a field hidden from `actor`, whose history would show its value; None
    when no such field is hidden."""
    hidden = hidden_relations(kinds, actor)
    if not hidden:
        return None

    def part(key: str) -> ColumnElement[str]:
        return func.coalesce(
            AuditChange.new_value[key].as_string(), AuditChange.old_value[key].as_string()
        )

    relation, direction, other = part("relation"), part("direction"), part("record")
    matches = [
        and_(
            relation == name,
            or_(
                and_(AuditEvent.record_kind == kind, direction == OUTGOING),
                and_(direction == INCOMING, other.startswith(f"{kind}:", autoescape=True)),
            ),
        )
        for kind, name in sorted(hidden)
    ]
    changes = select(AuditChange.id).where(
        AuditChange.event_id == AuditEvent.id,
        AuditChange.field == HISTORY_FIELD,
        or_(*matches),
    )
    return and_(AuditEvent.action.in_((LINKED, UNLINKED)), changes.exists())


def may_link(actor: Actor) -> bool:
    """Whether pages should offer to add and remove links (the service checks again)."""
    return actor.can(ACTION)


def find_by_number(
    session: Session, kinds: RecordKinds, actor: Actor, text: str
) -> list[RecordRef]:
    """The records `actor` may see whose number (`INC-2026-000001`) is `text`, one query per
    kind that has numbers the actor may read and search."""
    wanted = text.strip()
    if not wanted:
        return []
    found: list[RecordRef] = []
    for kind in kinds.kinds.values():
        name = kind.search_number
        if name is None or name == "id" or not hasattr(kind.model, name):
            continue
        if kind.search_action is not None and not actor.can(kind.search_action):
            continue
        if not field_access(actor, kind.name).readable(name):
            continue
        column = getattr(kind.model, name)
        statement = visible(
            select(kind.model.id).where(func.lower(column) == wanted.lower()), actor, kind
        )
        found.extend(RecordRef(kind.name, row_id) for row_id in session.scalars(statement))
    return found


def resolve_ref(
    session: Session, text: str, actor: Actor | None = None, field: str = "target"
) -> RecordRef:
    """The record `text` names: `kind:id` (`incident:42`) or a number (`INC-2026-000001`)
    the actor may see; BAD_USER_INPUT for neither, NOT_FOUND for a number nobody visible has."""
    actor = _actor(session, actor)
    kinds = _kernel(session).record_kinds
    text = (text or "").strip()
    if not text:
        raise BadUserInput(
            _t("Name a record: a number such as INC-2026-000001, or kind:id."), field=field
        )
    kind, _, raw = text.partition(":")
    if raw:
        if kind not in kinds:
            raise BadUserInput(
                _t("Unknown record kind '{kind}'; known kinds: {known}."),
                field=field,
                params={"kind": kind, "known": ", ".join(sorted(kinds.kinds))},
            )
        if not raw.isdigit():
            raise BadUserInput(
                _t("'{text}' is not a record reference like 'incident:42'."),
                field=field,
                params={"text": text},
            )
        return RecordRef(kind, int(raw))
    matches = find_by_number(session, kinds, actor, text)
    if len(matches) != 1:
        raise NotFound(
            _t("No record numbered '{text}' that you may see."), field=field, params={"text": text}
        )
    return matches[0]


# --- history --------------------------------------------------------------------------


def history_ref(value: Any) -> RecordRef | None:
    """The other record named by a history change of a link (None for anything else)."""
    if not isinstance(value, Mapping):
        return None
    kind, _, raw = str(value.get("record") or "").partition(":")
    return RecordRef(kind, int(raw)) if kind and raw.isdigit() else None


def history_label(value: Any, locale: str) -> str:
    """The relation of a link's history change, named from the record it is filed under."""
    if not isinstance(value, Mapping):
        return HISTORY_FIELD
    try:
        relation = get_relation(str(value.get("relation") or ""))
    except BadUserInput:
        return str(value.get("relation") or HISTORY_FIELD)
    return relation.label(locale, str(value.get("direction") or OUTGOING))


def history_refs(values: Sequence[Any]) -> set[RecordRef]:
    return {ref for value in values if (ref := history_ref(value)) is not None}
