"""Digests: a user reads a channel (email, or any channel declaring `digest=True`) as one
message an hour or a day instead of one per notification.

`notify` holds such a user's deliveries (state `held`, `digest_at` = the slot they wait
for: the next full hour, or the next chosen time of day, in the user's own time zone). The
periodic task `kernel.notifications.gather_digests` runs every minute: for each user and
channel whose held deliveries' slot has come it claims them with one conditional UPDATE
(so two workers, or a rerun, gather each delivery once), renders one digest from what
each notification already says (rendered under the recipient's field rules when it was
told), and stores it as a notification with one delivery of its own. That delivery goes
through the queue like any other (claim, back-off, `/admin/notifications`); once it is
sent, its members are marked sent with it. A slot in the user's quiet hours waits until
they end; urgent events and the in-app channel are never held.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openitsm.kernel.db import utcnow
from openitsm.kernel.db.session import after_commit, begin_write
from openitsm.kernel.errors import BadUserInput, _t
from openitsm.kernel.identity.models import User
from openitsm.kernel.notifications.models import (
    DAILY,
    DIGEST_FREQUENCIES,
    DIGESTED,
    HELD,
    HOURLY,
    IMMEDIATE,
    PENDING,
    SENT,
    DigestPreference,
    Notification,
    NotificationDelivery,
    QuietHours,
)
from openitsm.kernel.notifications.render import absolute, render, zone_of
from openitsm.kernel.notifications.spec import NotificationEvent, registry_of, templates_from

if TYPE_CHECKING:
    from openitsm.kernel.actors import Actor
    from openitsm.kernel.app import Kernel
    from openitsm.kernel.notifications.spec import Channel

log = logging.getLogger("openitsm.notifications")

DIGEST_EVENT = "notifications.digest"
TEMPLATES = Path(__file__).parent / "templates"
# Users gathered per run; the rest wait for the next minute.
BATCH = 200


@functools.cache
def digest_event() -> NotificationEvent:
    """The digest's own templates (not an event users choose: it has no channels)."""
    return NotificationEvent(
        DIGEST_EVENT,
        {"zh-CN": "通知摘要", "en": "Notification digest"},
        templates_from(TEMPLATES, DIGEST_EVENT),
        channels=(),
    )


# --- when ----------------------------------------------------------------------------------


def next_slot(
    frequency: str, at: int | None, time_zone: str | None, now: dt.datetime
) -> dt.datetime:
    """The first digest time after `now` (UTC): the next full hour, or the next `at`
    (minutes after midnight) of a day, both on the user's own clock."""
    zone = zone_of(time_zone)
    local = now.astimezone(zone)
    if frequency == HOURLY:
        hour = local.replace(minute=0, second=0, microsecond=0)
        return hour.astimezone(dt.UTC) + dt.timedelta(hours=1)
    minutes = at or 0
    day = local.date()
    while True:
        slot = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=zone)
        if slot.astimezone(dt.UTC) > now:
            return slot.astimezone(dt.UTC)
        day += dt.timedelta(days=1)


def choices_of(
    session: Session, user_ids: Iterable[int]
) -> dict[tuple[int, str], DigestPreference]:
    """The digests the users chose, by (user, channel); one query."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return {
        (row.user_id, row.channel): row
        for row in session.scalars(
            select(DigestPreference).where(DigestPreference.user_id.in_(ids))
        )
    }


def slot_for(
    channel: Channel,
    choice: DigestPreference | None,
    urgent: bool,
    time_zone: str | None,
    now: dt.datetime,
) -> dt.datetime | None:
    """The digest slot a new delivery waits for, or None when it goes out by itself."""
    if choice is None or urgent or not channel.digest or choice.frequency == IMMEDIATE:
        return None
    return next_slot(choice.frequency, choice.at, time_zone, now)


# --- the user's choice ---------------------------------------------------------------------


@dataclass(frozen=True)
class DigestSetting:
    channel: str
    channel_label: str
    frequency: str
    at: str | None  # HH:MM, daily only


def digest_settings(
    session: Session, kernel: Kernel, user_id: int, locale: str
) -> list[DigestSetting]:
    """The user's digest on every usable channel that offers one."""
    from openitsm.kernel.notifications.service import clock

    stored = choices_of(session, [user_id])
    found = []
    for channel in registry_of(kernel).digest_channels(kernel):
        row = stored.get((user_id, channel.name))
        found.append(
            DigestSetting(
                channel.name,
                channel.label(locale),
                row.frequency if row is not None else IMMEDIATE,
                clock(row.at) if row is not None and row.at is not None else None,
            )
        )
    return found


