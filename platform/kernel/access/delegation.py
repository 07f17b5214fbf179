"""Delegation (出差授权): a deputy acts with the delegator's rights for a period.

A period is half-open, `[starts_at, ends_at)`, so one delegation may end exactly when the
next begins. Work is handed on once: a deputy cannot pass received work to a third person,
so a chain A → B → C over overlapping periods is refused, and every action a deputy takes
is recorded as "deputy on behalf of delegator" (`Actor.on_behalf_of`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from openitsm.kernel.access.actions import require
from openitsm.kernel.access.grants import actor_for_user
from openitsm.kernel.actors import Actor
from openitsm.kernel.db import check_version, utcnow
from openitsm.kernel.db.session import flush
from openitsm.kernel.errors import BadUserInput, Forbidden, NotFound, Unauthenticated, _t
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.delegation_models import Delegation

MANAGE = "org.manage"
MAX_REASON = 500


def _in_force() -> ColumnElement[bool]:
    return Delegation.revoked_at.is_(None)


def _overlapping(starts_at: dt.datetime, ends_at: dt.datetime) -> ColumnElement[bool]:
    return and_(_in_force(), Delegation.starts_at < ends_at, Delegation.ends_at > starts_at)


def _active_at(at: dt.datetime) -> ColumnElement[bool]:
    return and_(_in_force(), Delegation.starts_at <= at, Delegation.ends_at > at)


def _aware(value: dt.datetime, field: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise BadUserInput(_t("Give the time with its time zone (ISO 8601)."), field=field)
    return value.astimezone(dt.UTC)


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _period(user: User, delegation: Delegation) -> dict[str, str]:
    """The parameters of a message about `user`'s overlapping `delegation`."""
    return {
        "name": user.name,
        "starts": _when(delegation.starts_at),
        "ends": _when(delegation.ends_at),
    }


def _active_user(session: Session, user_id: int, field: str) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound(_t("No active user with id {id}."), field=field, params={"id": user_id})
    return user


def _lock_users(session: Session, user_ids: list[int]) -> None:
    """Serialise delegation changes of these users (PostgreSQL row locks, in id order)."""
    session.execute(
        select(User.id).where(User.id.in_(user_ids)).order_by(User.id).with_for_update()
    )


def _first(session: Session, statement: Select[tuple[Delegation]]) -> Delegation | None:
    return session.scalars(statement.order_by(Delegation.starts_at).limit(1)).first()


def _check_period(
    session: Session,
    delegator: User,
    deputy: User,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
) -> None:
    period = _overlapping(starts_at, ends_at)
    own = _first(session, select(Delegation).where(Delegation.delegator_id == delegator.id, period))
    if own is not None:
        raise BadUserInput(
            _t(
                "{name} has already handed their work on from {starts} to {ends}; a period may "
                "not overlap another one. Change the dates or revoke the other delegation first."
            ),
            field="startsAt",
            params=_period(delegator, own),
        )
    received = _first(
        session, select(Delegation).where(Delegation.deputy_id == delegator.id, period)
    )
    if received is not None:
        raise BadUserInput(
            _t(
                "{name} stands in for someone else from {starts} to {ends}; work received as a "
                "deputy cannot be handed on again, so the delegator could not tell who acts for "
                "them. Choose a period outside it."
            ),
            field="startsAt",
            params=_period(delegator, received),
        )
    onward = _first(session, select(Delegation).where(Delegation.delegator_id == deputy.id, period))
    if onward is not None:
        raise BadUserInput(
            _t(
                "{name} is away themselves from {starts} to {ends} and has handed their work on; "
                "a deputy cannot pass received work to a third person. Choose another deputy or "
                "period."
            ),
            field="deputy",
            params=_period(deputy, onward),
        )


