"""Sign-in and API-token events in the audit history.

They are not changes to a record, so they are written as audit events directly rather than
captured on flush. Each detail becomes one change row with only a new value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.db import utcnow

if TYPE_CHECKING:
    from openitsm.kernel.identity.models import User

# Failures for logins that match no user are filed under this kind, with record id 0.
UNKNOWN_LOGIN_KIND = "sign_in"
ANONYMOUS_LABEL = "anonymous"


def record(
    db: Session | Connection,
    *,
    record_kind: str,
    record_id: int,
    action: str,
    actor_id: int | None = None,
    actor_label: str = ANONYMOUS_LABEL,
    request_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Write one event (and a change row per detail that is not None); return its id."""
    event_id = db.execute(
        insert(AuditEvent).returning(AuditEvent.id),
        {
            "at": utcnow(),
            "record_kind": record_kind,
            "record_id": record_id,
            "action": action,
            "actor_id": actor_id,
            "actor_label": actor_label[:200],
            "on_behalf_of_id": None,
            "request_id": request_id,
        },
    ).scalar_one()
    rows = [
        {"event_id": event_id, "field": field, "old_value": None, "new_value": value}
        for field, value in (details or {}).items()
        if value is not None
    ]
    if rows:
        db.execute(insert(AuditChange), rows)
    return int(event_id)


def by_user(
    db: Session | Connection,
    user: User,
    action: str,
    *,
    request_id: str | None = None,
    **details: Any,
) -> int:
    """Something a user did to their own account: signing in or out."""
    return record(
        db,
        record_kind="user",
        record_id=user.id,
        action=action,
        actor_id=user.id,
        actor_label=user.name,
        request_id=request_id,
        details=details,
    )


def refused(
    db: Session | Connection,
    user: User | None,
    login: str,
    action: str = "sign_in_failed",
    *,
    request_id: str | None = None,
    **details: Any,
) -> int:
    """A refused or locked sign-in, filed under the user when the login names one."""
    return record(
        db,
        record_kind="user" if user is not None else UNKNOWN_LOGIN_KIND,
        record_id=user.id if user is not None else 0,
        action=action,
        request_id=request_id,
        details={"login": login, **details},
    )
