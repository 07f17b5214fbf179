"""Write history as a side effect of flushing, so no code path can forget to record it.

Models opt in with the `Audited` mixin. After each flush we compare every audited
object's attributes with their loaded values and write one event per object with one
change row per field; the events are published to `on_record_changed` after commit.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import functools
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Mapper, Session, UOWTransaction

from openitsm.kernel.db.base import utcnow
from openitsm.kernel.db.session import after_commit

REDACTED = "[redacted]"
NOT_AUDITED = frozenset({"version", "created_at", "updated_at"})


class Audited:
    """Mixin: record every create, change and delete of this model in the audit history.

    Columns with `info={"audit": False}` are skipped; `info={"secret": True}` records that
    the field changed without its values.
    """

    __record_kind__: ClassVar[str | None] = None

    @classmethod
    def record_kind(cls) -> str:
        return cls.__record_kind__ or cls.__tablename__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FieldChangeData:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class RecordEventData:
    """What `on_record_changed` receives: a committed event, detached from any session."""

    id: int
    at: dt.datetime
    record_kind: str
    record_id: int
    action: str
    actor_id: int | None
    actor_label: str
    on_behalf_of_id: int | None
    changes: tuple[FieldChangeData, ...] = field(default_factory=tuple)


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


@functools.cache
def _audited_columns(mapper: Mapper[Any]) -> tuple[tuple[str, bool, bool], ...]:
    """(key, holds custom fields, secret) of each column a model's history records; worked
    out once per model rather than for every object of every flush."""
    audited = []
    for column_attr in mapper.column_attrs:
        column = column_attr.columns[0]
        if (
            column_attr.key in NOT_AUDITED
            or column.primary_key
            or column.info.get("audit") is False
        ):
            continue
        info = column.info
        audited.append((column_attr.key, bool(info.get("custom_fields")), bool(info.get("secret"))))
    return tuple(audited)


def _changes(obj: Any, action: str) -> list[FieldChangeData]:
    state = inspect(obj)
    changes = []
    values = state.dict
    for key, custom, secret in _audited_columns(state.mapper):
        if action == "create":
            # A new object has no history to compare: what it holds is what changed.
            new = values[key] if key in values else getattr(obj, key)  # server defaults
            if new is None:
                continue
            old = None
        elif action == "delete":
            history = state.attrs[key].history
            old = (
                history.unchanged[0]
                if history.unchanged
                else (history.deleted[0] if history.deleted else None)
            )
            if old is None:
                continue
            new = None
        else:
            history = state.attrs[key].history
            if not history.has_changes():
                continue
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old == new:
                continue
        if custom:
            changes.extend(_custom_changes(old, new))
            continue
        if secret:
            old, new = (
                (REDACTED if old is not None else None),
                (REDACTED if new is not None else None),
            )
        changes.append(FieldChangeData(key, jsonable(old), jsonable(new)))
    return changes


def _custom_changes(old: Any, new: Any) -> list[FieldChangeData]:
    """Custom field values live in one JSON column; history records each as its own field,
    so field rules hide them one by one."""
    old, new = old or {}, new or {}
    return [
        FieldChangeData(name, jsonable(old.get(name)), jsonable(new.get(name)))
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def _pending(session: Session) -> list[tuple[Any, str, list[FieldChangeData] | None]]:
    found = session.info.setdefault("audit_pending", [])
    return found


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    # Deleted objects lose their loaded values during the flush, so read them now.
    pending = _pending(session)
    for obj in session.deleted:
        if isinstance(obj, Audited):
            pending.append((obj, "delete", _changes(obj, "delete")))
    for obj in session.dirty:
        if isinstance(obj, Audited) and session.is_modified(obj, include_collections=False):
            pending.append((obj, "update", None))
    for obj in session.new:
        if isinstance(obj, Audited):
            pending.append((obj, "create", None))


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: UOWTransaction) -> None:
    from openitsm.kernel.audit.models import AuditChange, AuditEvent

    pending = session.info.pop("audit_pending", [])
    if not pending:
        return
    actor = session.info.get("actor")
    actor_id = getattr(actor, "user_id", None)
    actor_label = getattr(actor, "label", None) or "system"
    on_behalf_of = getattr(actor, "on_behalf_of", None)
    now = utcnow()
    published = session.info.setdefault("audit_published", [])
    recorded: list[tuple[Any, str, int, list[FieldChangeData]]] = []
    for obj, action, precomputed in pending:
        changes = precomputed if precomputed is not None else _changes(obj, action)
        if action == "update" and not changes:
            continue
        record_id = obj.id if action != "delete" else inspect(obj).identity[0]
        recorded.append((obj, action, record_id, changes))
    if not recorded:
        return
    # One INSERT for the events and one for their changes, whatever the flush held: imports
    # and directory syncs flush thousands of records at a time.
    connection = session.connection()
    event_ids = (
        connection.execute(
            insert(AuditEvent).returning(AuditEvent.id, sort_by_parameter_order=True),
            [
                {
                    "at": now,
                    "record_kind": obj.record_kind(),
                    "record_id": record_id,
                    "action": action,
                    "actor_id": actor_id,
                    "actor_label": actor_label,
                    "on_behalf_of_id": on_behalf_of,
                    "request_id": session.info.get("request_id"),
                }
                for obj, action, record_id, _changes_ in recorded
            ],
        )
        .scalars()
        .all()
    )
    change_rows = [
        {"event_id": event_id, "field": c.field, "old_value": c.old, "new_value": c.new}
        for event_id, (_obj, _action, _record_id, changes) in zip(event_ids, recorded, strict=True)
        for c in changes
    ]
    if change_rows:
        connection.execute(insert(AuditChange), change_rows)
    for event_id, (obj, action, record_id, changes) in zip(event_ids, recorded, strict=True):
        published.append(
            RecordEventData(
                event_id,
                now,
                obj.record_kind(),
                record_id,
                action,
                actor_id,
                actor_label,
                on_behalf_of,
                tuple(changes),
            )
        )
    if published and not session.info.get("audit_publisher_armed"):
        session.info["audit_publisher_armed"] = True
        after_commit(session, lambda: _publish(session))


def _publish(session: Session) -> None:
    kernel = session.info.get("kernel")
    events = session.info.pop("audit_published", [])
    session.info.pop("audit_publisher_armed", None)
    if kernel is None:
        return
    for record_event in events:
        try:
            kernel.hook.on_record_changed(event=record_event, kernel=kernel)
        except Exception:
            import logging

            logging.getLogger("openitsm.audit").exception(
                "on_record_changed failed for %s:%s",
                record_event.record_kind,
                record_event.record_id,
            )