def parse_digest(frequency: str, at: str | None) -> tuple[str, int | None]:
    """Check a choice as typed: ('daily', '09:00') -> ('daily', 540)."""
    from openitsm.kernel.notifications.service import parse_clock

    frequency = (frequency or "").strip().lower()
    if frequency not in DIGEST_FREQUENCIES:
        raise BadUserInput(_t("Choose immediately, hourly or daily."), field="frequency")
    if frequency != DAILY:
        return frequency, None
    if not (at or "").strip():
        raise BadUserInput(_t("Give the time of your daily digest, like 09:00."), field="at")
    try:
        return frequency, parse_clock(at or "")
    except BadUserInput:
        raise BadUserInput(_t("Give the time as HH:MM, like 09:00."), field="at") from None


def set_digest(
    session: Session,
    kernel: Kernel,
    actor: Actor,
    channel: str,
    frequency: str,
    at: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    """The actor's digest of one channel. What their held deliveries wait for moves with
    the choice: to the new slot, or to the next run when they switch to immediate."""
    if actor.user_id is None:
        raise BadUserInput(_t("Only people have notification preferences."), field="user")
    offered = {c.name for c in registry_of(kernel).digest_channels(kernel)}
    if channel not in offered:
        raise BadUserInput(
            _t("The channel '{channel}' sends no digests."),
            field="channel",
            params={"channel": channel},
        )
    frequency, minutes = parse_digest(frequency, at)
    user_id = actor.user_id
    row = session.scalar(
        select(DigestPreference).where(
            DigestPreference.user_id == user_id, DigestPreference.channel == channel
        )
    )
    if frequency == IMMEDIATE:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(
            DigestPreference(user_id=user_id, channel=channel, frequency=frequency, at=minutes)
        )
    else:
        row.frequency, row.at = frequency, minutes
    now = now or utcnow()
    if frequency == IMMEDIATE:
        slot = now
    else:
        user = session.get(User, user_id)
        slot = next_slot(frequency, minutes, user.time_zone if user else None, now)
    session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.user_id == user_id,
            NotificationDelivery.channel == channel,
            NotificationDelivery.state == HELD,
        )
        .values(digest_at=slot, next_attempt_at=slot)
        .execution_options(synchronize_session=False)
    )
    session.flush()


# --- gathering -----------------------------------------------------------------------------


def gather_due(session: Session, now: dt.datetime | None = None, batch: int = BATCH) -> list[int]:
    """Make the digests whose slot has come: one message per user and channel, queued after
    commit. Returns the digest deliveries made.

    A user in quiet hours keeps theirs held until the hours end (one digest then, however
    many slots passed). Held deliveries are claimed by a conditional UPDATE: a concurrent
    run (another worker, an overlapping slot) finds them claimed and makes nothing.
    """
    from openitsm.kernel.notifications.service import enqueue, quiet_until

    kernel: Kernel = session.info["kernel"]
    now = now or utcnow()
    begin_write(session)  # SQLite: one gatherer at a time; PostgreSQL locks the rows it claims
    due = session.execute(
        select(NotificationDelivery.user_id, NotificationDelivery.channel)
        .where(NotificationDelivery.state == HELD, NotificationDelivery.digest_at <= now)
        .group_by(NotificationDelivery.user_id, NotificationDelivery.channel)
        .order_by(NotificationDelivery.user_id, NotificationDelivery.channel)
        .limit(batch)
    ).all()
    if not due:
        return []
    ids = sorted({user_id for user_id, _ in due})
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}
    quiet = {
        row.user_id: row
        for row in session.scalars(select(QuietHours).where(QuietHours.user_id.in_(ids)))
    }
    choices = choices_of(session, ids)
    registry = registry_of(kernel)
    made: list[int] = []
    for user_id, channel_name in due:
        user = users[user_id]
        channel = registry.channels.get(channel_name)
        hours = quiet.get(user_id)
        if hours is not None and (channel is None or channel.quiet_hours):
            until = quiet_until(hours.starts, hours.ends, user.time_zone, now)
            if until is not None:
                _postpone(session, user_id, channel_name, now, until)
                continue
        choice = choices.get((user_id, channel_name))
        frequency = choice.frequency if choice is not None else IMMEDIATE
        savepoint = session.begin_nested()
        try:
            digest_id = _gather(session, kernel, user, channel, channel_name, frequency, now)
        except Exception:
            savepoint.rollback()
            log.exception("could not gather the %s digest of user %s", channel_name, user_id)
            continue
        if digest_id is None:
            savepoint.rollback()
        else:
            savepoint.commit()
            made.append(digest_id)
    if made:
        after_commit(session, lambda: enqueue(kernel, made))
    return made


