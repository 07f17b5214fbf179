"""Telling people: `notify` in the caller's transaction, delivery by the queue after commit.

`notify` renders one notification per recipient (their language, time zone and field
rules; nothing for a recipient who may not see the record), stores it, and stores one
delivery per further channel the recipient wants. Only once the caller's transaction
commits are the deliveries enqueued, so a rolled-back change tells nobody. Delivering is
idempotent: a delivery is claimed by one conditional UPDATE, so running the task twice
sends once; a transient failure is retried with exponential back-off, then marked failed
for administrators to see and retry.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from openitsm.kernel.access import require
from openitsm.kernel.access.fields import field_access
from openitsm.kernel.access.grants import actor_for_user
from openitsm.kernel.db import utcnow
from openitsm.kernel.db.session import after_commit, begin_write
from openitsm.kernel.errors import BadUserInput, NotFound, _t
from openitsm.kernel.identity.models import User
from openitsm.kernel.notifications.digest import (
    DIGEST_EVENT,
    choices_of,
    mark_members_sent,
    slot_for,
)
from openitsm.kernel.notifications.models import (
    DIGESTED,
    FAILED,
    HELD,
    PENDING,
    SENDING,
    SENT,
    Notification,
    NotificationDelivery,
    NotificationPreference,
    QuietHours,
)
from openitsm.kernel.notifications.render import absolute, readable_record, render, zone_of
from openitsm.kernel.notifications.spec import (
    IN_APP,
    Channel,
    DeliveryError,
    OutgoingMessage,
    registry_of,
)
from openitsm.kernel.references import RecordRef

if TYPE_CHECKING:
    from openitsm.kernel.actors import Actor
    from openitsm.kernel.app import Kernel

log = logging.getLogger("openitsm.notifications")

MANAGE = "notification.manage"
DELIVER_TASK = "kernel.notifications.deliver_notification"
# Tries of one delivery before it is failed; the wait doubles from BACKOFF_SECONDS.
MAX_ATTEMPTS = 6
BACKOFF_SECONDS = 60
MAX_BACKOFF_SECONDS = 3600
# A delivery claimed this long ago by a worker that never finished is tried again.
STALE_CLAIM = dt.timedelta(minutes=15)
ERROR_LENGTH = 2000


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th failed try: 1, 2, 4, 8 … minutes, at most 1 h."""
    return dt.timedelta(
        seconds=min(BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)
    )


# --- quiet hours ------------------------------------------------------------------------


