"""Notifications in GraphQL: the viewer's own, their preferences, and for administrators the
deliveries that failed or wait."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from openitsm.kernel.errors import Unauthenticated
from openitsm.kernel.graphql.connection import Connection, SortKey
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import ModelNode, decode_id
from openitsm.kernel.notifications import digest, service
from openitsm.kernel.notifications.models import FAILED, PENDING, SENDING, Notification
from openitsm.kernel.notifications.render import absolute


def _person(info: Info[Context, Any]) -> int:
    actor = info.context.require_actor()
    if actor.user_id is None:
        raise Unauthenticated()
    return actor.user_id


@strawberry.type(name="Notification", description="Something the viewer was told about.")
class NotificationType(ModelNode):
    __model__ = Notification

    event: str
    subject: str
    body_text: str = strawberry.field(description="The message as plain text.")
    created_at: dt.datetime
    read_at: dt.datetime | None
    record_kind: str | None
    record_id: int | None

    @strawberry.field(description="The record's page, as a path on this site.")
    def url(self, root: strawberry.Parent[Any]) -> str | None:
        return root.url  # type: ignore[no-any-return]

    @strawberry.field(description="The record's page, as a full address.")
    def absolute_url(self, root: strawberry.Parent[Any], info: Info[Context, Any]) -> str | None:
        return absolute(info.context.kernel, root.url)

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        me = context.actor.user_id
        return [row if row is not None and row.user_id == me else None for row in rows]


@strawberry.type(description="One event on one channel, as the viewer wants it.")
class NotificationPreference:
    event: str
    event_label: str
    channel: str
    channel_label: str
    enabled: bool


@strawberry.type(description="When the viewer gets no mail, in their own time zone.")
class QuietHours:
    starts: str = strawberry.field(description="HH:MM")
    ends: str = strawberry.field(description="HH:MM; at or before `starts`: the next day.")


@strawberry.enum(description="How often a channel brings the viewer's notifications.")
class DigestFrequency(enum.Enum):
    IMMEDIATE = "immediate"
    HOURLY = "hourly"
    DAILY = "daily"


@strawberry.type(description="The viewer's digest of one channel (in-app is never a digest).")
class NotificationDigest:
    channel: str
    channel_label: str
    frequency: DigestFrequency
    at: str | None = strawberry.field(
        description="HH:MM in the viewer's time zone, for a daily digest."
    )


@strawberry.type
class NotificationSettings:
    preferences: list[NotificationPreference]
    quiet_hours: QuietHours | None
    digests: list[NotificationDigest] = strawberry.field(
        description="Per channel that offers one: each message at once, or gathered."
    )


@strawberry.type(description="A notification on its way through a channel other than in-app.")
class NotificationDelivery:
    id: int
    channel: str
    address: str | None
    state: str
    attempts: int
    next_attempt_at: dt.datetime
    held: bool = strawberry.field(description="Waiting for the recipient's quiet hours to end.")
    last_error: str | None
    created_at: dt.datetime
    recipient: str
    subject: str
    digest_at: dt.datetime | None = strawberry.field(
        description="State `held`: the digest it waits for."
    )


def _settings(info: Info[Context, Any], user_id: int) -> NotificationSettings:
    session, kernel = info.context.session, info.context.kernel
    found = service.quiet_hours(session, user_id)
    return NotificationSettings(
        preferences=[
            NotificationPreference(
                event=p.event,
                event_label=p.event_label,
                channel=p.channel,
                channel_label=p.channel_label,
                enabled=p.enabled,
            )
            for p in service.preferences(session, kernel, user_id, info.context.locale)
        ],
        quiet_hours=QuietHours(starts=found[0], ends=found[1]) if found else None,
        digests=[
            NotificationDigest(
                channel=d.channel,
                channel_label=d.channel_label,
                frequency=DigestFrequency(d.frequency),
                at=d.at,
            )
            for d in digest.digest_settings(session, kernel, user_id, info.context.locale)
        ],
    )


@strawberry.type
class NotificationQuery:
    @strawberry.field(description="The viewer's notifications, newest first.")
    def notifications(
        self,
        info: Info[Context, Any],
        first: int | None = None,
        after: str | None = None,
        unread_only: bool = False,
    ) -> Connection[NotificationType]:
        user_id = _person(info)
        return info.context.paginate(
            service.inbox_statement(user_id, unread_only),
            keys=[SortKey(Notification.id, descending=True)],
            tiebreak=Notification.id,
            first=first,
            after=after,
        )

    @strawberry.field(description="How many of the viewer's notifications are unread.")
    def unread_notification_count(self, info: Info[Context, Any]) -> int:
        return service.unread_count(info.context.session, _person(info))

    @strawberry.field(description="What the viewer is told about, on which channel, and when not.")
    def notification_settings(self, info: Info[Context, Any]) -> NotificationSettings:
        return _settings(info, _person(info))

    @strawberry.field(
        description="Deliveries that failed or are waiting, newest first (notification.manage)."
    )
    def notification_deliveries(
        self, info: Info[Context, Any], states: list[str] | None = None, limit: int = 50
    ) -> list[NotificationDelivery]:
        found = service.deliveries(
            info.context.session,
            info.context.require_actor(),
            states or (FAILED, PENDING, SENDING),
            limit=max(1, min(limit, 200)),
        )
        return [
            NotificationDelivery(
                id=d.id,
                channel=d.channel,
                address=d.address,
                state=d.state,
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at,
                held=d.held,
                last_error=d.last_error,
                created_at=d.created_at,
                recipient=name,
                subject=n.subject,
                digest_at=d.digest_at,
            )
            for d, n, name in found
        ]


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(
        description="Mark the viewer's notifications read: those named, or all when none are."
    )
    def mark_notifications_read(
        self, info: Info[Context, Any], ids: list[relay.GlobalID] | None = None
    ) -> int:
        user_id = _person(info)
        keys = [decode_id(i, NotificationType, "ids") for i in ids] if ids else None
        return service.mark_read(info.context.session, user_id, keys)

    @strawberry.mutation(description="Turn one event on one channel on or off for the viewer.")
    def set_notification_preference(
        self, info: Info[Context, Any], event: str, channel: str, enabled: bool
    ) -> NotificationSettings:
        user_id = _person(info)
        service.set_preference(
            info.context.session, info.context.kernel, info.context.actor, event, channel, enabled
        )
        return _settings(info, user_id)

    @strawberry.mutation(description="Set the viewer's quiet hours (HH:MM); both null: none.")
    def set_quiet_hours(
        self, info: Info[Context, Any], starts: str | None = None, ends: str | None = None
    ) -> NotificationSettings:
        user_id = _person(info)
        service.set_quiet_hours(info.context.session, info.context.actor, starts, ends)
        return _settings(info, user_id)

    @strawberry.mutation(
        description="Have one channel bring the viewer's notifications at once, or gathered "
        "into one message every hour or every day at `at` (HH:MM, their time zone)."
    )
    def set_notification_digest(
        self,
        info: Info[Context, Any],
        channel: str,
        frequency: DigestFrequency,
        at: str | None = None,
    ) -> NotificationSettings:
        user_id = _person(info)
        digest.set_digest(
            info.context.session,
            info.context.kernel,
            info.context.actor,
            channel,
            frequency.value,
            at,
        )
        return _settings(info, user_id)

    @strawberry.mutation(description="Send a failed or waiting delivery again now.")
    def retry_notification_delivery(self, info: Info[Context, Any], id: int) -> str:
        delivery = service.retry_delivery(info.context.session, info.context.require_actor(), id)
        return delivery.state