def _postpone(
    session: Session, user_id: int, channel: str, now: dt.datetime, until: dt.datetime
) -> None:
    session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.user_id == user_id,
            NotificationDelivery.channel == channel,
            NotificationDelivery.state == HELD,
            NotificationDelivery.digest_at <= now,
        )
        .values(digest_at=until, next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )


def _gather(
    session: Session,
    kernel: Kernel,
    user: User,
    channel: Channel | None,
    channel_name: str,
    frequency: str,
    now: dt.datetime,
) -> int | None:
    """One user's digest of one channel: its notification and delivery first, then the
    held deliveries claimed for it, then its text from theirs. None when another run
    claimed them all first."""
    locale = user.locale or kernel.settings.language
    digest = Notification(
        user_id=user.id,
        event=DIGEST_EVENT,
        locale=locale,
        subject="",
        url="/notifications",
        in_app=False,
        created_at=now,
    )
    session.add(digest)
    session.flush()
    delivery = NotificationDelivery(
        key=f"{digest.id}:{channel_name}",
        notification_id=digest.id,
        user_id=user.id,
        channel=channel_name,
        address=None,
        state=PENDING,
        next_attempt_at=now,
        held=False,
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    claimed = session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.user_id == user.id,
            NotificationDelivery.channel == channel_name,
            NotificationDelivery.state == HELD,
            NotificationDelivery.digest_at <= now,
        )
        .values(state=DIGESTED, digest_id=delivery.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount == 0:  # type: ignore[attr-defined]
        return None
    members = session.execute(
        select(NotificationDelivery.address, Notification)
        .join(Notification, Notification.id == NotificationDelivery.notification_id)
        .where(NotificationDelivery.digest_id == delivery.id)
        .order_by(Notification.created_at, Notification.id)
    ).all()
    address = channel.address(user) if channel is not None else None
    delivery.address = (address or members[-1][0] or "")[:254] or None
    rendered = render(
        registry_of(kernel),
        digest_event(),
        locale,
        user.time_zone,
        digest_context(kernel, user, frequency, [n for _, n in members], locale),
    )
    digest.locale = rendered.locale
    digest.subject, digest.body_text, digest.body_html = (
        rendered.subject,
        rendered.text,
        rendered.html,
    )
    session.flush()
    return delivery.id


def digest_context(
    kernel: Kernel,
    user: User,
    frequency: str,
    notifications: list[Notification],
    locale: str,
) -> dict[str, Any]:
    """What the digest template sees: the entries grouped by record (in order of each
    record's first entry), each entry the notification's own subject and deep link as
    rendered for this reader when they were told."""
    registry = registry_of(kernel)
    groups: dict[tuple[str, int] | None, dict[str, Any]] = {}
    for notification in notifications:
        key = (
            (notification.record_kind, notification.record_id)
            if notification.record_kind and notification.record_id is not None
            else None
        )
        group = groups.get(key)
        if group is None:
            kind = kernel.record_kinds.kinds.get(key[0]) if key else None
            page = kind.url.format(id=key[1]) if kind and kind.url and key else None
            group = groups[key] = {
                "kind_label": kind.label(locale) if kind is not None else "",
                "label": (notification.record_label or f"#{key[1]}") if key else "",
                "url": absolute(kernel, page or (notification.url if key else None)),
                "entries": [],
            }
        spec = registry.events.get(notification.event)
        group["entries"].append(
            {
                "title": notification.subject,
                "event_label": spec.label(locale) if spec is not None else notification.event,
                "at": notification.created_at,
                "url": absolute(kernel, notification.url),
            }
        )
    ordered = [g for k, g in groups.items() if k is not None]
    if None in groups:
        ordered.append(groups[None])
    return {
        "recipient": {"id": user.id, "name": user.name, "login": user.login},
        "frequency": frequency,
        "count": len(notifications),
        "since": min((n.created_at for n in notifications), default=None),
        "groups": ordered,
        "url": absolute(kernel, "/notifications"),
    }


def mark_members_sent(session: Session, digest_delivery_id: int, sent_at: dt.datetime) -> int:
    """The digest went out: so did every delivery gathered into it."""
    result = session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.digest_id == digest_delivery_id,
            NotificationDelivery.state == DIGESTED,
        )
        .values(state=SENT, sent_at=sent_at, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