def parse_clock(text: str) -> int:
    """'22:00' -> minutes after midnight."""
    hours, _, minutes = text.strip().partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise BadUserInput(_t("Give times as HH:MM, like 22:00."), field="quietHours")
    value = int(hours) * 60 + int(minutes)
    if int(hours) > 23 or int(minutes) > 59:
        raise BadUserInput(_t("Give times as HH:MM, like 22:00."), field="quietHours")
    return value


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def quiet_until(
    starts: int | None, ends: int | None, time_zone: str | None, now: dt.datetime
) -> dt.datetime | None:
    """When the quiet hours holding `now` end (UTC), or None when `now` is not in them."""
    if starts is None or ends is None or starts == ends:
        return None
    zone = zone_of(time_zone)
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    if starts < ends:
        inside, next_day = starts <= minute < ends, False
    else:
        inside, next_day = minute >= starts or minute < ends, minute >= starts
    if not inside:
        return None
    day = local.date() + dt.timedelta(days=1 if next_day else 0)
    end = dt.datetime.combine(day, dt.time(ends // 60, ends % 60), tzinfo=zone)
    return end.astimezone(dt.UTC)


# --- telling people ---------------------------------------------------------------------


def _kernel(session: Session) -> Kernel:
    kernel: Kernel = session.info["kernel"]
    return kernel


def wanted_channels(
    spec_channels: Sequence[str],
    stored: Mapping[str, bool],
    usable: Iterable[Channel],
) -> list[Channel]:
    """The channels a user gets an event on: their choice, else the event's default."""
    return [c for c in usable if stored.get(c.name, c.name in spec_channels)]


def notify(
    session: Session,
    event: str,
    user_ids: Iterable[int],
    *,
    record: RecordRef | None = None,
    values: Mapping[str, Any] | None = None,
    fields: Mapping[str, Any] | None = None,
    url: str | None = None,
    key: str | None = None,
    now: dt.datetime | None = None,
) -> list[Notification]:
    """Tell the users `user_ids` about `event`, in the caller's transaction.

    `record` is what the notification is about: a recipient who may not see it gets
    nothing, and its fields (plus `fields`, more values of the same record) reach the
    templates as `record` through the recipient's field rules. `values` are the event's
    own values (who did it, a comment), shown to every recipient as they are. `url` is the
    deep link (default: the record kind's URL), made absolute with the site's base URL.
    `key` makes a repeat for the same user a no-op. Returns the notifications stored.
    """
    kernel = _kernel(session)
    registry = registry_of(kernel)
    spec = registry.event(event)
    now = now or utcnow()
    wanted = sorted({int(u) for u in user_ids if u})
    if not wanted:
        return []
    users = session.scalars(select(User).where(User.id.in_(wanted), User.active.is_(True))).all()
    if key is not None and users:
        done = set(
            session.scalars(
                select(Notification.user_id).where(
                    Notification.key == key, Notification.user_id.in_([u.id for u in users])
                )
            )
        )
        users = [u for u in users if u.id not in done]
    if not users:
        return []
    ids = [u.id for u in users]
    stored: dict[int, dict[str, bool]] = {}
    for row in session.scalars(
        select(NotificationPreference).where(
            NotificationPreference.user_id.in_(ids), NotificationPreference.event == event
        )
    ):
        stored.setdefault(row.user_id, {})[row.channel] = row.enabled
    quiet = {
        row.user_id: row
        for row in session.scalars(select(QuietHours).where(QuietHours.user_id.in_(ids)))
    }
    digests = choices_of(session, ids)
    usable = registry.usable_channels(kernel)
    kind = kernel.record_kinds.get(record.kind) if record is not None else None
    link = url or (kind.url.format(id=record.id) if kind and kind.url and record else None)
    created: list[Notification] = []
    for user in users:
        channels = wanted_channels(spec.channels, stored.get(user.id, {}), usable)
        if not channels:
            continue
        actor = actor_for_user(session, user.id)
        context: dict[str, Any] = {
            "recipient": {"id": user.id, "name": user.name, "login": user.login},
            "values": dict(values or {}),
            "url": absolute(kernel, link),
            "event_label": spec.label(user.locale or kernel.settings.language),
            "record": {},
            "record_label": "",
        }
        if record is not None and kind is not None:
            row = kernel.record_kinds.fetch(session, [record], actor).get(record)
            if row is None:
                continue  # the recipient may not see the record: they hear nothing of it
            context["record"] = readable_record(actor, kind, row, fields)
            hidden = field_access(actor, kind.name).hidden
            context["record_label"] = kind.summary(row, hidden).title
            context["record_kind_label"] = kind.label(user.locale or kernel.settings.language)
        rendered = render(
            registry, spec, user.locale or kernel.settings.language, user.time_zone, context
        )
        notification = Notification(
            user_id=user.id,
            event=event,
            key=key,
            record_kind=record.kind if record else None,
            record_id=record.id if record else None,
            locale=rendered.locale,
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
            url=link,
            record_label=str(context["record_label"])[:300] or None,
            in_app=any(c.name == IN_APP for c in channels),
            created_at=now,
        )
        session.add(notification)
        session.flush()
        hours = quiet.get(user.id)
        for channel in channels:
            if channel.send is None:
                continue
            address = channel.address(user)
            if not address:
                continue
            digest_at = slot_for(
                channel, digests.get((user.id, channel.name)), spec.urgent, user.time_zone, now
            )
            held = (
                quiet_until(hours.starts, hours.ends, user.time_zone, now)
                if hours is not None and channel.quiet_hours and digest_at is None
                else None
            )
            session.add(
                NotificationDelivery(
                    key=f"{notification.id}:{channel.name}",
                    notification_id=notification.id,
                    user_id=user.id,
                    channel=channel.name,
                    address=address[:254],
                    state=PENDING if digest_at is None else HELD,
                    next_attempt_at=digest_at or held or now,
                    held=held is not None,
                    digest_at=digest_at,
                    created_at=now,
                )
            )
        created.append(notification)
    session.flush()
    due = (
        [
            d.id
            for d in session.scalars(
                select(NotificationDelivery).where(
                    NotificationDelivery.notification_id.in_([n.id for n in created]),
                    NotificationDelivery.state == PENDING,
                    NotificationDelivery.held.is_(False),
                )
            )
        ]
        if created
        else []
    )
    if due:
        after_commit(session, lambda: enqueue(kernel, due))
    return created


def enqueue(kernel: Kernel, delivery_ids: Iterable[int]) -> None:
    """Queue the deliveries; a queue that is down leaves them to the periodic sweep."""
    task = kernel.tasks[DELIVER_TASK]
    for delivery_id in delivery_ids:
        try:
            task.enqueue(delivery_id)
        except Exception:
            log.exception("could not queue notification delivery %s; the sweep will", delivery_id)


# --- delivering -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    state: str
    error: str | None = None


def _message(session: Session, delivery: NotificationDelivery) -> OutgoingMessage:
    notification = session.get(Notification, delivery.notification_id)
    user = session.get(User, delivery.user_id)
    assert notification is not None and user is not None
    kernel = _kernel(session)
    record = (
        RecordRef(notification.record_kind, notification.record_id)
        if notification.record_kind and notification.record_id is not None
        else None
    )
    return OutgoingMessage(
        delivery_id=delivery.id,
        notification_id=notification.id,
        event=notification.event,
        user_id=user.id,
        user_name=user.name,
        address=delivery.address,
        locale=notification.locale,
        subject=notification.subject,
        text=notification.body_text,
        html=notification.body_html,
        url=absolute(kernel, notification.url),
        record=record,
        created_at=notification.created_at,
    )


def deliver(session: Session, delivery_id: int, now: dt.datetime | None = None) -> Outcome:
    """Send one delivery if it is due and nobody else has: claim, commit, send, record.

    The claim is one conditional UPDATE committed before sending, so two runs of the same
    task (or two workers) send once; the send happens outside any transaction.
    """
    kernel = _kernel(session)
    now = now or utcnow()
    claimed = session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.id == delivery_id,
            NotificationDelivery.state == PENDING,
            NotificationDelivery.next_attempt_at <= now,
        )
        .values(
            state=SENDING,
            claimed_at=now,
            held=False,
            attempts=NotificationDelivery.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.commit()
        return Outcome("skipped")
    delivery = session.scalar(
        select(NotificationDelivery)
        .where(NotificationDelivery.id == delivery_id)
        .execution_options(populate_existing=True)
    )
    assert delivery is not None
    message = _message(session, delivery)
    session.commit()  # the claim is durable before anything leaves
    channel = registry_of(kernel).channels.get(delivery.channel)
    error: str | None = None
    transient = True
    try:
        if channel is None or channel.send is None or not channel.available(kernel):
            raise DeliveryError(f"the channel '{delivery.channel}' is not configured")
        channel.send(kernel, message)
    except DeliveryError as exc:
        error, transient = f"{type(exc).__name__}: {exc}", exc.transient
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    begin_write(session)  # SQLite: a read snapshot overtaken by another writer could not write
    delivery = session.get(NotificationDelivery, delivery_id, populate_existing=True)
    assert delivery is not None
    if error is None:
        delivery.state, delivery.sent_at, delivery.last_error = SENT, utcnow(), None
        if message.event == DIGEST_EVENT:
            mark_members_sent(session, delivery.id, delivery.sent_at)
    elif transient and delivery.attempts < MAX_ATTEMPTS:
        delivery.state = PENDING
        delivery.next_attempt_at = now + backoff(delivery.attempts)
        delivery.last_error = error[:ERROR_LENGTH]
    else:
        delivery.state, delivery.last_error = FAILED, error[:ERROR_LENGTH]
    if error is not None:
        log.warning(
            "notification delivery %s (%s) attempt %s: %s",
            delivery.id,
            delivery.channel,
            delivery.attempts,
            error,
        )
    session.flush()
    return Outcome(delivery.state, error)


def dispatch_due(session: Session, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Queue (after commit) every delivery now due: retries whose wait is over, mail held by
    quiet hours that have ended, and claims a worker never finished. Returns how many."""
    kernel = _kernel(session)
    now = now or utcnow()
    session.execute(
        update(NotificationDelivery)
        .where(
            NotificationDelivery.state == SENDING,
            NotificationDelivery.claimed_at < now - STALE_CLAIM,
        )
        .values(state=PENDING)
        .execution_options(synchronize_session=False)
    )
    due = list(
        session.scalars(
            select(NotificationDelivery.id)
            .where(
                NotificationDelivery.state == PENDING,
                NotificationDelivery.next_attempt_at <= now,
            )
            .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
            .limit(batch)
        )
    )
    if due:
        after_commit(session, lambda: enqueue(kernel, due))
    return len(due)


def retry_delivery(session: Session, actor: Actor, delivery_id: int) -> NotificationDelivery:
    """An administrator sends a failed (or waiting) delivery again, now, with fresh tries."""
    require(actor, MANAGE)
    delivery = session.get(NotificationDelivery, delivery_id)
    if delivery is None:
        raise NotFound(_t("No notification delivery {id}."), params={"id": delivery_id})
    if delivery.state == SENT:
        raise BadUserInput(_t("This notification was already sent."), field="id")
    if delivery.state == DIGESTED:
        raise BadUserInput(
            _t("This notification goes out in a digest; send the digest again."), field="id"
        )
    delivery.state, delivery.attempts, delivery.held = PENDING, 0, False
    delivery.next_attempt_at = utcnow()
    session.flush()
    kernel = _kernel(session)
    after_commit(session, lambda: enqueue(kernel, [delivery_id]))
    return delivery


def deliveries(
    session: Session,
    actor: Actor,
    states: Sequence[str] = (FAILED, PENDING, SENDING),
    *,
    limit: int = 50,
    before: int | None = None,
) -> list[tuple[NotificationDelivery, Notification, str]]:
    """Deliveries in `states`, newest first, with their notification and recipient's name."""
    require(actor, MANAGE)
    statement = (
        select(NotificationDelivery, Notification, User.name)
        .join(Notification, Notification.id == NotificationDelivery.notification_id)
        .join(User, User.id == NotificationDelivery.user_id)
        .where(NotificationDelivery.state.in_(list(states)))
        .order_by(NotificationDelivery.id.desc())
        .limit(limit)
    )
    if before is not None:
        statement = statement.where(NotificationDelivery.id < before)
    return [(d, n, name) for d, n, name in session.execute(statement)]


# --- the bell -----------------------------------------------------------------------------


def inbox_statement(user_id: int, unread_only: bool = False) -> Any:
    statement = select(Notification).where(
        Notification.user_id == user_id, Notification.in_app.is_(True)
    )
    if unread_only:
        statement = statement.where(Notification.read_at.is_(None))
    return statement


# Built once: every page's bell counts with it, and building a statement costs more than
# running this one.
_UNREAD = (
    select(func.count())
    .select_from(Notification)
    .where(
        Notification.user_id == bindparam("user_id"),
        Notification.in_app.is_(True),
        Notification.read_at.is_(None),
    )
)


def unread_count(session: Session, user_id: int) -> int:
    return int(session.scalar(_UNREAD, {"user_id": user_id}) or 0)


def inbox(
    session: Session,
    user_id: int,
    *,
    limit: int = 20,
    before: int | None = None,
    unread_only: bool = False,
) -> list[Notification]:
    """The user's in-app notifications, newest first; `before` is the last id of the page
    before."""
    statement = inbox_statement(user_id, unread_only)
    if before is not None:
        statement = statement.where(Notification.id < before)
    return list(session.scalars(statement.order_by(Notification.id.desc()).limit(limit)))


def mark_read(session: Session, user_id: int, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications `ids` (all when None) read; returns how many changed.
    Ids of someone else's notifications change nothing."""
    statement = (
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if ids is not None:
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return 0
        statement = statement.where(Notification.id.in_(wanted))
    return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def own_notification(session: Session, user_id: int, notification_id: int) -> Notification:
    found = session.get(Notification, notification_id)
    if found is None or found.user_id != user_id:
        raise NotFound(_t("No notification {id}."), params={"id": notification_id})
    return found


# --- preferences --------------------------------------------------------------------------


@dataclass(frozen=True)
class Preference:
    event: str
    event_label: str
    channel: str
    channel_label: str
    enabled: bool


def preferences(session: Session, kernel: Kernel, user_id: int, locale: str) -> list[Preference]:
    """Every declared event on every usable channel, as the user has it now."""
    registry = registry_of(kernel)
    stored = {
        (row.event, row.channel): row.enabled
        for row in session.scalars(
            select(NotificationPreference).where(NotificationPreference.user_id == user_id)
        )
    }
    usable = registry.usable_channels(kernel)
    return [
        Preference(
            spec.name,
            spec.label(locale),
            channel.name,
            channel.label(locale),
            stored.get((spec.name, channel.name), channel.name in spec.channels),
        )
        for spec in sorted(registry.events.values(), key=lambda s: s.name)
        for channel in usable
    ]


def set_preference(
    session: Session, kernel: Kernel, actor: Actor, event: str, channel: str, enabled: bool
) -> None:
    """The actor's own choice for one event on one channel."""
    if actor.user_id is None:
        raise BadUserInput(_t("Only people have notification preferences."), field="user")
    registry = registry_of(kernel)
    registry.event(event)
    registry.channel(channel)
    row = session.scalar(
        select(NotificationPreference).where(
            NotificationPreference.user_id == actor.user_id,
            NotificationPreference.event == event,
            NotificationPreference.channel == channel,
        )
    )
    if row is None:
        session.add(
            NotificationPreference(
                user_id=actor.user_id, event=event, channel=channel, enabled=enabled
            )
        )
    else:
        row.enabled = enabled
    session.flush()


def quiet_hours(session: Session, user_id: int) -> tuple[str, str] | None:
    row = session.scalar(select(QuietHours).where(QuietHours.user_id == user_id))
    return (clock(row.starts), clock(row.ends)) if row is not None else None


def set_quiet_hours(
    session: Session, actor: Actor, starts: str | None, ends: str | None
) -> tuple[str, str] | None:
    """The actor's quiet hours ('22:00', '08:00'); both empty turns them off."""
    if actor.user_id is None:
        raise BadUserInput(_t("Only people have notification preferences."), field="user")
    row = session.scalar(select(QuietHours).where(QuietHours.user_id == actor.user_id))
    if not (starts or "").strip() and not (ends or "").strip():
        if row is not None:
            session.delete(row)
            session.flush()
        return None
    start_minute, end_minute = parse_clock(starts or ""), parse_clock(ends or "")
    if start_minute == end_minute:
        raise BadUserInput(
            _t("Quiet hours must end at another time than they start."), field="quietHours"
        )
    if row is None:
        session.add(QuietHours(user_id=actor.user_id, starts=start_minute, ends=end_minute))
    else:
        row.starts, row.ends = start_minute, end_minute
    session.flush()
    return clock(start_minute), clock(end_minute)