def create_delegation(
    session: Session,
    actor: Actor,
    *,
    deputy_id: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    delegator_id: int | None = None,
    reason: str = "",
) -> Delegation:
    """Hand `delegator_id`'s work (the actor's own by default) to `deputy_id` for a period.

    Delegating for someone else needs `org.manage`. Every rule is checked before anything is
    written, so a refused call changes nothing.
    """
    if actor.user_id is None:
        raise Unauthenticated()
    if actor.on_behalf_of is not None:
        raise Forbidden(_t("A deputy cannot delegate work on behalf of someone else."))
    delegator_id = actor.user_id if delegator_id is None else delegator_id
    if delegator_id != actor.user_id:
        require(actor, MANAGE)
    if deputy_id == delegator_id:
        raise BadUserInput(
            _t("Choose someone else as deputy: one cannot delegate to oneself."), field="deputy"
        )
    starts_at = _aware(starts_at, "startsAt")
    ends_at = _aware(ends_at, "endsAt")
    if ends_at <= starts_at:
        raise BadUserInput(_t("The delegation must end after it starts."), field="endsAt")
    if ends_at <= utcnow():
        raise BadUserInput(
            _t("The delegation would already be over; choose a later end."), field="endsAt"
        )
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise BadUserInput(
            _t("The reason is limited to {limit} characters."),
            field="reason",
            params={"limit": MAX_REASON},
        )
    _lock_users(session, [delegator_id, deputy_id])
    delegator = _active_user(session, delegator_id, "delegator")
    deputy = _active_user(session, deputy_id, "deputy")
    _check_period(session, delegator, deputy, starts_at, ends_at)
    delegation = Delegation(
        delegator_id=delegator.id,
        deputy_id=deputy.id,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by=actor.user_id,
    )
    session.add(delegation)
    flush(session)
    return delegation


def may_see(actor: Actor, delegation: Delegation) -> bool:
    """The delegator, the deputy, whoever created it, and organisation managers."""
    parties = (delegation.delegator_id, delegation.deputy_id, delegation.created_by)
    return (actor.user_id is not None and actor.user_id in parties) or actor.can(MANAGE)


def visible_delegations(actor: Actor) -> Select[tuple[Delegation]]:
    """The delegations `actor` gave or received (or created); `org.manage` sees all."""
    statement = select(Delegation)
    if actor.can(MANAGE):
        return statement
    mine = actor.user_id if actor.user_id is not None else -1
    return statement.where(
        or_(
            Delegation.delegator_id == mine,
            Delegation.deputy_id == mine,
            Delegation.created_by == mine,
        )
    )


def revoke_delegation(
    session: Session, actor: Actor, delegation_id: int, version: int
) -> Delegation:
    """End a delegation now; the delegator, its creator or an organisation manager may."""
    if actor.user_id is None:
        raise Unauthenticated()
    delegation = session.get(Delegation, delegation_id)
    if delegation is None or not may_see(actor, delegation):
        raise NotFound(_t("No delegation with id {id}."), field="id", params={"id": delegation_id})
    if actor.user_id not in (delegation.delegator_id, delegation.created_by):
        require(actor, MANAGE)
    check_version(delegation, version, "delegation")
    if delegation.revoked_at is not None:
        raise BadUserInput(_t("This delegation is already revoked."), field="id")
    delegation.revoked_at = utcnow()
    flush(session)
    return delegation


def active_delegation(
    session: Session, delegator_id: int, deputy_id: int, at: dt.datetime | None = None
) -> Delegation | None:
    at = _aware(at, "at") if at is not None else utcnow()
    return _first(
        session,
        select(Delegation).where(
            Delegation.delegator_id == delegator_id,
            Delegation.deputy_id == deputy_id,
            _active_at(at),
        ),
    )


def delegators_of(session: Session, deputy_id: int, at: dt.datetime | None = None) -> list[int]:
    """Whose work `deputy_id` holds at `at` (now by default), by user id."""
    at = _aware(at, "at") if at is not None else utcnow()
    rows = session.scalars(
        select(Delegation.delegator_id)
        .where(Delegation.deputy_id == deputy_id, _active_at(at))
        .order_by(Delegation.delegator_id)
    )
    return list(dict.fromkeys(rows))


def acting_for(
    session: Session, deputy: Actor, delegator_id: int, at: dt.datetime | None = None
) -> Actor:
    """The Actor a deputy uses on the delegator's items: the delegator's rights, the deputy's name.

    History written with it records `actor_id` = deputy and `on_behalf_of_id` = delegator.
    Outside an active period, or once revoked, this is Forbidden.
    """
    if deputy.user_id is None:
        raise Unauthenticated()
    if deputy.on_behalf_of is not None:
        raise Forbidden(_t("Work received as a deputy cannot be handed on again."))
    delegation = active_delegation(session, delegator_id, deputy.user_id, at)
    delegator = session.get(User, delegator_id)
    if delegation is None or delegator is None or not delegator.active:
        raise Forbidden(
            _t(
                "You do not stand in for this person now: there is no delegation to you in force "
                "at this time (it may not have started, be over, or have been revoked)."
            )
        )
    rights = actor_for_user(session, delegator_id)
    return dataclasses.replace(
        rights,
        user_id=deputy.user_id,
        label=deputy.label,
        on_behalf_of=delegator_id,
        session_id=deputy.session_id,
        locale=deputy.locale,
        time_zone=deputy.time_zone,
    )
